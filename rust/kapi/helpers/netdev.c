// SPDX-License-Identifier: GPL-2.0
/*
 * The namespace's decapsulation device (kame_helpers.h): a point-to-point
 * device without link layer on which decapsulated packets re-enter the
 * stack.  Setting up a net_device is a list of field writes the kernel
 * expects in a setup callback, kept here rather than behind a dozen
 * accessors.
 */
#include <linux/if_arp.h>
#include <linux/netdevice.h>
#include <linux/rtnetlink.h>
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

static const struct net_device_ops kame_dev_ops = {
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
}

struct net_device *kame_netdev_create(struct net *net, const char *name)
{
	struct net_device *dev;
	int err;

	dev = alloc_netdev(0, name, NET_NAME_PREDICTABLE, kame_dev_setup);
	if (!dev)
		return ERR_PTR(-ENOMEM);
	dev_net_set(dev, net);
	rtnl_lock();
	err = register_netdevice(dev);
	if (!err)
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
void kame_netdev_destroy(struct net_device *dev)
{
	rtnl_lock();
	if (dev->reg_state == NETREG_REGISTERED)
		unregister_netdevice(dev);
	rtnl_unlock();
	free_netdev(dev);
}

void kame_dev_hold(struct net_device *dev)
{
	dev_hold(dev);
}

void kame_dev_put(struct net_device *dev)
{
	dev_put(dev);
}
