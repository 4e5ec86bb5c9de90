// SPDX-License-Identifier: GPL-2.0
/* Wrappers for static inline socket helpers of net/sock.h (kame_helpers.h). */
#include <linux/workqueue.h>
#include <net/sock.h>

#include "kame_helpers.h"

KAME_INLINE
struct net *kame_sock_net(const struct sock *sk)
{
	return sock_net(sk);
}

KAME_INLINE
int kame_sk_rcvbuf(const struct sock *sk)
{
	return READ_ONCE(sk->sk_rcvbuf);
}

KAME_INLINE
int kame_sk_sndbuf(const struct sock *sk)
{
	return READ_ONCE(sk->sk_sndbuf);
}

KAME_INLINE
int kame_sk_rmem_alloc(const struct sock *sk)
{
	return atomic_read(&sk->sk_rmem_alloc);
}

KAME_INLINE
void kame_sk_data_ready(struct sock *sk)
{
	sk->sk_data_ready(sk);
}

KAME_INLINE
void kame_sock_orphan(struct sock *sk)
{
	sock_orphan(sk);
}

KAME_INLINE
void kame_sock_put(struct sock *sk)
{
	sock_put(sk);
}

KAME_INLINE
void kame_sock_hold(struct sock *sk)
{
	sock_hold(sk);
}

KAME_INLINE
void kame_sock_recv_cmsgs(struct msghdr *msg, struct sock *sk,
			  struct sk_buff *skb)
{
	sock_recv_cmsgs(msg, sk, skb);
}

KAME_INLINE
void kame_skb_set_owner_r(struct sk_buff *skb, struct sock *sk)
{
	skb_set_owner_r(skb, sk);
}

KAME_INLINE
void kame_sk_queue_purge(struct sock *sk)
{
	skb_queue_purge(&sk->sk_receive_queue);
	skb_queue_purge(&sk->sk_write_queue);
}

KAME_INLINE
void kame_sk_queue_rcv_tail(struct sock *sk, struct sk_buff *skb)
{
	skb_queue_tail(&sk->sk_receive_queue, skb);
}

KAME_INLINE
void kame_sk_set_destruct(struct sock *sk, void (*destruct)(struct sock *sk))
{
	sk->sk_destruct = destruct;
}

/*
 * The next message of sk's receive queue, without waiting (NULL if none):
 * a buffer holds one message, or a dump's batch of them. `step` says, under
 * the queue's lock, where the head's next message lies and whether more
 * follow it, and moves past it if `advance`. The buffer returned holds a
 * reference of the caller's; it leaves the queue with its last message, so
 * a batch is neither unlinked nor requeued for each message read.
 */
KAME_INLINE
struct sk_buff *kame_sk_next_msg(struct sock *sk, bool peek,
				 bool (*step)(struct sk_buff *skb, bool advance,
					      int *at, int *len),
				 int *at, int *len)
{
	struct sk_buff_head *q = &sk->sk_receive_queue;
	struct sk_buff *skb;

	/*
	 * Messages are queued in process context or softirq (an ACQUIRE),
	 * never from a hard interrupt, and the family's queues have a lock
	 * class of their own (sk_init_common()).
	 */
	spin_lock_bh(&q->lock);
	skb = skb_peek(q);
	if (skb) {
		if (step(skb, !peek, at, len) || peek)
			skb_get(skb);
		else
			__skb_unlink(skb, q);
	}
	spin_unlock_bh(&q->lock);
	return skb;
}

/*
 * A socket's deferred work runs on the unbound queue, so it may run on
 * another CPU while the socket's reader goes on. Each queueing holds a
 * reference on the socket, dropped by the run it causes (or by the cancel
 * that removes it): the work never outlives its socket.
 */
KAME_INLINE
void kame_sock_work_init(struct work_struct *work, work_func_t fn)
{
	INIT_WORK(work, fn);
}

bool kame_sock_work_queue(struct sock *sk, struct work_struct *work)
{
	/* Asked for at each read while a dump is behind: mostly pending. */
	if (work_pending(work))
		return false;
	sock_hold(sk);
	if (queue_work(system_dfl_wq, work))
		return true;
	/* Already pending: that run will do. */
	sock_put(sk);
	return false;
}

KAME_INLINE
void kame_sock_work_cancel(struct sock *sk, struct work_struct *work)
{
	if (cancel_work_sync(work))
		sock_put(sk);
}
