// SPDX-License-Identifier: GPL-2.0
/* Wrappers for static inline network-namespace accessors (kame_helpers.h). */
#include <net/net_namespace.h>
#include <net/netns/generic.h>

#include "kame_helpers.h"

KAME_INLINE
void *kame_net_generic(const struct net *net, unsigned int id)
{
	return net_generic(net, id);
}

KAME_INLINE
struct user_namespace *kame_net_user_ns(const struct net *net)
{
	return net->user_ns;
}
