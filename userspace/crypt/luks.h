/* SPDX-License-Identifier: GPL-2.0 */
/*
 * luks.h - opening a LUKS1 or LUKS2 volume through libcryptsetup: the
 * volume key from a keyslot, and what dm-crypt would be told (cipher, key
 * size, payload offset, sector size, IV offset). sluice never writes a
 * header; 'cryptsetup luksFormat' does.
 */
#ifndef SLUICE_CRYPT_LUKS_H
#define SLUICE_CRYPT_LUKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypt/cipher.h"

struct luks_volume {
	char type[8];			/* "LUKS1" or "LUKS2" */
	char cipher[64];		/* dm-crypt's name: "aes-xts-plain64" */
	struct crypt_params params;	/* mode and iv left unset when cipher is not ours */
	uint64_t data_offset;		/* bytes of header before the payload */
	int keyslot;			/* the one that opened */
	uint8_t key[CRYPT_KEY_MAX];	/* the volume key, params.key_bytes of it */
};

/* Is @path (a header or a volume) a LUKS header libcryptsetup can load? */
bool luks_detect(const char *path);

/* The encryption sector size @path's LUKS header says (512 when none). */
uint32_t luks_sector_size(const char *path);

/*
 * What @path's LUKS header says, without a key: "LUKS2", dm-crypt's cipher
 * name, key bits, sector size. -ENOTBLK when there is no header.
 */
int luks_header_info(const char *path, char *type, size_t type_len, char *cipher,
		     size_t cipher_len, uint32_t *key_bits, uint32_t *sector_size);

/*
 * Open the volume on @backing (header on it, or on @header when detached,
 * NULL otherwise) with @pass (@pass_len bytes) in @keyslot (-1: any).
 * Returns 0; -ENOTBLK when there is no LUKS header; -EPERM when the
 * passphrase opens no keyslot (or not @keyslot); -ENOENT no such keyslot;
 * -EPROTONOSUPPORT a cipher sluice cannot run (v->cipher names it); -errno.
 * The caller wipes v->key (OPENSSL_cleanse) and may keep v in locked memory.
 */
int luks_open(const char *backing, const char *header, const uint8_t *pass, size_t pass_len,
	      int keyslot, struct luks_volume *v);

#endif /* SLUICE_CRYPT_LUKS_H */
