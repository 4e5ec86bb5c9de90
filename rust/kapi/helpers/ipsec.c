// SPDX-License-Identifier: GPL-2.0
/*
 * The packet path's view of an skb's IP control block, its route and its
 * conntrack entry (kame_helpers.h): inline accessors only.
 */
#include <linux/netdevice.h>
#include <linux/slab.h>
#include <net/dst.h>
#include <net/dst_cache.h>
#include <net/ip.h>
#include <net/addrconf.h>
#include <net/ip6_route.h>
#include <net/ipv6.h>
#include <net/icmp.h>
#include <linux/icmpv6.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/route.h>
#include <net/xfrm.h>

#include "kame_helpers.h"

bool kame_skb_transformed(const struct sk_buff *skb, bool v6)
{
	const struct dst_entry *dst = skb_dst(skb);

	if (dst && dst->xfrm)
		return true;
	if (v6)
		return IP6CB(skb)->flags & IP6SKB_XFRM_TRANSFORMED;
	return IPCB(skb)->flags & IPSKB_XFRM_TRANSFORMED;
}

void kame_skb_prepare_out(struct sk_buff *skb, bool v6)
{
	nf_reset_ct(skb);
	/* TODO[B]: PMTU; until then what ESP makes too big is fragmented. */
	skb->ignore_df = 1;
	if (v6) {
		memset(IP6CB(skb), 0, sizeof(*IP6CB(skb)));
		IP6CB(skb)->flags |= IP6SKB_XFRM_TRANSFORMED;
	} else {
		memset(IPCB(skb), 0, sizeof(*IPCB(skb)));
		IPCB(skb)->flags |= IPSKB_XFRM_TRANSFORMED;
	}
}

/*
 * The packet keeps its route across asynchronous crypto: a route held
 * without a reference (only valid in the RCU section it was set in)
 * gets one, or is dropped if it is going.  Whether a route is left.
 */
KAME_INLINE
bool kame_skb_dst_force(struct sk_buff *skb)
{
	skb_dst_force(skb);
	return skb_dst(skb) != NULL;
}

KAME_INLINE
unsigned int kame_skb_dst_mtu(const struct sk_buff *skb)
{
	const struct dst_entry *dst = skb_dst(skb);

	return dst ? dst_mtu(dst) : 0;
}

/*
 * A route cache of one SA's: the kernel's per-CPU dst_cache, which drops
 * a route the FIB has since changed (dst->obsolete and its check) and
 * holds no device (routes being torn down move to the blackhole device).
 */
struct dst_cache *kame_dst_cache_new(void)
{
	struct dst_cache *c = kzalloc(sizeof(*c), GFP_KERNEL);

	if (c && dst_cache_init(c, GFP_KERNEL)) {
		kfree(c);
		return NULL;
	}
	return c;
}

KAME_INLINE
void kame_dst_cache_free(struct dst_cache *c)
{
	dst_cache_destroy(c);
	kfree(c);
}

/* The cache needs bottom halves off; callers may have them on. */
static struct dst_entry *kame_dst_cache_get(struct dst_cache *c)
{
	struct dst_entry *dst;

	local_bh_disable();
	dst = dst_cache_get(c);
	local_bh_enable();
	return dst;
}

static void kame_dst_cache_set(struct dst_cache *c, struct dst_entry *dst,
			       bool v6, const void *saddr)
{
	local_bh_disable();
	if (v6)
		dst_cache_set_ip6(c, dst, saddr);
	else
		dst_cache_set_ip4(c, dst, *(const __be32 *)saddr);
	local_bh_enable();
}

/*
 * The route from `saddr` to `daddr` in `net` with `mark`, held, or an
 * ERR_PTR: through `cache` if given.  The cache keeps only routes looked
 * up with no mark: the key is the SA's addresses, which never change, and
 * the mark.
 */
static struct dst_entry *kame_route_lookup(struct net *net,
					   struct dst_cache *cache, bool v6,
					   const void *saddr, const void *daddr,
					   u32 mark)
{
	struct dst_entry *dst;

	if (mark)
		cache = NULL;
	if (cache) {
		dst = kame_dst_cache_get(cache);
		if (dst)
			return dst;
	}
	if (v6) {
		struct flowi6 fl6 = { .flowi6_mark = mark };

		memcpy(&fl6.saddr, saddr, 16);
		memcpy(&fl6.daddr, daddr, 16);
		dst = ip6_route_output(net, NULL, &fl6);
		if (dst->error) {
			int err = dst->error;

			dst_release(dst);
			return ERR_PTR(err);
		}
	} else {
		struct flowi4 fl4 = { .flowi4_mark = mark };
		struct rtable *rt;

		memcpy(&fl4.saddr, saddr, 4);
		memcpy(&fl4.daddr, daddr, 4);
		rt = ip_route_output_key(net, &fl4);
		if (IS_ERR(rt))
			return ERR_CAST(rt);
		dst = &rt->dst;
	}
	if (cache)
		kame_dst_cache_set(cache, dst, v6, saddr);
	return dst;
}

/*
 * Routes the packet from `saddr` to `daddr`, through `cache` if given; an
 * IPv4 packet gets an identification if `ident` (else the caller numbers
 * it, see kame_ip_ident_reserve()).
 */
int kame_skb_route(struct sk_buff *skb, struct net *net,
		   struct dst_cache *cache, bool v6, const void *saddr,
		   const void *daddr, bool ident)
{
	struct dst_entry *dst;

	dst = kame_route_lookup(net, cache, v6, saddr, daddr, skb->mark);
	if (IS_ERR(dst))
		return PTR_ERR(dst);
	skb_dst_drop(skb);
	skb_dst_set(skb, dst);
	if (!v6 && ident)
		ip_select_ident(net, skb, NULL);
	return 0;
}

/*
 * Gives the routed IPv4 packet at the network header the first of `segs`
 * identifications reserved at once, as the stack numbers a GSO packet's
 * segments (ip_select_ident_segs()), and stores it in `first`. Returns 1
 * when the packets after it are to count up from it, 0 when a DF packet's
 * identification is 0 and none is reserved, -EINVAL without a linear IPv4
 * header there.
 */
int kame_ip_ident_reserve(struct sk_buff *skb, u16 segs, u16 *first)
{
	const struct iphdr *iph = ip_hdr(skb);

	if (skb_network_offset(skb) < 0 ||
	    skb_headlen(skb) < skb_network_offset(skb) + sizeof(*iph) ||
	    iph->version != 4)
		return -EINVAL;
	ip_select_ident_segs(dev_net(skb_dst(skb)->dev), skb, NULL, segs);
	*first = ntohs(iph->id);
	return !(iph->frag_off & htons(IP_DF)) || skb->ignore_df;
}

/* The namespace is the route's: the packet may have waited for crypto. */
KAME_INLINE
int kame_skb_local_out(struct sk_buff *skb, bool v6)
{
	struct net *net = dev_net(skb_dst(skb)->dev);

	return v6 ? ip6_local_out(net, skb->sk, skb) :
		    ip_local_out(net, skb->sk, skb);
}

KAME_INLINE
struct net *kame_skb_dst_net(const struct sk_buff *skb)
{
	return dev_net(skb_dst(skb)->dev);
}

/*
 * `verified`: every byte was authenticated, so every checksum in the packet
 * is as its sender computed it, at every level of encapsulation.
 */
void kame_skb_reinject(struct sk_buff *skb, struct net_device *dev, bool v6,
		       bool verified)
{
	skb->dev = dev;
	skb->protocol = htons(v6 ? ETH_P_IPV6 : ETH_P_IP);
	skb->pkt_type = PACKET_HOST;
	if (verified) {
		skb->ip_summed = CHECKSUM_UNNECESSARY;
		skb->csum_level = SKB_MAX_CSUM_LEVEL;
	} else {
		skb->ip_summed = CHECKSUM_NONE;
	}
	skb_reset_network_header(skb);
	skb_reset_mac_header(skb);
	skb_reset_transport_header(skb);
	skb_dst_drop(skb);
	nf_reset_ct(skb);
	dev_sw_netstats_rx_add(dev, skb->len);
	kame_dev_receive(dev, skb);
}

KAME_INLINE
struct net *kame_skb_net(const struct sk_buff *skb)
{
	return dev_net(skb->dev);
}

/* Tells the source of `skb` the largest packet that fits: ICMP "fragmentation
 * needed" or ICMPv6 "packet too big". */
KAME_INLINE
void kame_icmp_toobig(struct sk_buff *skb, bool v6, unsigned int mtu)
{
	if (v6)
		icmpv6_send(skb, ICMPV6_PKT_TOOBIG, 0, mtu);
	else
		icmp_send(skb, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, htonl(mtu));
}

KAME_INLINE
void kame_skb_update_pmtu(struct sk_buff *skb, unsigned int mtu)
{
	skb_dst_update_pmtu_no_confirm(skb, mtu);
}

KAME_INLINE
unsigned int kame_skb_dev_mtu(const struct sk_buff *skb)
{
	return skb->dev ? READ_ONCE(skb->dev->mtu) : 0;
}

/* Whether a socket of this host sent `skb` (XFRM's test in
 * xfrm4_tunnel_check_size()). */
KAME_INLINE
bool kame_skb_local_sender(const struct sk_buff *skb)
{
	return skb_to_full_sk(skb);
}

KAME_INLINE
bool kame_skb_ignore_df(const struct sk_buff *skb)
{
	return skb->ignore_df;
}

/* Whether a packet for `addr`, in the namespace of `dev`, is delivered to this
 * host: one of its addresses, a broadcast or a multicast address. */
bool kame_dev_delivers_locally(const struct net_device *dev, bool v6,
			       const void *addr)
{
	struct net *net = dev_net(dev);

	if (v6)
		return ipv6_addr_is_multicast(addr) ||
		       ipv6_chk_addr(net, addr, NULL, 0);
	switch (inet_addr_type(net, *(const __be32 *)addr)) {
	case RTN_LOCAL:
	case RTN_BROADCAST:
	case RTN_MULTICAST:
		return true;
	default:
		return false;
	}
}

/* The MTU of the route from `saddr` to `daddr` in `net` (path MTU exceptions
 * included), through `cache` if given, as kame_skb_route() would find it;
 * 0 without a route. */
unsigned int kame_route_mtu(struct net *net, struct dst_cache *cache, bool v6,
			    const void *saddr, const void *daddr, u32 mark)
{
	struct dst_entry *dst;
	unsigned int mtu;

	dst = kame_route_lookup(net, cache, v6, saddr, daddr, mark);
	if (IS_ERR(dst))
		return 0;
	mtu = dst_mtu(dst);
	dst_release(dst);
	return mtu;
}

KAME_INLINE
u32 kame_skb_mark(const struct sk_buff *skb)
{
	return skb->mark;
}

/* A burst of packets sent with bottom halves off is received as a batch. */
KAME_INLINE
void kame_local_bh_disable(void)
{
	local_bh_disable();
}

KAME_INLINE
void kame_local_bh_enable(void)
{
	local_bh_enable();
}
