// SPDX-License-Identifier: GPL-2.0
/*
 * Wrappers for static inline sk_buff helpers of linux/skbuff.h, the two ways
 * of cutting a packet (GSO segmentation, IPv6 fragmentation), and a PF_KEY
 * message's copy to user space (kame_helpers.h).
 */
#include <linux/instrumented.h>
#include <linux/skbuff.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <linux/netdevice.h>
#include <net/gso.h>
#include <linux/scatterlist.h>

#include <net/ip6_route.h>
#include <net/ipv6.h>

#include "kame_helpers.h"

/* Longer copies take copy_to_iter(): on hardware its string move wins. */
#define KAME_SHORT_MSG 1024

KAME_INLINE
struct sk_buff *kame_alloc_skb(unsigned int size, gfp_t gfp)
{
	return alloc_skb(size, gfp);
}

KAME_INLINE
void kame_skb_put_data(struct sk_buff *skb, const void *data, unsigned int len)
{
	skb_put_data(skb, data, len);
}

KAME_INLINE
void kame_kfree_skb(struct sk_buff *skb)
{
	kfree_skb(skb);
}

/*
 * A short message to one user buffer: word stores, as readdir writes a name,
 * rather than copy_to_user()'s `rep movsb`, which TCG runs a byte a step
 * (alike on hardware for this size). The checks are copy_to_iter()'s.
 */
static int kame_copy_msg_to_ubuf(const void *from, size_t len,
				 struct iov_iter *to)
{
	char __user *dst = to->ubuf + to->iov_offset;

	might_fault();
	if (!check_copy_size(from, len, true) || should_fail_usercopy())
		return -EFAULT;
	instrument_copy_to_user(dst, from, len);
	scoped_user_write_access_size(dst, len, fault)
		unsafe_copy_to_user(dst, from, len, fault);
	iov_iter_advance(to, len);
	return 0;
fault:
	return -EFAULT;
}

KAME_INLINE
int kame_skb_copy_datagram_msg(const struct sk_buff *from, int offset,
			       struct msghdr *msg, int size)
{
	/*
	 * PF_KEY's buffers are linear: copy straight from the data, without
	 * the general walk over fragments (reading queued 192-byte replies
	 * went 3% faster in instructions without it).
	 */
	if (likely(offset + size <= skb_headlen(from))) {
		if (iter_is_ubuf(&msg->msg_iter) &&
		    iov_iter_rw(&msg->msg_iter) == ITER_DEST &&
		    (unsigned int)size <= KAME_SHORT_MSG &&
		    size <= iov_iter_count(&msg->msg_iter))
			return kame_copy_msg_to_ubuf(from->data + offset, size,
						     &msg->msg_iter);
		return copy_to_iter(from->data + offset, size, &msg->msg_iter) ==
		       size ? 0 : -EFAULT;
	}
	return skb_copy_datagram_msg(from, offset, msg, size);
}

KAME_INLINE
int kame_memcpy_from_msg(void *data, struct msghdr *msg, int len)
{
	return memcpy_from_msg(data, msg, len);
}

/* The packet path: header offsets, room, ownership of a packet. */
KAME_INLINE
int kame_skb_network_offset(const struct sk_buff *skb)
{
	return skb_network_offset(skb);
}

KAME_INLINE
void kame_skb_set_network_offset(struct sk_buff *skb, int offset)
{
	skb_set_network_header(skb, offset);
}

KAME_INLINE
int kame_skb_linearize_cow(struct sk_buff *skb)
{
	return skb_linearize_cow(skb);
}

KAME_INLINE
int kame_skb_cow(struct sk_buff *skb, unsigned int headroom)
{
	return skb_cow(skb, headroom);
}

/* Whether crypto may write the packet's bytes where they are. */
static bool kame_skb_private(const struct sk_buff *skb)
{
	return !skb_cloned(skb) && !skb_has_frag_list(skb) &&
	       !skb_has_shared_frag(skb);
}

/*
 * Makes the packet private (crypto writes it in place), in at most
 * `max_frags` page fragments besides its linear part, with its first `pull`
 * bytes linear: copied only when it is shared or too scattered.
 */
int kame_skb_make_private(struct sk_buff *skb, unsigned int max_frags,
			  unsigned int pull)
{
	if (!kame_skb_private(skb) || skb_shinfo(skb)->nr_frags > max_frags) {
		int err = skb_linearize_cow(skb);

		if (err)
			return err;
	}
	return pskb_may_pull(skb, pull) ? 0 : -EINVAL;
}

/*
 * Appends `len` bytes to a private packet: in the linear part's tailroom,
 * else in a page fragment (from the per-CPU fragment cache), so that
 * growing a full packet does not copy it, as esp_output_head() does.
 * A linear packet's last (length - `from`) % `align` bytes move into the
 * fragment with them, so that its linear part ends a whole number of
 * `align`-byte blocks after `from`: a cipher block across the two would
 * send the crypto walk through its slow path (skcipher_next_slow(), a
 * bounce buffer allocated and freed per operation) at both ends.
 */
int kame_skb_put_tail(struct sk_buff *skb, unsigned int len,
		      unsigned int from, unsigned int align)
{
	unsigned int nr = skb_shinfo(skb)->nr_frags;
	unsigned int move = 0;
	struct page *page;
	void *p;

	if (!kame_skb_private(skb))
		return -EINVAL;
	if (!skb_is_nonlinear(skb) && skb_tailroom(skb) >= len) {
		skb_put(skb, len);
		return 0;
	}
	if (nr >= MAX_SKB_FRAGS)
		return -EMSGSIZE;
	if (!skb_is_nonlinear(skb) && align && from <= skb->len)
		move = (skb->len - from) % align;
	p = netdev_alloc_frag(SKB_DATA_ALIGN(move + len));
	if (!p)
		return -ENOMEM;
	if (move) {
		memcpy(p, skb_tail_pointer(skb) - move, move);
		skb_set_tail_pointer(skb, skb_headlen(skb) - move);
	}
	page = virt_to_head_page(p);
	skb_fill_page_desc(skb, nr, page, p - page_address(page), move + len);
	skb->len += len;
	skb->data_len += move + len;
	/*
	 * A socket was charged the truesize its packet had: changed, the
	 * charge would not balance when the packet is freed (what
	 * pskb_expand_head() keeps unchanged for the same reason).
	 */
	if (!skb->sk)
		skb->truesize += SKB_DATA_ALIGN(move + len);
	return 0;
}

/*
 * The last `len` bytes of a private packet when they lie in one piece (the
 * linear part or its last fragment), for writing; NULL otherwise.
 */
void *kame_skb_last_bytes(struct sk_buff *skb, unsigned int len)
{
	unsigned int nr = skb_shinfo(skb)->nr_frags;
	skb_frag_t *f;
	void *base;

	if (!kame_skb_private(skb) || len > skb->len)
		return NULL;
	if (!nr)
		return skb_tail_pointer(skb) - len;
	f = &skb_shinfo(skb)->frags[nr - 1];
	base = skb_frag_address_safe(f);
	if (!base || skb_frag_size(f) < len)
		return NULL;
	return base + skb_frag_size(f) - len;
}

/*
 * Fills `sg` (`nents` entries) with the `len` bytes at `offset` of a
 * private packet, for crypto in place; the number of entries used, or
 * -EMSGSIZE if the packet is in more pieces than that.
 */
int kame_skb_to_sg(struct sk_buff *skb, struct scatterlist *sg,
		   unsigned int nents, unsigned int offset, unsigned int len)
{
	unsigned int used = skb_shinfo(skb)->nr_frags + 1;
	unsigned int i;

	if (!kame_skb_private(skb) || used > nents)
		return -EMSGSIZE;
	/*
	 * At most the linear part and each fragment once: only those, as
	 * sg_init_table() does, whose memset() call of the whole run was
	 * 0.6% of a tunnel profile (two entries a packet each way). Cleared
	 * an entry at a time, a few stores each: the barrier keeps the
	 * compiler from folding the loop back into one memset() call.
	 */
	for (i = 0; i < used; i++) {
		memset(&sg[i], 0, sizeof(sg[i]));
		barrier();
	}
	sg_init_marker(sg, used);
	return skb_to_sgvec(skb, sg, offset, len);
}

KAME_INLINE
unsigned int kame_skb_tailroom(const struct sk_buff *skb)
{
	return skb_tailroom(skb);
}

KAME_INLINE
int kame_pskb_trim(struct sk_buff *skb, unsigned int len)
{
	return pskb_trim(skb, len);
}

KAME_INLINE
bool kame_skb_is_gso(const struct sk_buff *skb)
{
	return skb_is_gso(skb);
}

KAME_INLINE
int kame_skb_resolve_checksum(struct sk_buff *skb)
{
	return skb->ip_summed == CHECKSUM_PARTIAL ? skb_checksum_help(skb) : 0;
}

/* Segments a GSO packet; on success the original is freed. */
KAME_INLINE
struct sk_buff *kame_skb_segment(struct sk_buff *skb)
{
	struct sk_buff *segs = skb_gso_segment(skb, 0);

	if (IS_ERR_OR_NULL(segs))
		return segs ? segs : ERR_PTR(-EINVAL);
	consume_skb(skb);
	return segs;
}

/* Where kame_frag_collect() puts the fragments of the current call. */
static DEFINE_PER_CPU(struct sk_buff_head *, kame_frags);

static int kame_frag_collect(struct net *net, struct sock *sk,
			     struct sk_buff *skb)
{
	__skb_queue_tail(this_cpu_read(kame_frags), skb);
	return 0;
}

/*
 * Cuts a local IPv6 packet into fragments of at most `mtu` bytes, as the
 * stack would after POST_ROUTING (ip6_fragment(), which needs the packet's
 * route and may send the socket a "packet too big"), and returns them as a
 * list.  The packet is consumed either way.  ip6_fragment() hands each
 * fragment to a callback without context: the list is found through a
 * per-CPU pointer, set with bottom halves off so nothing else on this CPU
 * runs in between.
 */
struct sk_buff *kame_ip6_fragment(struct sk_buff *skb, unsigned int mtu)
{
	struct sk_buff_head frags;
	struct sk_buff *head = NULL, **tail = &head, *f;
	int err;

	__skb_queue_head_init(&frags);
	/* Fragments no bigger than `mtu`, whatever the route's MTU. */
	IP6CB(skb)->frag_max_size = mtu;
	local_bh_disable();
	this_cpu_write(kame_frags, &frags);
	err = ip6_fragment(dev_net(skb_dst(skb)->dev), skb->sk, skb,
			   kame_frag_collect);
	this_cpu_write(kame_frags, NULL);
	local_bh_enable();
	if (err) {
		__skb_queue_purge(&frags);
		return ERR_PTR(err);
	}
	while ((f = __skb_dequeue(&frags))) {
		*tail = f;
		tail = &f->next;
	}
	*tail = NULL;
	return head ? head : ERR_PTR(-EINVAL);
}

/* Takes the first packet off a list of segments. */
struct sk_buff *kame_skb_list_pop(struct sk_buff **list)
{
	struct sk_buff *skb = *list;

	if (skb) {
		*list = skb->next;
		skb_mark_not_on_list(skb);
	}
	return skb;
}

/* The number of packets on a list of segments. */
KAME_INLINE
unsigned int kame_skb_list_len(const struct sk_buff *list)
{
	unsigned int n = 0;

	for (; list; list = list->next)
		n++;
	return n;
}
