// SPDX-License-Identifier: GPL-2.0
/*
 * crypt.c - the encryption service: services: encrypt: in a policy, the
 * 'crypt' filter on the disk. Byte-compatible with dm-crypt: the names and
 * meanings are cryptsetup's (docs/policy.md, "Data services").
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/macro.h"
#include "loader/policy.h"
#include "loader/service.h"

enum {
	CRYPT_FORMAT,
	CRYPT_CIPHER,
	CRYPT_KEY_SIZE,
	CRYPT_SECTOR_SIZE,
	CRYPT_IV_OFFSET,
	CRYPT_KEY_FILE,
	CRYPT_HEADER,
	CRYPT_KEYSLOT,
	CRYPT_IV_LARGE,
	CRYPT_DISCARDS,
	CRYPT_PASS_FILE,
	CRYPT_KEY_DESC,
};

/* luks2 opens LUKS1 too (libcryptsetup reads either); luks1 says so in the policy */
static const char *const formats[] = { "luks2", "luks1", "plain", NULL };
static const char *const booleans[] = { "false", "true", NULL };

/* What OpenSSL's EVP API runs in the server; dm-crypt's spelling. */
static const char *const ciphers[] = { "aes-xts-plain64", "aes-cbc-essiv:sha256",
				       "aes-xts-plain", NULL };

/* dm-crypt runs these, sluice cannot: say so instead of "unknown cipher". */
static const struct svc_refusal retired_ciphers[] = {
	{ "serpent-xts-plain64", "sluice encrypts with OpenSSL, which has no Serpent; "
	  "open such a volume with dm-crypt (cryptsetup open)" },
	{ "twofish-xts-plain64", "sluice encrypts with OpenSSL, which has no Twofish; "
	  "open such a volume with dm-crypt (cryptsetup open)" },
	{ NULL, NULL },
};

static const struct svc_param crypt_params[] = {
	[CRYPT_FORMAT] = { "format", SVC_ENUM, .dflt = "luks2", .vals = formats },
	/*
	 * cipher, key_size and sector_size: a LUKS header says them, so a
	 * policy names them only to insist (the filter refuses a header that
	 * differs); plain volumes get their defaults from crypt_check().
	 */
	[CRYPT_CIPHER] = { "cipher", SVC_ENUM, .vals = ciphers, .refused = retired_ciphers },
	[CRYPT_KEY_SIZE] = { "key_size", SVC_COUNT, .min = 128, .max = 512 },
	[CRYPT_SECTOR_SIZE] = { "sector_size", SVC_SIZE, .min = 512, .max = 4096, .pow2 = true },
	[CRYPT_IV_OFFSET] = { "iv_offset", SVC_COUNT, .dflt = "0", .max = UINT64_MAX },
	/* one key source of three: key_file, passphrase_file, key_description */
	[CRYPT_KEY_FILE] = { "key_file", SVC_PATH },
	[CRYPT_HEADER] = { "header", SVC_PATH },
	[CRYPT_KEYSLOT] = { "keyslot", SVC_COUNT, .max = 31 },
	/* cryptsetup's --iv-large-sectors and --allow-discards */
	[CRYPT_IV_LARGE] = { "iv_large_sectors", SVC_ENUM, .vals = booleans },
	[CRYPT_DISCARDS] = { "allow_discards", SVC_ENUM, .vals = booleans },
	[CRYPT_PASS_FILE] = { "passphrase_file", SVC_PATH },
	/* a "user" key in the kernel keyring, as cryptsetup's --key-description */
	[CRYPT_KEY_DESC] = { "key_description", SVC_TEXT },
};

static void check_key_file(struct svc_check *sc, const struct pol_service *s,
			   unsigned int need_bytes)
{
	const char *path = svc_str(s, CRYPT_KEY_FILE);
	struct stat st;
	int fd;

	if (!sc->opts->resolve || !path)
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		policy_diag_at(sc->d, svc_at(s, CRYPT_KEY_FILE), "key file '%s' is unreadable: %s",
			       path, strerror(errno));
		return;
	}
	if (fstat(fd, &st))
		st.st_mode = 0;
	if (S_ISREG(st.st_mode) && (st.st_mode & (S_IRGRP | S_IROTH)))
		policy_diag_at(sc->d, svc_at(s, CRYPT_KEY_FILE),
			       "key file '%s' is readable by group or others (mode %04o); run "
			       "'chmod 600 %s'", path, (unsigned int)(st.st_mode & 07777), path);
	else if (S_ISREG(st.st_mode) && need_bytes && (uint64_t)st.st_size < need_bytes)
		policy_diag_at(sc->d, svc_at(s, CRYPT_KEY_FILE),
			       "key file '%s' holds %lld bytes; the key needs %u", path,
			       (long long)st.st_size, need_bytes);
	close(fd);
}

static int key_sources(const struct pol_service *s)
{
	return !!svc_at(s, CRYPT_KEY_FILE) + !!svc_at(s, CRYPT_PASS_FILE) +
	       !!svc_at(s, CRYPT_KEY_DESC);
}

/* plain: cryptsetup's plain-mode defaults; a key, never a passphrase. */
static void check_plain(struct svc_check *sc, struct pol_service *s)
{
	if (!svc_str(s, CRYPT_CIPHER) &&
	    svc_set_str(s, CRYPT_CIPHER, "aes-xts-plain64", NULL))
		sc->nomem = -ENOMEM;
	if (!svc_str(s, CRYPT_SECTOR_SIZE) &&
	    svc_set_num(&crypt_service_ops, s, CRYPT_SECTOR_SIZE, 512))
		sc->nomem = -ENOMEM;
	if (svc_at(s, CRYPT_HEADER))
		policy_diag_at(sc->d, svc_at(s, CRYPT_HEADER),
			       "'header' is for format luks2; plain has no header");
	if (svc_at(s, CRYPT_KEYSLOT))
		policy_diag_at(sc->d, svc_at(s, CRYPT_KEYSLOT),
			       "'keyslot' is for format luks2; plain has no key slots");
	if (svc_at(s, CRYPT_PASS_FILE))
		policy_diag_at(sc->d, svc_at(s, CRYPT_PASS_FILE),
			       "'passphrase_file' is for format luks2; plain takes a raw key "
			       "(key_file or key_description)");
	check_key_file(sc, s, (unsigned int)(s->v[CRYPT_KEY_SIZE].num / 8));
}

static void crypt_check(struct svc_check *sc, struct pol_service *s)
{
	const char *fmt = svc_str(s, CRYPT_FORMAT);
	bool plain = fmt && !strcmp(fmt, "plain");
	const char *cipher = svc_str(s, CRYPT_CIPHER) ? svc_str(s, CRYPT_CIPHER) :
			     plain ? "aes-xts-plain64" : NULL;
	bool xts = !cipher || strstr(cipher, "-xts-");
	const struct pnode *ks = svc_at(s, CRYPT_KEY_SIZE);
	uint64_t bits = s->v[CRYPT_KEY_SIZE].num;
	bool fits = xts ? bits == 256 || bits == 512 : bits == 128 || bits == 192 || bits == 256;
	const char *hdr;

	if (key_sources(s) != 1)
		policy_diag_at(sc->d, s->at, "give exactly one of 'key_file', 'passphrase_file' "
			       "and 'key_description'");
	if (svc_str(s, CRYPT_KEY_SIZE) && !fits)
		policy_diag_at(sc->d, ks, "'key_size' %" PRIu64 " does not fit %s; use %s", bits,
			       cipher ? cipher : "aes-xts", xts ? "256 or 512" : "128, 192 or 256");
	/* a LUKS header says the key size; plain needs one */
	if ((plain || svc_str(s, CRYPT_KEY_SIZE)) && (!svc_str(s, CRYPT_KEY_SIZE) || !fits) &&
	    svc_set_num(&crypt_service_ops, s, CRYPT_KEY_SIZE, xts ? 512 : 256)) {
		sc->nomem = -ENOMEM;
		return;
	}
	if (plain) {
		check_plain(sc, s);
		return;
	}
	/* LUKS reads cipher and key size from the header; a passphrase file has any size */
	check_key_file(sc, s, 0);
	hdr = svc_str(s, CRYPT_HEADER);
	if (sc->opts->resolve && hdr && access(hdr, R_OK))
		policy_diag_at(sc->d, svc_at(s, CRYPT_HEADER), "LUKS2 header '%s' is unreadable: %s",
			       hdr, strerror(errno));
}

const struct service_ops crypt_service_ops = {
	.key = "encrypt",
	.filter = "crypt",
	.params = crypt_params,
	.nr_params = ARRAY_SIZE(crypt_params),
	.check = crypt_check,
};
