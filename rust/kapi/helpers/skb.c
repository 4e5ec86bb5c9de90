// SPDX-License-Identifier: GPL-2.0
/* Wrappers for static inline sk_buff helpers of linux/skbuff.h (kame_helpers.h). */
#include <linux/skbuff.h>
#include <linux/netdevice.h>
#include <net/gso.h>

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
