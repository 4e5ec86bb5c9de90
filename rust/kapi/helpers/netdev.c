// SPDX-License-Identifier: GPL-2.0
/*
 * The namespace's devices (kame_helpers.h): point-to-point devices without
 * link layer on which decapsulated packets re-enter the stack (ipsec0,
 * and enc0 when it is up), and enc0's view of outbound cleartext.
 * Setting up a net_device is a list of field writes the kernel expects in
 * a setup callback, kept here rather than behind a dozen accessors.
 */
#include <linux/if_arp.h>
#include <linux/netdevice.h>
#include <linux/netfilter_netdev.h>
#include <linux/rtnetlink.h>
#include <net/gro_cells.h>
#include <net/ip.h>
#include <net/net_namespace.h>

#include "kame_helpers.h"

/* Nothing is routed out through the device: what is sent to it is dropped. */
static netdev_tx_t kame_dev_xmit(struct sk_buff *skb, struct net_device *dev)
{
	dev_core_stats_tx_dropped_inc(dev);
	kfree_skb(skb);
	return NETDEV_TX_OK;
}

/*
 * Decapsulated packets re-enter through per-CPU GRO cells (as ip_tunnel's
 * devices and XFRM's tunnel input do): a burst of one TCP flow's segments
 * reaches TCP as one packet, which TCP acknowledges once.
 */
static int kame_dev_init(struct net_device *dev)
{
	return gro_cells_init(netdev_priv(dev), dev);
}

static void kame_dev_uninit(struct net_device *dev)
{
	gro_cells_destroy(netdev_priv(dev));
}

static const struct net_device_ops kame_dev_ops = {
	.ndo_init = kame_dev_init,
	.ndo_uninit = kame_dev_uninit,
	.ndo_start_xmit = kame_dev_xmit,
};

static void kame_dev_setup(struct net_device *dev)
{
	dev->netdev_ops = &kame_dev_ops;
	dev->type = ARPHRD_NONE;
	dev->flags = IFF_NOARP | IFF_POINTOPOINT;
	dev->hard_header_len = 0;
	dev->addr_len = 0;
	dev->mtu = ETH_DATA_LEN;
	dev->min_mtu = 0;
	dev->max_mtu = IP_MAX_MTU;
	dev->tx_queue_len = 0;
	dev->netns_immutable = true;
	dev->lltx = true;
	/* Receive-only: no IPv6 link-local address, so no DAD or MLD sent. */
	dev->priv_flags |= IFF_NO_ADDRCONF;
	/* Per-CPU packet and byte counts, summed by the core for `ip -s link`. */
	dev->pcpu_stat_type = NETDEV_PCPU_STAT_TSTATS;
}

struct net_device *kame_netdev_create(struct net *net, const char *name,
				      bool up)
{
	struct net_device *dev;
	int err;

	dev = alloc_netdev(sizeof(struct gro_cells), name, NET_NAME_PREDICTABLE,
			   kame_dev_setup);
	if (!dev)
		return ERR_PTR(-ENOMEM);
	dev_net_set(dev, net);
	rtnl_lock();
	err = register_netdevice(dev);
	if (!err && up)
		err = dev_open(dev, NULL);
	if (err && dev->reg_state == NETREG_REGISTERED)
		unregister_netdevice(dev);
	rtnl_unlock();
	if (err) {
		free_netdev(dev);
		return ERR_PTR(err);
	}
	return dev;
}

/*
 * A dying namespace's devices are unregistered by the core before our
 * pernet exit runs; on rmmod we unregister it ourselves.  Either way the
 * memory is ours to free.
 */
KAME_INLINE
void kame_netdev_destroy(struct net_device *dev)
{
	rtnl_lock();
	if (dev->reg_state == NETREG_REGISTERED)
		unregister_netdevice(dev);
	rtnl_unlock();
	free_netdev(dev);
}

KAME_INLINE
void kame_dev_hold(struct net_device *dev)
{
	dev_hold(dev);
}

KAME_INLINE
void kame_dev_put(struct net_device *dev)
{
	dev_put(dev);
}

KAME_INLINE
bool kame_dev_running(const struct net_device *dev)
{
	return netif_running(dev);
}

/*
 * An outbound packet about to be protected, sent through enc0 as far as a
 * real transmission goes before the driver: the device's egress hook
 * (nftables netdev family), then its taps (tcpdump -i enc0), then its
 * transmit counters.  Returns the packet, or NULL if the hook dropped or
 * kept it.
 */
struct sk_buff *kame_enc_output(struct sk_buff *skb, struct net_device *dev)
{
	struct net_device *out = skb->dev;
	int rc = NET_XMIT_SUCCESS;

	/* The hook and the taps see the packet as sent on `dev`, with bottom
	 * halves off as in __dev_queue_xmit(): a packet socket's queue lock
	 * is also taken in softirq, and POST_ROUTING runs in process context
	 * for a local sender. */
	skb->dev = dev;
	local_bh_disable();
	if (nf_hook_egress_active()) {
		/* The hook list is RCU-protected (__dev_queue_xmit's lock). */
		rcu_read_lock();
		skb = nf_hook_egress(skb, &rc, dev);
		rcu_read_unlock();
		if (!skb) {
			local_bh_enable();
			if (rc == NET_XMIT_DROP)
				dev_core_stats_tx_dropped_inc(dev);
			return NULL;
		}
	}
	if (dev_nit_active(dev))
		dev_queue_xmit_nit(skb, dev);
	local_bh_enable();
	dev_sw_netstats_tx_add(dev, 1, skb->len);
	skb->dev = out;
	return skb;
}

/* Hands a decapsulated packet to `dev`'s receive path, through GRO. */
KAME_INLINE
int kame_dev_receive(struct net_device *dev, struct sk_buff *skb)
{
	return gro_cells_receive(netdev_priv(dev), skb);
}
