/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C helpers for kame_ipsec: the kernel's static inline functions and macros
 * that Rust cannot call directly, mostly one-line wrappers, and the few short
 * routines that must be C (the uaccess macros, steps under a queue's lock).
 * The logic lives in rust/kapi/ and above.
 */
#ifndef KAME_HELPERS_H
#define KAME_HELPERS_H

#include <linux/types.h>

/*
 * KAME_INLINE marks the short helpers that a clang build of a kernel with
 * CONFIG_RUST_INLINE_HELPERS inlines into their Rust callers: Kbuild then
 * links the helpers' LLVM bitcode into the crate's before code generation,
 * as the kernel links its own rust/helpers. It is __always_inline, as the
 * kernel's __rust_helper is: LLVM would not inline C into Rust otherwise,
 * their functions' attributes differing (null pointer checks, builtins,
 * target features spelled differently) though their ABI does not.
 */
#if defined(KAME_INLINE_HELPERS) && !defined(__BINDGEN__)
#define KAME_INLINE __always_inline
#else
#define KAME_INLINE
#endif

struct net;
struct sock;
struct sk_buff;
struct dst_cache;
struct msghdr;
struct user_namespace;
struct delayed_work;
struct rcu_work;
struct work_struct;
struct crypto_aead;
struct crypto_ahash;
struct xfrm_policy;
struct net_device;
struct aead_request;
struct ahash_request;
struct scatterlist;
struct file;
struct seq_file;
struct proc_dir_entry;

/* net/netns/generic.h */
void *kame_net_generic(const struct net *net, unsigned int id);
struct user_namespace *kame_net_user_ns(const struct net *net);

/* net/sock.h */
struct net *kame_sock_net(const struct sock *sk);
int kame_sk_rcvbuf(const struct sock *sk);
int kame_sk_sndbuf(const struct sock *sk);
int kame_sk_rmem_alloc(const struct sock *sk);
void kame_sk_data_ready(struct sock *sk);
void kame_sock_orphan(struct sock *sk);
void kame_sock_put(struct sock *sk);
void kame_sock_hold(struct sock *sk);
void kame_sock_recv_cmsgs(struct msghdr *msg, struct sock *sk,
			  struct sk_buff *skb);
void kame_skb_set_owner_r(struct sk_buff *skb, struct sock *sk);
void kame_sk_queue_purge(struct sock *sk);
void kame_sk_queue_rcv_tail(struct sock *sk, struct sk_buff *skb);
void kame_sk_set_destruct(struct sock *sk, void (*destruct)(struct sock *sk));
struct sk_buff *kame_sk_next_msg(struct sock *sk, bool peek,
				 bool (*step)(struct sk_buff *skb, bool advance,
					      int *at, int *len),
				 int *at, int *len);
void kame_sock_work_init(struct work_struct *work,
			 void (*fn)(struct work_struct *work));
bool kame_sock_work_queue(struct sock *sk, struct work_struct *work);
void kame_sock_work_cancel(struct sock *sk, struct work_struct *work);

/* linux/skbuff.h */
struct sk_buff *kame_alloc_skb(unsigned int size, gfp_t gfp);
void kame_skb_put_data(struct sk_buff *skb, const void *data,
		       unsigned int len);
void kame_kfree_skb(struct sk_buff *skb);

/*
 * helpers/drop.c: kame_drop_NAME(skb) frees a packet the data path refused,
 * with core reason SKB_DROP_REASON_CORE; the function's name is the
 * tracepoint's location (Documentation/datapath.rst, "Watching drops").
 */
#define KAME_DROP_CLASSES(X)						\
	X(policy, XFRM_POLICY)						\
	X(nosa, XFRM_POLICY)						\
	X(disabled, XFRM_POLICY)					\
	X(toobig, PKT_TOO_BIG)						\
	X(short, PKT_TOO_SMALL)						\
	X(crypto, NOMEM)						\
	X(qfull, CPU_BACKLOG)						\
	X(icv, NOT_SPECIFIED)						\
	X(replay, NOT_SPECIFIED)					\
	X(badenc, NOT_SPECIFIED)					\
	X(sa, NOT_SPECIFIED)						\
	X(wrap, NOT_SPECIFIED)						\
	X(exiting, NOT_SPECIFIED)					\
	X(invalid, NOT_SPECIFIED)
#define KAME_DROP_DECLARE(name, core) void kame_drop_##name(struct sk_buff *skb);
KAME_DROP_CLASSES(KAME_DROP_DECLARE)
int kame_skb_copy_datagram_msg(const struct sk_buff *from, int offset,
			       struct msghdr *msg, int size);
int kame_memcpy_from_msg(void *data, struct msghdr *msg, int len);
int kame_skb_network_offset(const struct sk_buff *skb);
void kame_skb_set_network_offset(struct sk_buff *skb, int offset);
int kame_skb_linearize_cow(struct sk_buff *skb);
int kame_skb_cow(struct sk_buff *skb, unsigned int headroom);
int kame_skb_make_private(struct sk_buff *skb, unsigned int max_frags,
			  unsigned int pull);
int kame_skb_put_tail(struct sk_buff *skb, unsigned int len,
		      unsigned int from, unsigned int align);
void *kame_skb_last_bytes(struct sk_buff *skb, unsigned int len);
int kame_skb_to_sg(struct sk_buff *skb, struct scatterlist *sg,
		   unsigned int nents, unsigned int offset, unsigned int len);
unsigned int kame_skb_tailroom(const struct sk_buff *skb);
int kame_pskb_trim(struct sk_buff *skb, unsigned int len);
bool kame_skb_is_gso(const struct sk_buff *skb);
int kame_skb_resolve_checksum(struct sk_buff *skb);
struct sk_buff *kame_skb_segment(struct sk_buff *skb);
struct sk_buff *kame_ip6_fragment(struct sk_buff *skb, unsigned int mtu);
struct sk_buff *kame_skb_list_pop(struct sk_buff **list);
unsigned int kame_skb_list_len(const struct sk_buff *list);

/* net/ip.h, net/ipv6.h, net/dst.h: the packet path (helpers/ipsec.c) */
bool kame_skb_transformed(const struct sk_buff *skb, bool v6);
void kame_skb_prepare_out(struct sk_buff *skb, bool v6);
bool kame_skb_dst_force(struct sk_buff *skb);
unsigned int kame_skb_dst_mtu(const struct sk_buff *skb);
struct dst_cache *kame_dst_cache_new(void);
void kame_dst_cache_free(struct dst_cache *c);
int kame_skb_route(struct sk_buff *skb, struct net *net,
		   struct dst_cache *cache, bool v6, const void *saddr,
		   const void *daddr, bool ident);
int kame_ip_ident_reserve(struct sk_buff *skb, u16 segs, u16 *first);
int kame_skb_local_out(struct sk_buff *skb, bool v6);
struct net *kame_skb_dst_net(const struct sk_buff *skb);
struct net *kame_skb_net(const struct sk_buff *skb);
void kame_icmp_toobig(struct sk_buff *skb, bool v6, unsigned int mtu);
void kame_skb_update_pmtu(struct sk_buff *skb, unsigned int mtu);
bool kame_skb_local_sender(const struct sk_buff *skb);
unsigned int kame_route_mtu(struct net *net, struct dst_cache *cache, bool v6,
			    const void *saddr, const void *daddr, u32 mark);
u32 kame_skb_mark(const struct sk_buff *skb);
bool kame_skb_ignore_df(const struct sk_buff *skb);
bool kame_dev_delivers_locally(const struct net_device *dev, bool v6,
			       const void *addr);
unsigned int kame_skb_dev_mtu(const struct sk_buff *skb);
void kame_skb_reinject(struct sk_buff *skb, struct net_device *dev, bool v6,
		       bool verified);
int kame_dev_receive(struct net_device *dev, struct sk_buff *skb);
void kame_local_bh_disable(void);
void kame_local_bh_enable(void);

/* net/udp.h: NAT traversal (helpers/natt.c) */
u8 kame_udp_encap_type(struct sk_buff *skb, bool v6, u16 sport, u16 dport);

/* linux/netdevice.h: ipsec0 and enc0 (helpers/netdev.c) */
struct net_device *kame_netdev_create(struct net *net, const char *name,
				      bool up);
bool kame_dev_running(const struct net_device *dev);
struct sk_buff *kame_enc_output(struct sk_buff *skb, struct net_device *dev);
void kame_netdev_destroy(struct net_device *dev);
void kame_dev_hold(struct net_device *dev);
void kame_dev_put(struct net_device *dev);

/* linux/workqueue.h */
void kame_init_delayed_work(struct delayed_work *dw,
			    void (*fn)(struct work_struct *work));
void kame_mod_delayed_work_ms(struct delayed_work *dw, unsigned int ms);
int kame_reclaim_wq_create(void);
void kame_reclaim_wq_destroy(void);
bool kame_queue_rcu_work(struct rcu_work *rw, void (*fn)(struct work_struct *work));
bool kame_other_cpu_online(void);

/* rxq.c: inbound decryption on another CPU */
int kame_rxq_create(void);
void kame_rxq_destroy(void);
unsigned int kame_rxq_this_cpu(void);
bool kame_rxq_cpu_online(unsigned int cpu);
unsigned int kame_rxq_other_cpu(unsigned int here, unsigned int salt);
unsigned int kame_rxq_done(unsigned int cpu);
int kame_rxq_enqueue(unsigned int cpu, struct aead_request *req,
		     struct sk_buff *skb, struct net_device *dev,
		     unsigned int *tail);

/* crypto/aead.h, crypto/hash.h */
unsigned int kame_crypto_aead_ivsize(struct crypto_aead *tfm);
unsigned int kame_crypto_aead_authsize(struct crypto_aead *tfm);
unsigned int kame_crypto_aead_blocksize(struct crypto_aead *tfm);
void kame_crypto_free_aead(struct crypto_aead *tfm);
unsigned int kame_crypto_ahash_digestsize(struct crypto_ahash *tfm);
void kame_crypto_free_ahash(struct crypto_ahash *tfm);
int kame_tfm_free_wq_create(void);
void kame_tfm_free_wq_destroy(void);
int kame_crypto_watch_algs(void);
void kame_crypto_unwatch_algs(void);
unsigned int kame_crypto_algs_loaded_count(void);
void *kame_aead_op_alloc(struct crypto_aead *tfm, size_t head,
			 struct aead_request **req, gfp_t gfp);
void kame_aead_op_free(void *mem);
void kame_aead_request_set(struct aead_request *req, struct scatterlist *sg,
			   unsigned int assoclen, unsigned int cryptlen, u8 *iv,
			   void (*done)(void *data, int err), void *data);
struct ahash_request *kame_ahash_request_alloc(struct crypto_ahash *tfm, gfp_t gfp);
void kame_ahash_request_free(struct ahash_request *req);
void kame_ahash_request_set(struct ahash_request *req, struct scatterlist *sg,
			    unsigned int nbytes, u8 *result,
			    void (*done)(void *data, int err), void *data);
/* net/sock.h and net/xfrm.h fields, for per-socket policies */
unsigned short kame_sk_family(const struct sock *sk);
void kame_xfrm_policy_set_socket(struct xfrm_policy *xp, unsigned short family,
				 u8 action);
/* net/xfrm.h: whether an ESP/AH packet we do not own has an XFRM state */
bool kame_xfrm_has_state(const struct sk_buff *skb, bool v6, const void *daddr,
			 u32 spi, u8 proto);

/* Per-socket policy tags (helpers/sk_policy.c) */
#define KAME_SKPOL_NONE 0
#define KAME_SKPOL_OURS 1
#define KAME_SKPOL_STALE 2
void kame_xfrm_policy_set_tag(struct xfrm_policy *xp, u32 cookie, u32 id);
int kame_sk_policy_tag(const struct sock *sk, int dir, u32 cookie, u32 *id,
		       u32 *index);
int kame_skb_sk_policy_tag(struct sk_buff *skb, int dir, u32 cookie, u32 *id,
			   u32 *index);
int kame_sk_lookup_policy_tag(const struct net_device *dev, bool v6, u8 proto,
			      const u8 *saddr, __be16 sport, const u8 *daddr,
			      __be16 dport, int dir, u32 cookie, u32 *id,
			      u32 *index);


/* linux/percpu.h: u64 counters (helpers/percpu.c) */
void *kame_percpu_u64_alloc(unsigned int n);
void kame_percpu_free(void *p);
void kame_percpu_u64_add(void *p, unsigned int i, u64 n);
u64 kame_percpu_u64_sum(const void *p, unsigned int i);

/* linux/proc_fs.h: per-namespace /proc/net files (helpers/proc.c) */
struct proc_dir_entry *kame_proc_net_mkdir(struct net *net, const char *name);
void *kame_seq_pde_data(const struct seq_file *m);
void *kame_file_pde_data(const struct file *f);
bool kame_proc_file_net_admin(const struct file *f);

#endif
