// SPDX-License-Identifier: GPL-2.0
/* Wrappers for static inline sk_buff helpers of linux/skbuff.h (kame_helpers.h). */
#include <linux/skbuff.h>

#include "kame_helpers.h"

struct sk_buff *kame_alloc_skb(unsigned int size, gfp_t gfp)
{
	return alloc_skb(size, gfp);
}

void kame_skb_put_data(struct sk_buff *skb, const void *data, unsigned int len)
{
	skb_put_data(skb, data, len);
}

int kame_skb_tailroom(const struct sk_buff *skb)
{
	return skb_tailroom(skb);
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
