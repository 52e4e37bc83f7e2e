/* SPDX-License-Identifier: GPL-2.0 */
/*
 * describe.h - what a crypt filter spec means, for 'sluice disks': cipher,
 * key size, sector size and where the key comes from. A LUKS volume's
 * header is read (no key needed); the key is never read here.
 */
#ifndef SLUICE_CRYPT_DESCRIBE_H
#define SLUICE_CRYPT_DESCRIBE_H

#include <stdint.h>

struct crypt_desc {
	char format[8];			/* "plain", "LUKS1", "LUKS2" */
	char cipher[64];
	uint32_t key_bits;		/* 0: unknown (a LUKS header that cannot be read) */
	uint32_t sector_size;
	char source[1100];		/* "key file /k", "passphrase file /p", "keyring desc" */
};

/* Describe the crypt filter with @args ("k=v,...") over @backing. 0 or -errno. */
int crypt_describe(const char *args, const char *backing, struct crypt_desc *d);

#endif /* SLUICE_CRYPT_DESCRIBE_H */
