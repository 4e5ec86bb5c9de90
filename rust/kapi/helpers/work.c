// SPDX-License-Identifier: GPL-2.0
/*
 * Wrappers for the delayed-work macros of linux/workqueue.h (kame_helpers.h).
 * Delayed work runs on system_dfl_wq, the unbound queue (system_unbound_wq is
 * its deprecated name in this kernel and warns); RCU work on the module's
 * own reclaim queue, which its teardown can drain.
 */
#include <linux/cpumask.h>
#include <linux/jiffies.h>
#include <linux/rcupdate.h>
#include <linux/workqueue.h>

#include "kame_helpers.h"

KAME_INLINE
void kame_init_delayed_work(struct delayed_work *dw, work_func_t fn)
{
	INIT_DELAYED_WORK(dw, fn);
}

KAME_INLINE
void kame_mod_delayed_work_ms(struct delayed_work *dw, unsigned int ms)
{
	mod_delayed_work(system_dfl_wq, dw, msecs_to_jiffies(ms));
}

/*
 * What the control plane unlinks from the RCU tables is freed after a grace
 * period by this queue, so the writer does not wait for one (a PF_KEY
 * sender once slept in synchronize_rcu() after each DELETE and each table
 * growth). The module's teardown waits for the callbacks (rcu_barrier())
 * and then drains the queue.
 */
static struct workqueue_struct *kame_reclaim_wq;

KAME_INLINE
int kame_reclaim_wq_create(void)
{
	kame_reclaim_wq = alloc_workqueue("kame_reclaim", WQ_UNBOUND, 0);
	return kame_reclaim_wq ? 0 : -ENOMEM;
}

KAME_INLINE
void kame_reclaim_wq_destroy(void)
{
	struct workqueue_struct *wq = kame_reclaim_wq;

	kame_reclaim_wq = NULL;
	/* The grace periods pending queue their work first. */
	rcu_barrier();
	destroy_workqueue(wq);
}

KAME_INLINE
bool kame_queue_rcu_work(struct rcu_work *rw, work_func_t fn)
{
	if (!kame_reclaim_wq)
		return false;
	INIT_RCU_WORK(rw, fn);
	return queue_rcu_work(kame_reclaim_wq, rw);
}

/*
 * Work handed to the unbound queue to run beside its asker (a dump's next
 * messages) pays off only with another CPU to run on; on one it adds a
 * context switch to the same work.
 */
KAME_INLINE
bool kame_other_cpu_online(void)
{
	return num_online_cpus() > 1;
}
