// SPDX-License-Identifier: GPL-2.0
/*
 * kame_failcrypto: crypto drivers that always fail, for the selftests only
 * (selftests/stats_crypto.py; never installed).
 *
 * It registers, at a priority above every real implementation, an AEAD
 * under the name kame_ipsec's AES-GCM-16 ESP SAs allocate,
 * "seqiv(rfc4106(gcm(aes)))" (registered under that name rather than as
 * "rfc4106(gcm(aes))", so that no seqiv instance is built over it and pins
 * this module), and a keyed hash under "hmac(sha256)", which AH with
 * HMAC-SHA-256 allocates. An SA added while this module is loaded gets
 * them; transforms allocated before keep the real drivers. Keys and ICV
 * lengths are accepted as the real algorithms accept them, so the SA add
 * succeeds; every encryption, decryption and digest then fails with -EIO,
 * which is not a bad ICV (-EBADMSG): the data path counts esps_crypto or
 * ahs_crypto.
 *
 * async=1 fails asynchronously instead: each request returns -EINPROGRESS
 * and is completed with -EIO from a workqueue, with bottom halves off as
 * cryptd completes. aead_failed and hash_failed count the requests failed.
 * Once the SAs that use the drivers are gone, the module unloads.
 */
#include <crypto/internal/aead.h>
#include <crypto/internal/hash.h>
#include <linux/module.h>
#include <linux/sysfs.h>
#include <linux/workqueue.h>

#define KFC_PRIORITY 10000	/* above aesni (400), cryptd (+50), pcrypt (+100) */
#define KFC_ERR -EIO

static bool async;
module_param(async, bool, 0444);
MODULE_PARM_DESC(async, "complete each request later, from a workqueue (default: at once)");

static atomic_t aead_failed = ATOMIC_INIT(0), hash_failed = ATOMIC_INIT(0);

static int kfc_count_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%d\n", atomic_read((atomic_t *)kp->arg));
}

static const struct kernel_param_ops kfc_count_ops = { .get = kfc_count_get };
module_param_cb(aead_failed, &kfc_count_ops, &aead_failed, 0444);
MODULE_PARM_DESC(aead_failed, "AEAD requests failed so far");
module_param_cb(hash_failed, &kfc_count_ops, &hash_failed, 0444);
MODULE_PARM_DESC(hash_failed, "hash requests failed so far");

static struct workqueue_struct *kfc_wq;

/* Each request's context: the work that completes it (async=1). */
struct kfc_req {
	struct work_struct work;
	void *req;
};

static void kfc_aead_done(struct work_struct *work)
{
	struct kfc_req *r = container_of(work, struct kfc_req, work);

	local_bh_disable();
	aead_request_complete(r->req, KFC_ERR);
	local_bh_enable();
}

static void kfc_hash_done(struct work_struct *work)
{
	struct kfc_req *r = container_of(work, struct kfc_req, work);

	local_bh_disable();
	ahash_request_complete(r->req, KFC_ERR);
	local_bh_enable();
}

/* Fails `req` now, or queues its failure (its context is a kfc_req). */
static int kfc_fail(void *req, struct kfc_req *r, work_func_t done, atomic_t *count)
{
	atomic_inc(count);
	if (!async)
		return KFC_ERR;
	r->req = req;
	INIT_WORK(&r->work, done);
	queue_work(kfc_wq, &r->work);
	return -EINPROGRESS;
}

static int kfc_aead_crypt(struct aead_request *req)
{
	return kfc_fail(req, aead_request_ctx(req), kfc_aead_done, &aead_failed);
}

/* rfc4106's keys: an AES key of 128, 192 or 256 bits and a 4-byte salt. */
static int kfc_aead_setkey(struct crypto_aead *tfm, const u8 *key, unsigned int len)
{
	return len == 20 || len == 28 || len == 36 ? 0 : -EINVAL;
}

/* rfc4106's ICV lengths. */
static int kfc_aead_setauthsize(struct crypto_aead *tfm, unsigned int len)
{
	return len == 8 || len == 12 || len == 16 ? 0 : -EINVAL;
}

static struct aead_alg kfc_aead = {
	.setkey = kfc_aead_setkey,
	.setauthsize = kfc_aead_setauthsize,
	.encrypt = kfc_aead_crypt,
	.decrypt = kfc_aead_crypt,
	.ivsize = 8,
	.maxauthsize = 16,
	.base = {
		.cra_name = "seqiv(rfc4106(gcm(aes)))",
		.cra_driver_name = "kame-failcrypto-rfc4106-gcm-aes",
		.cra_priority = KFC_PRIORITY,
		.cra_blocksize = 1,
		.cra_reqsize = sizeof(struct kfc_req),
		.cra_module = THIS_MODULE,
	},
};

static int kfc_hash_op(struct ahash_request *req)
{
	return kfc_fail(req, ahash_request_ctx(req), kfc_hash_done, &hash_failed);
}

/* HMAC takes a key of any length. */
static int kfc_hash_setkey(struct crypto_ahash *tfm, const u8 *key, unsigned int len)
{
	return 0;
}

static int kfc_hash_export(struct ahash_request *req, void *out)
{
	return 0;
}

static int kfc_hash_import(struct ahash_request *req, const void *in)
{
	return 0;
}

/*
 * REQ_VIRT: the data is never read, so any request will do, and
 * NO_FALLBACK: no software twin is allocated beside each transform.
 */
static struct ahash_alg kfc_hash = {
	.init = kfc_hash_op,
	.update = kfc_hash_op,
	.final = kfc_hash_op,
	.finup = kfc_hash_op,
	.digest = kfc_hash_op,
	.export = kfc_hash_export,
	.import = kfc_hash_import,
	.setkey = kfc_hash_setkey,
	.halg = {
		.digestsize = 32,
		.statesize = 8,
		.base = {
			.cra_name = "hmac(sha256)",
			.cra_driver_name = "kame-failcrypto-hmac-sha256",
			.cra_priority = KFC_PRIORITY,
			.cra_flags = CRYPTO_ALG_REQ_VIRT | CRYPTO_ALG_NO_FALLBACK,
			.cra_blocksize = 64,
			.cra_reqsize = sizeof(struct kfc_req),
			.cra_module = THIS_MODULE,
		},
	},
};

static int __init kfc_init(void)
{
	int err;

	kfc_wq = alloc_workqueue("kame_failcrypto", WQ_UNBOUND, 0);
	if (!kfc_wq)
		return -ENOMEM;
	if (async) {
		kfc_aead.base.cra_flags |= CRYPTO_ALG_ASYNC;
		kfc_hash.halg.base.cra_flags |= CRYPTO_ALG_ASYNC;
	}
	err = crypto_register_aead(&kfc_aead);
	if (err)
		goto err_wq;
	err = crypto_register_ahash(&kfc_hash);
	if (err)
		goto err_aead;
	return 0;

err_aead:
	crypto_unregister_aead(&kfc_aead);
err_wq:
	destroy_workqueue(kfc_wq);
	return err;
}

/* Nothing uses the drivers (each transform holds the module); a work item
 * may still be returning from its completion: destroy_workqueue() waits. */
static void __exit kfc_exit(void)
{
	crypto_unregister_ahash(&kfc_hash);
	crypto_unregister_aead(&kfc_aead);
	destroy_workqueue(kfc_wq);
}

module_init(kfc_init);
module_exit(kfc_exit);
MODULE_DESCRIPTION("Failing AEAD and hash drivers for the kame_ipsec selftests");
MODULE_LICENSE("GPL");
