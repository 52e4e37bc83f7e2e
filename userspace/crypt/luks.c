// SPDX-License-Identifier: GPL-2.0
/*
 * luks.c - LUKS through libcryptsetup (2.x): crypt_load reads either
 * version; crypt_volume_key_get runs the keyslot's PBKDF and returns the
 * volume key without activating anything in the kernel.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libcryptsetup.h>
#include <openssl/crypto.h>

#include "crypt/luks.h"

/* Library code does not log: libcryptsetup's messages are dropped. */
static void quiet(int level, const char *msg, void *usrptr)
{
}

static int load(struct crypt_device **cd, const char *backing, const char *header)
{
	int err;

	crypt_set_log_callback(NULL, quiet, NULL);
	err = header ? crypt_init_data_device(cd, header, backing) : crypt_init(cd, backing);
	if (err)
		return err;
	crypt_set_log_callback(*cd, quiet, NULL);
	err = crypt_load(*cd, CRYPT_LUKS, NULL);
	if (err) {
		crypt_free(*cd);
		*cd = NULL;
		return -ENOTBLK;
	}
	return 0;
}

bool luks_detect(const char *path)
{
	struct crypt_device *cd;

	if (load(&cd, path, NULL))
		return false;
	crypt_free(cd);
	return true;
}

uint32_t luks_sector_size(const char *path)
{
	struct crypt_device *cd;
	int ss;

	if (load(&cd, path, NULL))
		return 512;
	ss = crypt_get_sector_size(cd);
	crypt_free(cd);
	return ss > 0 ? (uint32_t)ss : 512;
}

int luks_header_info(const char *path, char *type, size_t type_len, char *cipher,
		     size_t cipher_len, uint32_t *key_bits, uint32_t *sector_size)
{
	struct crypt_device *cd;
	int ss;

	if (load(&cd, path, NULL))
		return -ENOTBLK;
	snprintf(type, type_len, "%s", crypt_get_type(cd));
	snprintf(cipher, cipher_len, "%s-%s", crypt_get_cipher(cd), crypt_get_cipher_mode(cd));
	*key_bits = (uint32_t)crypt_get_volume_key_size(cd) * 8;
	ss = crypt_get_sector_size(cd);
	*sector_size = ss > 0 ? (uint32_t)ss : 512;
	crypt_free(cd);
	return 0;
}

int luks_open(const char *backing, const char *header, const uint8_t *pass, size_t pass_len,
	      int keyslot, struct luks_volume *v)
{
	struct crypt_params *p = &v->params;
	struct crypt_device *cd;
	size_t vk_len = sizeof(v->key);
	int err, ks, ss;

	memset(v, 0, sizeof(*v));
	err = load(&cd, backing, header);
	if (err)
		return err;
	snprintf(v->type, sizeof(v->type), "%s", crypt_get_type(cd));
	snprintf(v->cipher, sizeof(v->cipher), "%s-%s", crypt_get_cipher(cd),
		 crypt_get_cipher_mode(cd));
	v->data_offset = crypt_get_data_offset(cd) * 512;
	ss = crypt_get_sector_size(cd);
	p->sector_size = ss > 0 ? (uint32_t)ss : 512;
	p->iv_offset = crypt_get_iv_offset(cd);
	/*
	 * cryptsetup activates LUKS2 segments without iv_large_sectors: with
	 * 4 KiB sectors the IV still counts 512-byte units (0, 8, 16, ...):
	 * tests/vm/crypt.bats reads a 4 KiB LUKS2 volume written by
	 * cryptsetup 2.6 and the other way round. LUKS1 has only 512-byte
	 * sectors.
	 */
	p->iv_large_sectors = false;
	if (crypt_get_volume_key_size(cd) > (int)sizeof(v->key)) {
		err = -EPROTONOSUPPORT;
		goto out;
	}
	if (crypt_cipher_parse(v->cipher, p)) {
		err = -EPROTONOSUPPORT;
		goto out;
	}
	ks = crypt_volume_key_get(cd, keyslot, (char *)v->key, &vk_len, (const char *)pass,
				  pass_len);
	if (ks < 0) {
		err = ks;
		goto out;
	}
	v->keyslot = ks;
	p->key_bytes = (uint32_t)vk_len;
	err = 0;
out:
	if (err)
		OPENSSL_cleanse(v->key, sizeof(v->key));
	crypt_free(cd);
	return err;
}
