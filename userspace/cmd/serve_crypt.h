/* SPDX-License-Identifier: GPL-2.0 */
/*
 * serve_crypt.h - 'sluice serve' without a policy file: --encrypt,
 * --key-file, --passphrase-file, --header and cryptsetup's plain-mode
 * options become a "crypt:k=v,..." filter spec. The flags are taken out of
 * argv before serve's own parse, so serve.c keeps one call for them.
 */
#ifndef SLUICE_CMD_SERVE_CRYPT_H
#define SLUICE_CMD_SERVE_CRYPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct serve_crypt {
	const char *cipher;		/* --encrypt */
	const char *key_file;
	const char *passphrase_file;
	const char *header;
	const char *key_size, *sector_size, *iv_offset;
	bool iv_large_sectors;
	bool allow_discards;
	bool block_size_given;		/* --block-size was on the line (not taken) */
	bool any;			/* a crypt flag was given */
};

/*
 * Take the crypt flags out of argv (argc shrinks). Returns 1, or -EINVAL
 * after saying what is wrong.
 */
int serve_crypt_take(int *argc, char **argv, struct serve_crypt *sc);

/*
 * The spec for @backing into spec ("" when no crypt flag was given); a
 * LUKS header on the backing (or --header) is detected. *block_size is
 * raised to the encryption sector size when --block-size was not given.
 * 1, or -errno after saying what is wrong.
 */
int serve_crypt_spec(const struct serve_crypt *sc, const char *backing, bool recover,
		     uint32_t *block_size, char *spec, size_t len);

/* The lines of serve --help for these flags. */
void serve_crypt_usage(FILE *f);

#endif /* SLUICE_CMD_SERVE_CRYPT_H */
