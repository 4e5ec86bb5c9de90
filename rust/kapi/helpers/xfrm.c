// SPDX-License-Identifier: GPL-2.0
/*
 * Field accessors for struct sock and struct xfrm_policy, and whether XFRM
 * holds a state (kame_helpers.h).
 */
#include <net/sock.h>
#include <net/xfrm.h>

#include "kame_helpers.h"

KAME_INLINE
unsigned short kame_sk_family(const struct sock *sk)
{
	return sk->sk_family;
}

void kame_xfrm_policy_set_socket(struct xfrm_policy *xp, unsigned short family,
				 u8 action)
{
	xp->action = action;
	xp->family = family;
	xp->xfrm_nr = 0;
	xp->lft.soft_byte_limit = XFRM_INF;
	xp->lft.hard_byte_limit = XFRM_INF;
	xp->lft.soft_packet_limit = XFRM_INF;
	xp->lft.hard_packet_limit = XFRM_INF;
}

/*
 * Whether XFRM has a state for (daddr, spi, proto) in the namespace of the
 * received packet `skb`, looked up as xfrm_input() does: by the packet's
 * mark (a vti device's key replaces it there, after this chain's first
 * handler; not here). `daddr` is 4 or 16 bytes, `spi` in host order. Any
 * context; the lookup takes the RCU read lock itself.
 */
bool kame_xfrm_has_state(const struct sk_buff *skb, bool v6, const void *daddr,
			 u32 spi, u8 proto)
{
	xfrm_address_t a = {};
	struct xfrm_state *x;

	memcpy(&a, daddr, v6 ? sizeof(a.a6) : sizeof(a.a4));
	x = xfrm_state_lookup(dev_net(skb->dev), skb->mark, &a, htonl(spi),
			      proto, v6 ? AF_INET6 : AF_INET);
	if (!x)
		return false;
	xfrm_state_put(x);
	return true;
}
