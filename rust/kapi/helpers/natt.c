// SPDX-License-Identifier: GPL-2.0
/*
 * NAT traversal (kame_helpers.h): which kind of UDP encapsulation the
 * socket that will receive a datagram asked for (UDP_ENCAP).
 */
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <net/inet_sock.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/udp.h>

#include "kame_helpers.h"

/*
 * The `encap_type` of the UDP socket a datagram to `dport` from `sport`
 * (host order) in `skb` would be delivered to, 0 without one. `skb` is a
 * received packet at LOCAL_IN, its IP header at the network header. The
 * lookup is the UDP receive path's, without the BPF redirect's packet.
 */
u8 kame_udp_encap_type(struct sk_buff *skb, bool v6, u16 sport, u16 dport)
{
	struct net *net = dev_net(skb->dev);
	struct sock *sk;
	u8 type = 0;

	rcu_read_lock();
	if (v6) {
		const struct ipv6hdr *ip6h = ipv6_hdr(skb);

		sk = __udp6_lib_lookup(net, &ip6h->saddr, htons(sport),
				       &ip6h->daddr, htons(dport),
				       inet6_iif(skb), inet6_sdif(skb), NULL);
	} else {
		const struct iphdr *iph = ip_hdr(skb);

		sk = __udp4_lib_lookup(net, iph->saddr, htons(sport),
				       iph->daddr, htons(dport),
				       inet_iif(skb), inet_sdif(skb), NULL);
	}
	if (sk)
		type = READ_ONCE(udp_sk(sk)->encap_type);
	rcu_read_unlock();
	return type;
}
