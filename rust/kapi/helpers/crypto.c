// SPDX-License-Identifier: GPL-2.0
/* Wrappers for static inline crypto API accessors (kame_helpers.h). */
#include <crypto/aead.h>
#include <crypto/hash.h>

#include "kame_helpers.h"

unsigned int kame_crypto_aead_ivsize(struct crypto_aead *tfm)
{
	return crypto_aead_ivsize(tfm);
}

unsigned int kame_crypto_aead_authsize(struct crypto_aead *tfm)
{
	return crypto_aead_authsize(tfm);
}

unsigned int kame_crypto_aead_blocksize(struct crypto_aead *tfm)
{
	return crypto_aead_blocksize(tfm);
}

void kame_crypto_free_aead(struct crypto_aead *tfm)
{
	crypto_free_aead(tfm);
}

unsigned int kame_crypto_ahash_digestsize(struct crypto_ahash *tfm)
{
	return crypto_ahash_digestsize(tfm);
}

void kame_crypto_free_ahash(struct crypto_ahash *tfm)
{
	crypto_free_ahash(tfm);
}

struct aead_request *kame_aead_request_alloc(struct crypto_aead *tfm, gfp_t gfp)
{
	return aead_request_alloc(tfm, gfp);
}

void kame_aead_request_free(struct aead_request *req)
{
	aead_request_free(req);
}

/* One in-place operation over `sg`; `done` runs if it completes later. */
void kame_aead_request_set(struct aead_request *req, struct scatterlist *sg,
			   unsigned int assoclen, unsigned int cryptlen, u8 *iv,
			   void (*done)(void *data, int err), void *data)
{
	aead_request_set_callback(req, 0, done, data);
	aead_request_set_crypt(req, sg, sg, cryptlen, iv);
	aead_request_set_ad(req, assoclen);
}
