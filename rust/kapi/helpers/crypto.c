// SPDX-License-Identifier: GPL-2.0
/*
 * Wrappers for static inline crypto API accessors (kame_helpers.h), the
 * freeing of transforms, and the count of algorithms registered.
 */
#include <crypto/aead.h>
#include <crypto/algapi.h>
#include <crypto/hash.h>
#include <linux/preempt.h>
#include <linux/slab.h>
#include <linux/workqueue.h>

#include "kame_helpers.h"

KAME_INLINE
unsigned int kame_crypto_aead_ivsize(struct crypto_aead *tfm)
{
	return crypto_aead_ivsize(tfm);
}

KAME_INLINE
unsigned int kame_crypto_aead_authsize(struct crypto_aead *tfm)
{
	return crypto_aead_authsize(tfm);
}

KAME_INLINE
unsigned int kame_crypto_aead_blocksize(struct crypto_aead *tfm)
{
	return crypto_aead_blocksize(tfm);
}

/*
 * A driver's exit may sleep, but an SA's transform can lose its last
 * reference where nothing may: in a packet's crypto completion or in
 * softirq, when the SA was deleted while the packet was in flight.  A
 * transform freed there goes to this queue, as XFRM frees its states from
 * a work item.  The module destroys the queue last, once no completion
 * can run (kame_tfm_free_wq_destroy()); without it, or without memory,
 * the transform is freed on the spot, as before.
 */
static struct workqueue_struct *kame_tfm_free_wq;

struct kame_tfm_free {
	struct work_struct work;
	void *tfm;
	bool aead;
};

static void kame_tfm_free_now(void *tfm, bool aead)
{
	might_sleep();
	if (aead)
		crypto_free_aead(tfm);
	else
		crypto_free_ahash(tfm);
}

static void kame_tfm_free_work(struct work_struct *work)
{
	struct kame_tfm_free *f = container_of(work, struct kame_tfm_free, work);

	kame_tfm_free_now(f->tfm, f->aead);
	kfree(f);
}

static void kame_tfm_free(void *tfm, bool aead)
{
	struct workqueue_struct *wq = READ_ONCE(kame_tfm_free_wq);
	struct kame_tfm_free *f;

	if (preemptible() || !wq)
		goto now;
	f = kmalloc(sizeof(*f), GFP_ATOMIC);
	if (!f)
		goto now;
	f->tfm = tfm;
	f->aead = aead;
	INIT_WORK(&f->work, kame_tfm_free_work);
	queue_work(wq, &f->work);
	return;
now:
	kame_tfm_free_now(tfm, aead);
}

KAME_INLINE
int kame_tfm_free_wq_create(void)
{
	kame_tfm_free_wq = alloc_workqueue("kame_tfm_free", WQ_UNBOUND, 0);
	return kame_tfm_free_wq ? 0 : -ENOMEM;
}

KAME_INLINE
void kame_tfm_free_wq_destroy(void)
{
	struct workqueue_struct *wq = kame_tfm_free_wq;

	WRITE_ONCE(kame_tfm_free_wq, NULL);
	destroy_workqueue(wq);
}

KAME_INLINE
void kame_crypto_free_aead(struct crypto_aead *tfm)
{
	kame_tfm_free(tfm, true);
}

KAME_INLINE
unsigned int kame_crypto_ahash_digestsize(struct crypto_ahash *tfm)
{
	return crypto_ahash_digestsize(tfm);
}

KAME_INLINE
void kame_crypto_free_ahash(struct crypto_ahash *tfm)
{
	kame_tfm_free(tfm, false);
}

/*
 * One allocation for an operation: `head` bytes of the caller's, then the
 * request with the transform's context (esp_alloc_tmp()'s layout).  The
 * caller frees it with kame_aead_op_free(), a plain kfree() as esp4's.
 */
void *kame_aead_op_alloc(struct crypto_aead *tfm, size_t head,
			 struct aead_request **req, gfp_t gfp)
{
	size_t off = ALIGN(head, crypto_tfm_ctx_alignment());
	void *mem;

	mem = kmalloc(off + sizeof(**req) + crypto_aead_reqsize(tfm), gfp);
	if (!mem)
		return NULL;
	*req = mem + off;
	aead_request_set_tfm(*req, tfm);
	return mem;
}

KAME_INLINE
void kame_aead_op_free(void *mem)
{
	kfree(mem);
}

/* One in-place operation over `sg`; `done` runs if it completes later. */
KAME_INLINE
void kame_aead_request_set(struct aead_request *req, struct scatterlist *sg,
			   unsigned int assoclen, unsigned int cryptlen, u8 *iv,
			   void (*done)(void *data, int err), void *data)
{
	aead_request_set_callback(req, 0, done, data);
	aead_request_set_crypt(req, sg, sg, cryptlen, iv);
	aead_request_set_ad(req, assoclen);
}

KAME_INLINE
struct ahash_request *kame_ahash_request_alloc(struct crypto_ahash *tfm, gfp_t gfp)
{
	return ahash_request_alloc(tfm, gfp);
}

KAME_INLINE
void kame_ahash_request_free(struct ahash_request *req)
{
	ahash_request_free(req);
}

/* A digest of `nbytes` at `sg` into `result`; `done` runs if it completes later. */
KAME_INLINE
void kame_ahash_request_set(struct ahash_request *req, struct scatterlist *sg,
			    unsigned int nbytes, u8 *result,
			    void (*done)(void *data, int err), void *data)
{
	ahash_request_set_callback(req, 0, done, data);
	ahash_request_set_crypt(req, sg, result, nbytes);
}

/*
 * Counts the algorithms the crypto API has made usable since the module
 * loaded: a transform allocated under an older count may have a driver
 * that lookups no longer pick (a higher-priority one arrived since).  The
 * notifier runs with crypto_alg_sem held for writing: it only counts.
 */
static atomic_t kame_crypto_algs_loaded = ATOMIC_INIT(0);

static int kame_crypto_alg_event(struct notifier_block *nb, unsigned long msg,
				 void *data)
{
	if (msg == CRYPTO_MSG_ALG_LOADED)
		atomic_inc(&kame_crypto_algs_loaded);
	return NOTIFY_DONE;
}

static struct notifier_block kame_crypto_alg_nb = {
	.notifier_call = kame_crypto_alg_event,
};

KAME_INLINE
int kame_crypto_watch_algs(void)
{
	return crypto_register_notifier(&kame_crypto_alg_nb);
}

KAME_INLINE
void kame_crypto_unwatch_algs(void)
{
	crypto_unregister_notifier(&kame_crypto_alg_nb);
}

KAME_INLINE
unsigned int kame_crypto_algs_loaded_count(void)
{
	/* Read before an allocation's lookup, which takes crypto_alg_sem. */
	return atomic_read_acquire(&kame_crypto_algs_loaded);
}
