// SPDX-License-Identifier: GPL-2.0
/*
 * Wrappers for static inline sk_buff helpers of linux/skbuff.h, and the two
 * ways of cutting a packet: GSO segmentation, IPv6 fragmentation
 * (kame_helpers.h).
 */
#include <linux/skbuff.h>
#include <linux/netdevice.h>
#include <net/gso.h>

#include <net/ip6_route.h>
#include <net/ipv6.h>

#include "kame_helpers.h"

struct sk_buff *kame_alloc_skb(unsigned int size, gfp_t gfp)
{
	return alloc_skb(size, gfp);
}

void kame_skb_put_data(struct sk_buff *skb, const void *data, unsigned int len)
{
	skb_put_data(skb, data, len);
}

void kame_kfree_skb(struct sk_buff *skb)
{
	kfree_skb(skb);
}

int kame_skb_copy_datagram_msg(const struct sk_buff *from, int offset,
			       struct msghdr *msg, int size)
{
	return skb_copy_datagram_msg(from, offset, msg, size);
}

int kame_memcpy_from_msg(void *data, struct msghdr *msg, int len)
{
	return memcpy_from_msg(data, msg, len);
}

/* The packet path: header offsets, room, ownership of a packet. */
int kame_skb_network_offset(const struct sk_buff *skb)
{
	return skb_network_offset(skb);
}

void kame_skb_set_network_offset(struct sk_buff *skb, int offset)
{
	skb_set_network_header(skb, offset);
}

int kame_skb_linearize_cow(struct sk_buff *skb)
{
	return skb_linearize_cow(skb);
}

int kame_skb_cow(struct sk_buff *skb, unsigned int headroom)
{
	return skb_cow(skb, headroom);
}

unsigned int kame_skb_tailroom(const struct sk_buff *skb)
{
	return skb_tailroom(skb);
}

int kame_pskb_trim(struct sk_buff *skb, unsigned int len)
{
	return pskb_trim(skb, len);
}

bool kame_skb_is_gso(const struct sk_buff *skb)
{
	return skb_is_gso(skb);
}

int kame_skb_resolve_checksum(struct sk_buff *skb)
{
	return skb->ip_summed == CHECKSUM_PARTIAL ? skb_checksum_help(skb) : 0;
}

/* Segments a GSO packet; on success the original is freed. */
struct sk_buff *kame_skb_segment(struct sk_buff *skb)
{
	struct sk_buff *segs = skb_gso_segment(skb, 0);

	if (IS_ERR_OR_NULL(segs))
		return segs ? segs : ERR_PTR(-EINVAL);
	consume_skb(skb);
	return segs;
}

/* Where kame_frag_collect() puts the fragments of the current call. */
static DEFINE_PER_CPU(struct sk_buff_head *, kame_frags);

static int kame_frag_collect(struct net *net, struct sock *sk,
			     struct sk_buff *skb)
{
	__skb_queue_tail(this_cpu_read(kame_frags), skb);
	return 0;
}

/*
 * Cuts a local IPv6 packet into fragments of at most `mtu` bytes, as the
 * stack would after POST_ROUTING (ip6_fragment(), which needs the packet's
 * route and may send the socket a "packet too big"), and returns them as a
 * list.  The packet is consumed either way.  ip6_fragment() hands each
 * fragment to a callback without context: the list is found through a
 * per-CPU pointer, set with bottom halves off so nothing else on this CPU
 * runs in between.
 */
struct sk_buff *kame_ip6_fragment(struct sk_buff *skb, unsigned int mtu)
{
	struct sk_buff_head frags;
	struct sk_buff *head = NULL, **tail = &head, *f;
	int err;

	__skb_queue_head_init(&frags);
	/* Fragments no bigger than `mtu`, whatever the route's MTU. */
	IP6CB(skb)->frag_max_size = mtu;
	local_bh_disable();
	this_cpu_write(kame_frags, &frags);
	err = ip6_fragment(dev_net(skb_dst(skb)->dev), skb->sk, skb,
			   kame_frag_collect);
	this_cpu_write(kame_frags, NULL);
	local_bh_enable();
	if (err) {
		__skb_queue_purge(&frags);
		return ERR_PTR(err);
	}
	while ((f = __skb_dequeue(&frags))) {
		*tail = f;
		tail = &f->next;
	}
	*tail = NULL;
	return head ? head : ERR_PTR(-EINVAL);
}

/* Takes the first packet off a list of segments. */
struct sk_buff *kame_skb_list_pop(struct sk_buff **list)
{
	struct sk_buff *skb = *list;

	if (skb) {
		*list = skb->next;
		skb_mark_not_on_list(skb);
	}
	return skb;
}
