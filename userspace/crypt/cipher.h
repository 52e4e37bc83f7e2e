/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cipher.h - dm-crypt's sector encryption through OpenSSL's EVP API: the
 * cipher names cryptsetup uses, dm-crypt's IVs, and one context per queue
 * that encrypts or decrypts a run of sectors in place without allocating.
 *
 * IVs as dm-crypt computes them (drivers/md/dm-crypt.c): the IV sector is
 * the 512-byte sector of the data plus iv_offset, shifted down to units of
 * the encryption sector with iv_large_sectors;
 *   plain    the IV sector's low 32 bits, little endian, zero padded
 *   plain64  the IV sector, 64 bits little endian, zero padded
 *   essiv    plain64 encrypted with AES-ECB keyed by sha256(volume key)
 */
#ifndef SLUICE_CRYPT_CIPHER_H
#define SLUICE_CRYPT_CIPHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRYPT_KEY_MAX		64	/* bytes: aes-256-xts */
#define CRYPT_IV_LEN		16

enum crypt_iv_mode {
	CRYPT_IV_PLAIN,
	CRYPT_IV_PLAIN64,
	CRYPT_IV_ESSIV,
};

enum crypt_mode {
	CRYPT_MODE_XTS,
	CRYPT_MODE_CBC,
};

/* How a volume is encrypted: what dm-crypt's table line says. */
struct crypt_params {
	enum crypt_mode mode;
	enum crypt_iv_mode iv;
	uint32_t key_bytes;		/* the whole key: both XTS halves */
	uint32_t sector_size;		/* 512..4096, a power of two */
	bool iv_large_sectors;		/* IV counts sectors, not 512-byte units */
	uint64_t iv_offset;		/* 512-byte units, added before the shift */
};

/*
 * Parse a dm-crypt cipher name ("aes-xts-plain64", "aes-xts-plain",
 * "aes-cbc-essiv:sha256") into p->mode and p->iv. -EINVAL for another.
 */
int crypt_cipher_parse(const char *name, struct crypt_params *p);
/* dm-crypt's name of p's cipher, for messages and 'sluice disks'. */
const char *crypt_cipher_name(const struct crypt_params *p);
/* Does key_bytes fit the cipher (XTS 32 or 64, CBC 16, 24 or 32)? */
bool crypt_key_size_fits(const struct crypt_params *p);
/* An XTS key whose halves are equal (OpenSSL 3 refuses such a key). */
bool crypt_key_halves_equal(const struct crypt_params *p, const uint8_t *key);

/* The IV sector of the encryption sector at byte @offset of the volume. */
uint64_t crypt_iv_sector(const struct crypt_params *p, uint64_t offset);

/* One direction-pair of contexts: per queue, never shared between threads. */
struct crypt_ctx;

/* Set up contexts for p with @key (p->key_bytes). 0, -EINVAL, -ENOMEM. */
int crypt_ctx_new(struct crypt_ctx **out, const struct crypt_params *p, const uint8_t *key);
/* Takes NULL. The key schedules are wiped by OpenSSL. */
void crypt_ctx_free(struct crypt_ctx *c);

/* The IV of IV sector @sector into iv[CRYPT_IV_LEN]. */
int crypt_ctx_iv(struct crypt_ctx *c, uint64_t sector, uint8_t *iv);

/*
 * Encrypt (or decrypt) @len bytes at @buf in place, the data of the volume
 * at byte @offset: whole encryption sectors, aligned. 0, -EINVAL (not
 * aligned), -EIO (OpenSSL failed).
 */
int crypt_ctx_encrypt(struct crypt_ctx *c, uint64_t offset, void *buf, size_t len);
int crypt_ctx_decrypt(struct crypt_ctx *c, uint64_t offset, void *buf, size_t len);

#endif /* SLUICE_CRYPT_CIPHER_H */
