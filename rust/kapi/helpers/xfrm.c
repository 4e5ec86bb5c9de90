// SPDX-License-Identifier: GPL-2.0
/* Field accessors for struct sock and struct xfrm_policy (kame_helpers.h). */
#include <net/sock.h>
#include <net/xfrm.h>

#include "kame_helpers.h"

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
