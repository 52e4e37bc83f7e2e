// SPDX-License-Identifier: GPL-2.0
/*
 * cipher.c - dm-crypt's sector encryption with OpenSSL EVP contexts set up
 * once per queue: per sector only the IV changes (EVP_CipherInit_ex2 with
 * no cipher and no key keeps the key schedule), so the data path never
 * allocates or expands a key.
 *
 * Setting the IV through EVP_CipherInit_ex2 costs about 75 ns a sector
 * (OpenSSL 3.0: the EVP layer's checks and the provider's init), 12% of
 * a 4 KiB XTS sector on AES-NI, and OpenSSL 3.0 has no settable IV
 * parameter for XTS. Its providers keep the IV each update starts from in
 * the buffer EVP_CIPHER_CTX_iv_noconst() points to (OSSL_CIPHER_PARAM_
 * UPDATED_IV as a pointer), so writing the next IV there is enough. That is
 * not a documented contract: iv_direct() proves it per context at setup,
 * against the documented path, and without proof every sector takes the
 * documented path.
 */
/* EVP_CIPHER_CTX_iv_noconst() is deprecated in OpenSSL 3.0 (see above) */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "crypt/cipher.h"

struct crypt_ctx {
	struct crypt_params p;
	unsigned int shift;		/* log2(sector_size / 512) with iv_large_sectors */
	EVP_CIPHER_CTX *enc;
	EVP_CIPHER_CTX *dec;
	EVP_CIPHER_CTX *essiv;		/* AES-256-ECB keyed by sha256(key) */
	uint8_t *enc_iv, *dec_iv;	/* the IV updates start from; NULL: set by init */
};

static const struct {
	const char *name;
	enum crypt_mode mode;
	enum crypt_iv_mode iv;
} names[] = {
	{ "aes-xts-plain64", CRYPT_MODE_XTS, CRYPT_IV_PLAIN64 },
	{ "aes-xts-plain", CRYPT_MODE_XTS, CRYPT_IV_PLAIN },
	{ "aes-cbc-essiv:sha256", CRYPT_MODE_CBC, CRYPT_IV_ESSIV },
};

int crypt_cipher_parse(const char *name, struct crypt_params *p)
{
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(names[i].name, name)) {
			p->mode = names[i].mode;
			p->iv = names[i].iv;
			return 0;
		}
	}
	return -EINVAL;
}

const char *crypt_cipher_name(const struct crypt_params *p)
{
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].mode == p->mode && names[i].iv == p->iv)
			return names[i].name;
	return "?";
}

bool crypt_key_size_fits(const struct crypt_params *p)
{
	if (p->mode == CRYPT_MODE_XTS)
		return p->key_bytes == 32 || p->key_bytes == 64;
	return p->key_bytes == 16 || p->key_bytes == 24 || p->key_bytes == 32;
}

bool crypt_key_halves_equal(const struct crypt_params *p, const uint8_t *key)
{
	uint32_t half = p->key_bytes / 2;

	return p->mode == CRYPT_MODE_XTS && !CRYPTO_memcmp(key, key + half, half);
}

static unsigned int sector_shift(const struct crypt_params *p)
{
	unsigned int s = 0;

	while ((512u << s) < p->sector_size)
		s++;
	return s;
}

uint64_t crypt_iv_sector(const struct crypt_params *p, uint64_t offset)
{
	uint64_t s = (offset >> 9) + p->iv_offset;

	return p->iv_large_sectors ? s >> sector_shift(p) : s;
}

static const EVP_CIPHER *evp_cipher(const struct crypt_params *p)
{
	if (p->mode == CRYPT_MODE_XTS)
		return p->key_bytes == 64 ? EVP_aes_256_xts() : EVP_aes_128_xts();
	switch (p->key_bytes) {
	case 16:
		return EVP_aes_128_cbc();
	case 24:
		return EVP_aes_192_cbc();
	default:
		return EVP_aes_256_cbc();
	}
}

static EVP_CIPHER_CTX *ctx_keyed(const EVP_CIPHER *cipher, const uint8_t *key, int enc)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

	if (!ctx)
		return NULL;
	if (!EVP_CipherInit_ex2(ctx, cipher, key, NULL, enc, NULL) ||
	    !EVP_CIPHER_CTX_set_padding(ctx, 0)) {
		EVP_CIPHER_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/*
 * The IV buffer of @ctx if writing an IV there is proven to act as
 * EVP_CipherInit_ex2 with that IV, for two IVs in a row; else NULL.
 */
static uint8_t *iv_direct(EVP_CIPHER_CTX *ctx, const EVP_CIPHER *cipher, const uint8_t *key,
			  int enc)
{
	uint8_t iv[CRYPT_IV_LEN] = { 0 }, want[64], got[64];
	EVP_CIPHER_CTX *ref = NULL;
	uint8_t *buf, *ok = NULL;
	int i, lw, lg;

	/* an IV set once the documented way: the provider refuses updates before */
	if (EVP_CIPHER_CTX_get_iv_length(ctx) != CRYPT_IV_LEN ||
	    !EVP_CipherInit_ex2(ctx, NULL, NULL, iv, -1, NULL))
		return NULL;
	buf = EVP_CIPHER_CTX_iv_noconst(ctx);
	if (!buf)
		return NULL;
	ref = EVP_CIPHER_CTX_new();
	if (!ref || !EVP_CipherInit_ex2(ref, cipher, key, NULL, enc, NULL) ||
	    !EVP_CIPHER_CTX_set_padding(ref, 0))
		goto out;
	for (i = 0; i < 2; i++) {
		memset(want, 0x5a + i, sizeof(want));
		memcpy(got, want, sizeof(got));
		iv[0] = (uint8_t)(0x11 * (i + 1));
		iv[15] = (uint8_t)(0x80 >> i);
		memcpy(buf, iv, CRYPT_IV_LEN);
		if (!EVP_CipherInit_ex2(ref, NULL, NULL, iv, -1, NULL) ||
		    !EVP_CipherUpdate(ref, want, &lw, want, sizeof(want)) ||
		    !EVP_CipherUpdate(ctx, got, &lg, got, sizeof(got)) || lw != lg ||
		    memcmp(want, got, sizeof(got)))
			goto out;
	}
	ok = buf;
out:
	EVP_CIPHER_CTX_free(ref);
	return ok;
}

void crypt_ctx_free(struct crypt_ctx *c)
{
	if (!c)
		return;
	EVP_CIPHER_CTX_free(c->enc);
	EVP_CIPHER_CTX_free(c->dec);
	EVP_CIPHER_CTX_free(c->essiv);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

int crypt_ctx_new(struct crypt_ctx **out, const struct crypt_params *p, const uint8_t *key)
{
	uint8_t salt[SHA256_DIGEST_LENGTH];
	struct crypt_ctx *c;
	int err = -EINVAL;

	*out = NULL;
	if (!crypt_key_size_fits(p) || crypt_key_halves_equal(p, key))
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->p = *p;
	c->shift = p->iv_large_sectors ? sector_shift(p) : 0;
	c->enc = ctx_keyed(evp_cipher(p), key, 1);
	c->dec = ctx_keyed(evp_cipher(p), key, 0);
	if (!c->enc || !c->dec)
		goto fail;
	c->enc_iv = iv_direct(c->enc, evp_cipher(p), key, 1);
	c->dec_iv = iv_direct(c->dec, evp_cipher(p), key, 0);
	if (p->iv == CRYPT_IV_ESSIV) {
		if (!SHA256(key, p->key_bytes, salt))
			goto fail;
		c->essiv = ctx_keyed(EVP_aes_256_ecb(), salt, 1);
		OPENSSL_cleanse(salt, sizeof(salt));
		if (!c->essiv)
			goto fail;
	}
	*out = c;
	return 0;
fail:
	crypt_ctx_free(c);
	return err;
}

int crypt_ctx_iv(struct crypt_ctx *c, uint64_t sector, uint8_t *iv)
{
	int i, outl;

	memset(iv, 0, CRYPT_IV_LEN);
	if (c->p.iv == CRYPT_IV_PLAIN)
		sector &= 0xffffffffu;
	for (i = 0; i < 8; i++)
		iv[i] = (uint8_t)(sector >> (8 * i));
	if (c->p.iv != CRYPT_IV_ESSIV)
		return 0;
	if (!EVP_EncryptUpdate(c->essiv, iv, &outl, iv, CRYPT_IV_LEN) || outl != CRYPT_IV_LEN)
		return -EIO;
	return 0;
}

static int convert(struct crypt_ctx *c, EVP_CIPHER_CTX *ctx, uint8_t *iv_buf, uint64_t offset,
		   uint8_t *buf, size_t len)
{
	uint32_t ss = c->p.sector_size;
	uint64_t sector = (offset >> 9) + c->p.iv_offset;
	uint64_t step = c->shift ? 1 : ss >> 9;
	uint8_t iv[CRYPT_IV_LEN];
	size_t done;
	int outl, err;

	if ((offset | len) & (ss - 1))
		return -EINVAL;
	sector >>= c->shift;
	for (done = 0; done < len; done += ss, sector += step) {
		err = crypt_ctx_iv(c, sector, iv);
		if (err)
			return err;
		if (iv_buf)
			memcpy(iv_buf, iv, CRYPT_IV_LEN);
		else if (!EVP_CipherInit_ex2(ctx, NULL, NULL, iv, -1, NULL))
			return -EIO;
		if (!EVP_CipherUpdate(ctx, buf + done, &outl, buf + done, (int)ss) ||
		    (uint32_t)outl != ss)
			return -EIO;
	}
	return 0;
}

int crypt_ctx_encrypt(struct crypt_ctx *c, uint64_t offset, void *buf, size_t len)
{
	return convert(c, c->enc, c->enc_iv, offset, buf, len);
}

int crypt_ctx_decrypt(struct crypt_ctx *c, uint64_t offset, void *buf, size_t len)
{
	return convert(c, c->dec, c->dec_iv, offset, buf, len);
}
