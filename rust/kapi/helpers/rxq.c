// SPDX-License-Identifier: GPL-2.0
/*
 * Inbound decryption handed to another CPU (rust/kapi/rx_queue.rs says when
 * and why): one FIFO of AEAD requests per CPU, drained by a work item bound
 * to that CPU, which decrypts each request and completes it as an
 * asynchronous driver would. These are the steps under the queue's lock and
 * the worker's loop; which CPU a packet goes to is decided in Rust.
 *
 * A queued request is linked through its own base.list, which the crypto
 * API only uses once the request is submitted to it (cryptd's queue): here
 * it is not yet.
 */
#include <crypto/aead.h>
#include <crypto/algapi.h>
#include <linux/bottom_half.h>
#include <linux/cpumask.h>
#include <linux/list.h>
#include <linux/percpu.h>
#include <linux/sched.h>
#include <linux/skbuff.h>
#include <linux/smp.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <net/dst.h>
#include <net/hotdata.h>

#include "kame_helpers.h"

/* Requests the worker decrypts with bottom halves off before it lets the
 * softirqs they raised (GRO, TCP) run: NAPI's default weight. */
#define KAME_RXQ_BATCH 64
/* Batches per run of the worker before it yields its CPU to others. */
#define KAME_RXQ_RUN 16

struct kame_rxq {
	spinlock_t lock;
	struct list_head reqs;
	unsigned int len;
	/* Requests ever queued: a packet's place in the queue is the `tail`
	 * its enqueue returned. */
	unsigned int tail;
	unsigned int cpu;
	struct work_struct work;
	/* Requests ever done: decrypted and their packets through the
	 * softirqs that followed (GRO, delivery), or handed to an
	 * asynchronous driver. A packet is done once `head` passed its place
	 * (the test RFS makes of the backlog's input_queue_head). Written by
	 * the worker once a batch, read by every enqueue: a line of its own. */
	unsigned int head ____cacheline_aligned_in_smp;
};

static struct kame_rxq __percpu *kame_rxqs;
static struct workqueue_struct *kame_rxq_wq;

static void kame_rxq_run(struct work_struct *work)
{
	struct kame_rxq *q = container_of(work, struct kame_rxq, work);
	unsigned int batches;

	for (batches = 0; batches < KAME_RXQ_RUN; batches++) {
		struct aead_request *req, *next;
		unsigned int n = 0;
		LIST_HEAD(batch);

		spin_lock_bh(&q->lock);
		while (n < KAME_RXQ_BATCH && !list_empty(&q->reqs)) {
			list_move_tail(q->reqs.next, &batch);
			n++;
		}
		q->len -= n;
		spin_unlock_bh(&q->lock);
		if (!n)
			return;

		/* As in the receive softirq the packets were taken in: the
		 * completions deliver them to GRO cells of this CPU, which
		 * run when bottom halves come back on. */
		local_bh_disable();
		list_for_each_entry_safe(req, next, &batch, base.list) {
			int rc;

			list_del(&req->base.list);
			rc = crypto_aead_decrypt(req);
			/* A later completion calls back by itself. */
			if (rc != -EINPROGRESS)
				crypto_request_complete(&req->base, rc);
		}
		local_bh_enable();
		/* After the softirqs local_bh_enable() ran: the packets are
		 * delivered (unless ksoftirqd took the rest over). */
		WRITE_ONCE(q->head, q->head + n);
		cond_resched();
	}
	/* More than a run's worth: go again after others had the CPU. */
	queue_work_on(q->cpu, kame_rxq_wq, &q->work);
}

int kame_rxq_create(void)
{
	unsigned int cpu;

	kame_rxqs = alloc_percpu(struct kame_rxq);
	if (!kame_rxqs)
		return -ENOMEM;
	for_each_possible_cpu(cpu) {
		struct kame_rxq *q = per_cpu_ptr(kame_rxqs, cpu);

		spin_lock_init(&q->lock);
		q->cpu = cpu;
		INIT_LIST_HEAD(&q->reqs);
		INIT_WORK(&q->work, kame_rxq_run);
	}
	/* Bound to CPUs, as the point is to choose one; CPU-intensive, so a
	 * long drain does not hold back other work items of that CPU;
	 * with a rescuer, as packets may be what frees memory (WireGuard's
	 * crypt queue is made so). */
	kame_rxq_wq = alloc_workqueue("kame_rxq", WQ_PERCPU | WQ_CPU_INTENSIVE | WQ_MEM_RECLAIM, 0);
	if (!kame_rxq_wq) {
		free_percpu(kame_rxqs);
		kame_rxqs = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* After the last enqueue: the queued requests run to their completions
 * (each holds its namespace's teardown back, so the namespaces' exits have
 * waited for them already), then the queues go. */
void kame_rxq_destroy(void)
{
	destroy_workqueue(kame_rxq_wq);
	kame_rxq_wq = NULL;
	free_percpu(kame_rxqs);
	kame_rxqs = NULL;
}

KAME_INLINE
unsigned int kame_rxq_this_cpu(void)
{
	/* Packets are taken in with bottom halves off: no migration. */
	return smp_processor_id();
}

KAME_INLINE
bool kame_rxq_cpu_online(unsigned int cpu)
{
	return cpu < nr_cpu_ids && cpu_online(cpu);
}

/* The `salt`-th online CPU (modulo) other than `here`, which is online;
 * nr_cpu_ids if there is none. */
KAME_INLINE
unsigned int kame_rxq_other_cpu(unsigned int here, unsigned int salt)
{
	unsigned int n = num_online_cpus();
	unsigned int k, cpu;

	if (n < 2)
		return nr_cpu_ids;
	k = salt % (n - 1);
	cpu = cpumask_nth(k, cpu_online_mask);
	/* Past `here`, the k-th other CPU is the next online one. */
	if (cpu >= here)
		cpu = cpumask_nth(k + 1, cpu_online_mask);
	return cpu;
}

/* How many requests CPU `cpu`'s queue has completed, ever (wrapping). */
KAME_INLINE
unsigned int kame_rxq_done(unsigned int cpu)
{
	return READ_ONCE(per_cpu_ptr(kame_rxqs, cpu)->head);
}

/*
 * Queues `req`, for the packet `skb`, to be decrypted on `cpu` (online);
 * its place in the queue is written to `*tail`. -ENOBUFS if the queue is
 * full: the caller completes the request itself.
 *
 * The packet leaves its receive context: its route, which may be a
 * reference valid only there, goes (the inner packet is routed anew), and
 * it is put on `dev`, our device that the request's job holds, rather
 * than on a device that may go before the request is done (XFRM holds a
 * reference on the receiving device over asynchronous crypto instead).
 */
int kame_rxq_enqueue(unsigned int cpu, struct aead_request *req,
		     struct sk_buff *skb, struct net_device *dev,
		     unsigned int *tail)
{
	struct kame_rxq *q = per_cpu_ptr(kame_rxqs, cpu);
	/* The bound of the kernel's own per-CPU backlog (gro_cells' too). */
	int limit = READ_ONCE(net_hotdata.max_backlog);

	skb_dst_drop(skb);
	/* A socket tc's BPF assigned would outlive its grace period here. */
	skb_orphan(skb);
	skb->dev = dev;
	spin_lock_bh(&q->lock);
	if ((int)q->len >= limit) {
		spin_unlock_bh(&q->lock);
		return -ENOBUFS;
	}
	list_add_tail(&req->base.list, &q->reqs);
	q->len++;
	*tail = ++q->tail;
	spin_unlock_bh(&q->lock);
	queue_work_on(cpu, kame_rxq_wq, &q->work);
	return 0;
}
