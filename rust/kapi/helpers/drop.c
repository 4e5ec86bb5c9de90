// SPDX-License-Identifier: GPL-2.0
/*
 * One function per reason kame_ipsec drops a packet (kame_helpers.h,
 * KAME_DROP_CLASSES): each frees the skb with the closest core drop reason,
 * and, being the caller of kfree_skb_reason(), is the location the
 * skb:kfree_skb tracepoint records, so perf and dropwatch name the exact
 * reason even where the core has none (a module cannot add a drop reason
 * subsystem: enum skb_drop_reason_subsys is fixed in include/net/dropreason.h).
 */
#include <linux/compiler.h>
#include <linux/skbuff.h>

#include "kame_helpers.h"

/* The barrier keeps the call from becoming a tail call, which would leave
 * our caller's address (Rust's, the same for every reason) as the location. */
#define KAME_DROP_DEFINE(name, core)					\
	void kame_drop_##name(struct sk_buff *skb)			\
	{								\
		kfree_skb_reason(skb, SKB_DROP_REASON_##core);		\
		barrier();						\
	}

KAME_DROP_CLASSES(KAME_DROP_DEFINE)
