// SPDX-License-Identifier: GPL-2.0
/*
 * Per-socket policies (kame_helpers.h): the tag kame_ipsec writes into the
 * xfrm_policy it compiles for a socket, read back from a packet's socket or
 * from the socket a received packet is for.
 *
 * The tag lives in the policy's selector, which the kernel copies when a
 * listening socket's policy is cloned onto an accepted one: a magic in
 * selector.user (no match reads it) and, in selector.saddr (ignored with
 * prefix length 0), the module load's cookie and the policy's number.
 */
#include <net/inet6_hashtables.h>
#include <net/inet_hashtables.h>
#include <net/ipv6.h>
#include <net/sock.h>
#include <net/udp.h>
#include <net/xfrm.h>

#include "kame_helpers.h"

#define KAME_SK_POLICY_MAGIC 0x454d414bu /* "KAME" in memory order */

KAME_INLINE
void kame_xfrm_policy_set_tag(struct xfrm_policy *xp, u32 cookie, u32 id)
{
	xp->selector.user = KAME_SK_POLICY_MAGIC;
	xp->selector.saddr.a6[0] = (__force __be32)cookie;
	xp->selector.saddr.a6[1] = (__force __be32)id;
}

static int kame_tag_of(const struct xfrm_policy *xp, u32 cookie, u32 *id,
		       u32 *index)
{
	if (!xp || xp->selector.user != KAME_SK_POLICY_MAGIC)
		return KAME_SKPOL_NONE;
	*index = xp->index;
	if ((__force u32)xp->selector.saddr.a6[0] != cookie)
		return KAME_SKPOL_STALE;
	*id = (__force u32)xp->selector.saddr.a6[1];
	return KAME_SKPOL_OURS;
}

/* Caller holds the RCU read lock; sk is a full socket. */
static int kame_sk_tag(const struct sock *sk, int dir, u32 cookie, u32 *id,
		       u32 *index)
{
	return kame_tag_of(rcu_dereference(sk->sk_policy[dir]), cookie, id,
			   index);
}

KAME_INLINE
int kame_sk_policy_tag(const struct sock *sk, int dir, u32 cookie, u32 *id,
		       u32 *index)
{
	int ret;

	rcu_read_lock();
	ret = kame_sk_tag(sk, dir, cookie, id, index);
	rcu_read_unlock();
	return ret;
}

KAME_INLINE
int kame_skb_sk_policy_tag(struct sk_buff *skb, int dir, u32 cookie, u32 *id,
			   u32 *index)
{
	/* A SYN-ACK's request socket stands for its listener. */
	struct sock *sk = skb_to_full_sk(skb);

	if (!sk || !sk_fullsock(sk))
		return KAME_SKPOL_NONE;
	return kame_sk_policy_tag(sk, dir, cookie, id, index);
}

int kame_sk_lookup_policy_tag(const struct net_device *dev, bool v6, u8 proto,
			      const u8 *saddr, __be16 sport, const u8 *daddr,
			      __be16 dport, int dir, u32 cookie, u32 *id,
			      u32 *index)
{
	struct net *net = dev_net(dev);
	int dif = dev->ifindex;
	const struct in6_addr *s6 = (const struct in6_addr *)saddr;
	const struct in6_addr *d6 = (const struct in6_addr *)daddr;
	__be32 s4, d4;
	struct sock *sk = NULL;
	int ret = KAME_SKPOL_NONE;

	memcpy(&s4, saddr, 4);
	memcpy(&d4, daddr, 4);
	rcu_read_lock();
	switch (proto) {
	case IPPROTO_TCP:
		/* No skb: reuseport picks by hash, no BPF program runs. */
		if (v6)
			sk = inet6_lookup(net, NULL, 0, s6, sport, d6, dport,
					  dif);
		else
			sk = inet_lookup(net, NULL, 0, s4, sport, d4, dport,
					 dif);
		if (sk) {
			if (sk_fullsock(sk))
				ret = kame_sk_tag(sk, dir, cookie, id, index);
			sock_gen_put(sk);
		}
		break;
	case IPPROTO_UDP:
		/* UDP sockets are freed after a grace period: no reference. */
		if (v6)
			sk = __udp6_lib_lookup(net, s6, sport, d6, dport, dif,
					       0, NULL);
		else
			sk = __udp4_lib_lookup(net, s4, sport, d4, dport, dif,
					       0, NULL);
		if (sk)
			ret = kame_sk_tag(sk, dir, cookie, id, index);
		break;
	}
	rcu_read_unlock();
	return ret;
}
