/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bindgen input for kame_ipsec's kernel-API layer (rust/kapi/).  Only what the
 * kernel crate's own bindings lack; Kbuild allowlists the items used.
 */
#include <crypto/aead.h>
#include <crypto/hash.h>
#include <linux/capability.h>
#include <linux/crypto.h>
#include <linux/net.h>
#include <linux/random.h>
#include <linux/timekeeping.h>
#include <linux/workqueue.h>
#include <linux/netfilter.h>
#include <linux/proc_fs.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6.h>
#include <linux/skbuff.h>
#include <linux/socket.h>
#include <linux/sysctl.h>
#include <net/net_namespace.h>
#include <net/sock.h>
#include <net/xfrm.h>

#include "kame_helpers.h"

/* Constants bindgen cannot see through macros. */
const gfp_t KAME_GFP_KERNEL = GFP_KERNEL;
const int KAME_CAP_NET_ADMIN = CAP_NET_ADMIN;
const int KAME_PF_KEY = PF_KEY;
const int KAME_SOCK_RAW = SOCK_RAW;
const unsigned int KAME_MSG_OOB = MSG_OOB;
const unsigned int KAME_MSG_PEEK = MSG_PEEK;
const unsigned int KAME_MSG_DONTWAIT = MSG_DONTWAIT;
const unsigned int KAME_MSG_TRUNC = MSG_TRUNC;
const unsigned int KAME_MSG_CMSG_COMPAT = MSG_CMSG_COMPAT;
const unsigned int KAME_NF_ACCEPT = NF_ACCEPT;
const unsigned int KAME_NF_DROP = NF_DROP;
const unsigned int KAME_NF_STOLEN = NF_STOLEN;
const unsigned int KAME_NF_VERDICT_QBITS = NF_VERDICT_QBITS;
const unsigned int KAME_NF_INET_POST_ROUTING = NF_INET_POST_ROUTING;
const u32 KAME_CRYPTO_ALG_ASYNC = CRYPTO_ALG_ASYNC;
const gfp_t KAME_GFP_ATOMIC = GFP_ATOMIC;
const unsigned short KAME_AF_INET = AF_INET;
const unsigned short KAME_AF_INET6 = AF_INET6;
const int KAME_IP_IPSEC_POLICY = IP_IPSEC_POLICY;
const int KAME_IPV6_IPSEC_POLICY = IPV6_IPSEC_POLICY;
const unsigned char KAME_XFRM_POLICY_ALLOW = XFRM_POLICY_ALLOW;
const unsigned char KAME_XFRM_POLICY_BLOCK = XFRM_POLICY_BLOCK;
const int KAME_XFRM_POLICY_IN = XFRM_POLICY_IN;
const int KAME_XFRM_POLICY_OUT = XFRM_POLICY_OUT;
