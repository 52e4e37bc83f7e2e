// SPDX-License-Identifier: GPL-2.0
/*
 * serve_crypt.c - the crypt filter from serve's command line, with the
 * meaning of cryptsetup's options: a plain volume with --encrypt CIPHER
 * --key-file KEY, a LUKS volume (detected) with --key-file or
 * --passphrase-file. The spec keeps the key's absolute path, never the
 * key, so 'serve --recover' reads it from the same place again.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/args.h"
#include "cmd/serve_crypt.h"
#include "crypt/cipher.h"
#include "crypt/luks.h"
#include "lib/log.h"
#include "lib/macro.h"

enum { V_CIPHER, V_KEY_FILE, V_PASS_FILE, V_HEADER, V_KEY_SIZE, V_SECTOR_SIZE, V_IV_OFFSET,
       F_IV_LARGE, F_DISCARDS };

static const char *const flags[] = {
	[V_CIPHER] = "--encrypt", [V_KEY_FILE] = "--key-file",
	[V_PASS_FILE] = "--passphrase-file", [V_HEADER] = "--header",
	[V_KEY_SIZE] = "--key-size", [V_SECTOR_SIZE] = "--sector-size",
	[V_IV_OFFSET] = "--iv-offset", [F_IV_LARGE] = "--iv-large-sectors",
	[F_DISCARDS] = "--allow-discards",
};

void serve_crypt_usage(FILE *f)
{
	fprintf(f,
		"Encryption (dm-crypt compatible; docs/crypt.md):\n"
		"  --encrypt CIPHER    a plain dm-crypt volume: aes-xts-plain64, aes-xts-plain\n"
		"                      or aes-cbc-essiv:sha256 (cryptsetup open --type plain)\n"
		"  --key-file KEY      the raw key (plain) or LUKS key file; mode 600\n"
		"  --passphrase-file F a LUKS passphrase (its first line)\n"
		"  --header FILE       a detached LUKS header\n"
		"  --key-size BITS     plain: 256 or 512 for XTS (default 512)\n"
		"  --sector-size B     plain: 512 or 4096 (default 512; 4096 sets --block-size)\n"
		"  --iv-large-sectors  plain: the IV counts sectors, not 512-byte units\n"
		"  --iv-offset N       plain: added to the IV sector (512-byte units)\n"
		"  --allow-discards    pass discards down (off: they would show where data is)\n"
		"  A LUKS backing (cryptsetup luksFormat) is detected: give --key-file or\n"
		"  --passphrase-file; cipher and sector size come from its header.\n"
		"\n"
		"Examples:\n"
		"  sluice serve --backing disk.img --encrypt aes-xts-plain64 --key-file db.key \\\n"
		"      --sector-size 4096\n"
		"  sluice serve --backing luks.img --passphrase-file pass.txt\n"
		"  sluice serve --backing data.img --header luks.hdr --key-file db.key\n");
}

static int flag_index(const char *arg, const char **val)
{
	size_t i, n;

	*val = NULL;
	for (i = 0; i < ARRAY_SIZE(flags); i++) {
		n = strlen(flags[i]);
		if (strncmp(arg, flags[i], n))
			continue;
		if (arg[n] == '=' && i < F_IV_LARGE) {
			*val = arg + n + 1;
			return (int)i;
		}
		if (!arg[n])
			return (int)i;
	}
	return -1;
}

int serve_crypt_take(int *argc, char **argv, struct serve_crypt *sc)
{
	const char **slot[] = {
		[V_CIPHER] = &sc->cipher, [V_KEY_FILE] = &sc->key_file,
		[V_PASS_FILE] = &sc->passphrase_file, [V_HEADER] = &sc->header,
		[V_KEY_SIZE] = &sc->key_size, [V_SECTOR_SIZE] = &sc->sector_size,
		[V_IV_OFFSET] = &sc->iv_offset,
	};
	const char *val;
	int i, j = 1, idx;

	memset(sc, 0, sizeof(*sc));
	for (i = 1; i < *argc; i++) {
		if (!strcmp(argv[i], "--")) {
			while (i < *argc)
				argv[j++] = argv[i++];
			break;
		}
		if (!strcmp(argv[i], "--block-size") || !strncmp(argv[i], "--block-size=", 13))
			sc->block_size_given = true;
		idx = flag_index(argv[i], &val);
		if (idx < 0) {
			argv[j++] = argv[i];
			continue;
		}
		sc->any = true;
		if (idx == F_IV_LARGE) {
			sc->iv_large_sectors = true;
		} else if (idx == F_DISCARDS) {
			sc->allow_discards = true;
		} else if (val) {
			*slot[idx] = val;
		} else if (i + 1 < *argc) {
			*slot[idx] = argv[++i];
		} else {
			log_err("%s needs a value; see 'sluice serve --help'", flags[idx]);
			return -EINVAL;
		}
	}
	argv[j] = NULL;
	*argc = j;
	return 1;
}

/* Append ",key=value" (or "crypt:key=value" first); values must fit a spec word. */
static int add(char *spec, size_t len, size_t *used, const char *key, const char *val,
	       const char *flag)
{
	int n;

	if (strpbrk(val, " \t\n,=")) {
		log_err("%s '%s': a blank, ',' or '=' cannot be kept in the disk's state "
			"file; rename it", flag, val);
		return -EINVAL;
	}
	n = snprintf(spec + *used, len - *used, "%s%s=%s", *used ? "," : "crypt:", key, val);
	if (n < 0 || (size_t)n >= len - *used) {
		log_err("%s '%s': too long for the disk's state file", flag, val);
		return -ENAMETOOLONG;
	}
	*used += (size_t)n;
	return 0;
}

/* An absolute path: --recover may run from another directory. */
static int add_path(char *spec, size_t len, size_t *used, const char *key, const char *path,
		    const char *flag)
{
	char abs[PATH_MAX];

	if (!realpath(path, abs)) {
		log_err("%s '%s': %s; give an existing file", flag, path, strerror(errno));
		return -errno;
	}
	return add(spec, len, used, key, abs, flag);
}

static int check_plain(const struct serve_crypt *sc, const char *backing)
{
	struct crypt_params p;

	if (!sc->cipher) {
		log_err("%s has no LUKS header; give --encrypt CIPHER to serve it as a plain "
			"dm-crypt volume, or format it with 'cryptsetup luksFormat'", backing);
		return -EINVAL;
	}
	if (crypt_cipher_parse(sc->cipher, &p)) {
		log_err("--encrypt '%s': not a cipher sluice runs; use aes-xts-plain64, "
			"aes-xts-plain or aes-cbc-essiv:sha256", sc->cipher);
		return -EINVAL;
	}
	if (sc->passphrase_file || sc->header) {
		log_err("%s has no LUKS header: %s is for LUKS; a plain volume takes its raw "
			"key with --key-file", backing,
			sc->header ? "--header" : "--passphrase-file");
		return -EINVAL;
	}
	if (!sc->key_file) {
		log_err("--encrypt %s needs --key-file KEY (the raw key, as cryptsetup's plain "
			"mode)", sc->cipher);
		return -EINVAL;
	}
	return 0;
}

int serve_crypt_spec(const struct serve_crypt *sc, const char *backing, bool recover,
		     uint32_t *block_size, char *spec, size_t len)
{
	const char *where = sc->header ? sc->header : backing;
	size_t used = 0;
	uint32_t ss = 512;
	bool luks;
	int err;

	spec[0] = '\0';
	if (!sc->any)
		return 1;
	if (recover) {
		log_err("--recover takes the key from the source the disk was served with; "
			"give only --recover ID");
		return -EINVAL;
	}
	if (!backing)
		return 1;	/* serve's own parse says --backing is missing */
	if (sc->key_file && sc->passphrase_file) {
		log_err("--key-file and --passphrase-file: give one");
		return -EINVAL;
	}
	luks = luks_detect(where);
	if (!luks && sc->header) {
		log_err("--header '%s': no LUKS header there; give the file 'cryptsetup "
			"luksFormat --header' wrote", sc->header);
		return -EINVAL;
	}
	if (luks && !sc->key_file && !sc->passphrase_file) {
		log_err("%s is a LUKS volume; give --key-file or --passphrase-file to open it",
			where);
		return -EINVAL;
	}
	if (!luks && (err = check_plain(sc, backing)))
		return err;
	err = add(spec, len, &used, "format", luks ? "luks2" : "plain", "--encrypt");
	if (!err && sc->cipher)
		err = add(spec, len, &used, "cipher", sc->cipher, "--encrypt");
	if (!err && sc->key_size)
		err = add(spec, len, &used, "key_size", sc->key_size, "--key-size");
	if (!err && sc->sector_size) {
		err = add(spec, len, &used, "sector_size", sc->sector_size, "--sector-size");
		ss = (uint32_t)strtoul(sc->sector_size, NULL, 10);
	}
	if (!err && sc->iv_offset)
		err = add(spec, len, &used, "iv_offset", sc->iv_offset, "--iv-offset");
	if (!err && sc->iv_large_sectors)
		err = add(spec, len, &used, "iv_large_sectors", "true", "--iv-large-sectors");
	if (!err && sc->allow_discards)
		err = add(spec, len, &used, "allow_discards", "true", "--allow-discards");
	if (!err && sc->key_file)
		err = add_path(spec, len, &used, "key_file", sc->key_file, "--key-file");
	if (!err && sc->passphrase_file)
		err = add_path(spec, len, &used, "passphrase_file", sc->passphrase_file,
			       "--passphrase-file");
	if (!err && sc->header)
		err = add_path(spec, len, &used, "header", sc->header, "--header");
	if (err)
		return err;
	if (luks && !sc->sector_size)
		ss = luks_sector_size(where);
	if (!sc->block_size_given && ss > *block_size)
		*block_size = ss;
	return 1;
}
