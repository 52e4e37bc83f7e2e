// SPDX-License-Identifier: GPL-2.0
/*
 * crypt.c - encryption byte-compatible with dm-crypt: writes are encrypted
 * in place on the way down (the queue's buffer is a private copy), reads
 * decrypted in completion, one OpenSSL context pair per queue. Plain
 * volumes take a raw key (cryptsetup open --type plain); LUKS1/LUKS2
 * volumes are opened through libcryptsetup and the disk is their payload.
 *
 * Args (the policy's services: encrypt: keys, docs/crypt.md):
 *   format=plain|luks2|luks1   luks2 and luks1 both load any LUKS version
 *   cipher=aes-xts-plain64|aes-xts-plain|aes-cbc-essiv:sha256
 *   key_size=BITS sector_size=512|4096 iv_offset=N iv_large_sectors=true
 *   allow_discards=true
 *   key_file=PATH | passphrase_file=PATH | key_description=DESC
 *   header=PATH keyslot=N      (LUKS)
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "crypt/cipher.h"
#include "crypt/key.h"
#include "crypt/luks.h"
#include "filters/crypt.h"
#include "filters/filter.h"
#include "filters/registry.h"
#include "lib/units.h"

struct crypt_state {
	struct crypt_params p;
	struct crypt_secret key;	/* locked: p.key_bytes of volume key */
	struct crypt_ctx *ctx;		/* requests outside a queue (unit tests) */
	atomic_uint_fast64_t bytes_encrypted;
	atomic_uint_fast64_t bytes_decrypted;
	atomic_uint_fast64_t errors;
};

struct crypt_queue {
	struct crypt_ctx *ctx;
};

static char why[512];

const char *crypt_filter_error(void)
{
	return why;
}

__attribute__((format(printf, 2, 3)))
static int refuse(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return err;
}

/* The args of this filter as read from its spec. */
struct crypt_args {
	char format[8];
	char cipher[32];
	char key_file[1024];
	char passphrase_file[1024];
	char key_description[256];
	char header[1024];
	uint64_t key_size, sector_size, iv_offset, keyslot;
	bool has_cipher, has_key_size, has_sector_size, has_keyslot, iv_large, discards;
};

static int get_num(const struct filter_config *cfg, const char *key, enum unit_kind kind,
		   uint64_t *v, bool *has)
{
	char buf[32];
	int err;

	err = filter_config_get(cfg, key, buf, sizeof(buf));
	if (err == -ENOENT)
		return 0;
	if (err || units_parse_abs(kind, buf, v))
		return refuse(-EINVAL, "crypt: '%s=%s' is not a number", key, buf);
	if (has)
		*has = true;
	return 0;
}

static int get_bool(const struct filter_config *cfg, const char *key, bool *v)
{
	char buf[8];

	if (filter_config_get(cfg, key, buf, sizeof(buf)))
		return 0;
	if (strcmp(buf, "true") && strcmp(buf, "false"))
		return refuse(-EINVAL, "crypt: '%s=%s': say true or false", key, buf);
	*v = !strcmp(buf, "true");
	return 0;
}

static int get_str(const struct filter_config *cfg, const char *key, char *buf, size_t len,
		   bool *has)
{
	int err = filter_config_get(cfg, key, buf, len);

	if (err == -ENOENT) {
		buf[0] = '\0';
		return 0;
	}
	if (err)
		return refuse(-EINVAL, "crypt: '%s' is too long", key);
	if (has)
		*has = true;
	return 0;
}

static int parse_args(const struct filter_config *cfg, struct crypt_args *a)
{
	int err, sources;

	memset(a, 0, sizeof(*a));
	snprintf(a->format, sizeof(a->format), "luks2");
	snprintf(a->cipher, sizeof(a->cipher), "aes-xts-plain64");
	a->sector_size = 512;
	err = get_str(cfg, "format", a->format, sizeof(a->format), NULL);
	if (!a->format[0])
		snprintf(a->format, sizeof(a->format), "luks2");
	err = err ?: get_str(cfg, "cipher", a->cipher, sizeof(a->cipher), &a->has_cipher);
	if (!a->has_cipher)
		snprintf(a->cipher, sizeof(a->cipher), "aes-xts-plain64");
	err = err ?: get_str(cfg, "key_file", a->key_file, sizeof(a->key_file), NULL);
	err = err ?: get_str(cfg, "passphrase_file", a->passphrase_file,
			     sizeof(a->passphrase_file), NULL);
	err = err ?: get_str(cfg, "key_description", a->key_description,
			     sizeof(a->key_description), NULL);
	err = err ?: get_str(cfg, "header", a->header, sizeof(a->header), NULL);
	err = err ?: get_num(cfg, "key_size", UNIT_COUNT, &a->key_size, &a->has_key_size);
	err = err ?: get_num(cfg, "sector_size", UNIT_SIZE, &a->sector_size, &a->has_sector_size);
	err = err ?: get_num(cfg, "iv_offset", UNIT_COUNT, &a->iv_offset, NULL);
	err = err ?: get_num(cfg, "keyslot", UNIT_COUNT, &a->keyslot, &a->has_keyslot);
	err = err ?: get_bool(cfg, "iv_large_sectors", &a->iv_large);
	err = err ?: get_bool(cfg, "allow_discards", &a->discards);
	if (err)
		return err;
	if (strcmp(a->format, "plain") && strcmp(a->format, "luks2") && strcmp(a->format, "luks1"))
		return refuse(-EINVAL, "crypt: format '%s' is unknown; use plain, luks2 or luks1",
			      a->format);
	sources = !!a->key_file[0] + !!a->passphrase_file[0] + !!a->key_description[0];
	if (sources != 1)
		return refuse(-EINVAL, "crypt: give exactly one of key_file, passphrase_file and "
			      "key_description (%d given)", sources);
	/* dm-crypt's range: a power of two from 512 to 4096 */
	if (a->sector_size < 512 || a->sector_size > 4096 ||
	    (a->sector_size & (a->sector_size - 1)))
		return refuse(-EINVAL, "crypt: sector_size %" PRIu64 " is not 512, 1024, 2048 "
			      "or 4096", a->sector_size);
	return 0;
}

static int say_key_error(int err, const char *what, const char *path, mode_t mode)
{
	if (err == -EACCES)
		return refuse(err, "%s '%s' is readable by group or others (mode %04o); "
			      "run 'chmod 600 %s'", what, path, (unsigned int)mode, path);
	if (err == -EFBIG)
		return refuse(err, "%s '%s' is larger than %d bytes; give the key itself",
			      what, path, CRYPT_SECRET_MAX);
	if (err == -ENOKEY || err == -EKEYEXPIRED || err == -EKEYREVOKED)
		return refuse(err, "no key '%s' of type user in the kernel keyring; add it with "
			      "'keyctl padd user %s @u < KEYFILE'", path, path);
	return refuse(err, "%s '%s': %s; give an existing, readable file", what, path,
		      strerror(-err));
}

/* The secret named by the args: a raw key file, a passphrase file or the keyring. */
static int read_secret(const struct crypt_args *a, size_t max, struct crypt_secret *s)
{
	mode_t mode = 0;
	int err;

	if (a->key_file[0]) {
		err = crypt_key_file_read(a->key_file, max, s, &mode);
		return err ? say_key_error(err, "key file", a->key_file, mode) : 0;
	}
	if (a->passphrase_file[0]) {
		err = crypt_passphrase_file_read(a->passphrase_file, s, &mode);
		return err ? say_key_error(err, "passphrase file", a->passphrase_file, mode) : 0;
	}
	err = crypt_keyring_read(a->key_description, s);
	if (err)
		return say_key_error(err, "key", a->key_description, 0);
	if (max && s->len > max)
		s->len = max;
	return 0;
}

static int open_plain(struct crypt_state *st, const struct crypt_args *a)
{
	struct crypt_params *p = &st->p;
	int err;

	if (a->passphrase_file[0])
		return refuse(-EINVAL, "crypt: plain mode takes a raw key (key_file or "
			      "key_description), not passphrase_file '%s'; LUKS takes passphrases",
			      a->passphrase_file);
	if (a->header[0] || a->has_keyslot)
		return refuse(-EINVAL, "crypt: header and keyslot are for LUKS; plain has neither");
	if (crypt_cipher_parse(a->cipher, p))
		return refuse(-EINVAL, "crypt: cipher '%s' is not one sluice runs; use "
			      "aes-xts-plain64, aes-xts-plain or aes-cbc-essiv:sha256", a->cipher);
	p->key_bytes = (uint32_t)(a->has_key_size ? a->key_size / 8 :
				  p->mode == CRYPT_MODE_XTS ? 64 : 32);
	if (!crypt_key_size_fits(p) || (a->has_key_size && a->key_size % 8))
		return refuse(-EINVAL, "crypt: key_size %" PRIu64 " does not fit %s; use %s",
			      a->key_size, a->cipher,
			      p->mode == CRYPT_MODE_XTS ? "256 or 512" : "128, 192 or 256");
	p->sector_size = (uint32_t)a->sector_size;
	p->iv_offset = a->iv_offset;
	p->iv_large_sectors = a->iv_large;
	err = read_secret(a, p->key_bytes, &st->key);
	if (err)
		return err;
	if (st->key.len < p->key_bytes)
		return refuse(-EINVAL, "key %s '%s' holds %zu bytes; a %u-bit key needs %u",
			      a->key_file[0] ? "file" : "description",
			      a->key_file[0] ? a->key_file : a->key_description, st->key.len,
			      p->key_bytes * 8, p->key_bytes);
	return 0;
}

static const char *luks_source(const struct crypt_args *a)
{
	return a->key_file[0] ? a->key_file : a->passphrase_file[0] ? a->passphrase_file :
	       a->key_description;
}

static int open_luks(struct crypt_state *st, const struct crypt_args *a,
		     const struct filter_config *cfg, struct filter *f)
{
	const char *hdr = a->header[0] ? a->header : NULL;
	const char *where = hdr ? hdr : cfg->backing;
	struct crypt_secret pass = {};
	struct luks_volume *v;
	int err;

	if (!cfg->backing)
		return refuse(-EINVAL, "crypt: LUKS needs the backing's path");
	err = crypt_secret_alloc(&pass);
	if (err)
		return err;
	/* the volume key passes through here: the same locked page as the passphrase */
	v = (struct luks_volume *)(pass.data + CRYPT_SECRET_MAX - sizeof(*v));
	err = read_secret(a, CRYPT_SECRET_MAX - sizeof(*v), &pass);
	if (err)
		goto out;
	err = luks_open(cfg->backing, hdr, pass.data, pass.len,
			a->has_keyslot ? (int)a->keyslot : -1, v);
	if (err == -ENOTBLK) {
		err = refuse(-EINVAL, "%s: no LUKS header; format it with 'cryptsetup luksFormat', "
		       "give the detached one with header, or use format plain", where);
		goto out;
	}
	if (err == -EPERM || err == -ENOENT) {
		if (a->has_keyslot)
			refuse(-EPERM, "%s: '%s' opens no LUKS keyslot %" PRIu64 "; give the "
			       "right key or keyslot", where, luks_source(a), a->keyslot);
		else
			refuse(-EPERM, "%s: '%s' opens no LUKS keyslot; give the right key",
			       where, luks_source(a));
		err = -EPERM;
		goto out;
	}
	if (err == -EPROTONOSUPPORT) {
		err = refuse(-EINVAL, "%s: LUKS cipher '%s' is not one sluice runs (aes-xts-plain64, "
		       "aes-xts-plain, aes-cbc-essiv:sha256); open it with 'cryptsetup open'",
		       where, v->cipher);
		goto out;
	}
	if (err) {
		refuse(err, "%s: opening the LUKS volume failed: %s", where, strerror(-err));
		goto out;
	}
	if (a->has_cipher && strcmp(a->cipher, v->cipher)) {
		err = refuse(-EINVAL, "%s: cipher %s was asked for (--encrypt or the policy's "
			     "cipher), the %s header says %s; leave it out: the header decides",
			     where, a->cipher, v->type, v->cipher);
		goto out;
	}
	if (a->has_key_size && a->key_size != v->params.key_bytes * 8ull) {
		err = refuse(-EINVAL, "%s: key size %" PRIu64 " was asked for (--key-size or "
			     "the policy's key_size), the %s header says %u; leave it out: the "
			     "header decides", where, a->key_size, v->type,
			     v->params.key_bytes * 8);
		goto out;
	}
	if (a->has_sector_size && a->sector_size != v->params.sector_size) {
		err = refuse(-EINVAL, "%s: sector size %" PRIu64 " was asked for (--sector-size "
			     "or the policy's sector_size), the %s header says %u; leave it out: "
			     "the header decides", where, a->sector_size, v->type,
			     v->params.sector_size);
		goto out;
	}
	st->p = v->params;
	memcpy(st->key.data, v->key, v->params.key_bytes);
	st->key.len = v->params.key_bytes;
	f->data_offset = v->data_offset;
	err = 0;
out:
	crypt_secret_free(&pass);
	return err;
}

static void crypt_teardown(struct filter *f)
{
	struct crypt_state *st = f->priv;

	if (!st)
		return;
	crypt_ctx_free(st->ctx);
	crypt_secret_free(&st->key);
	OPENSSL_cleanse(&st->p, sizeof(st->p));
	free(st);
	f->priv = NULL;
}

static int crypt_init(struct filter *f, const struct filter_config *cfg)
{
	struct crypt_state *st;
	struct crypt_args *a;
	int err;

	why[0] = '\0';
	a = calloc(1, sizeof(*a));
	st = calloc(1, sizeof(*st));
	if (!a || !st) {
		free(a);
		free(st);
		return -ENOMEM;
	}
	f->priv = st;
	err = parse_args(cfg, a) ?: crypt_secret_alloc(&st->key);
	if (err)
		goto fail;
	err = strcmp(a->format, "plain") ? open_luks(st, a, cfg, f) : open_plain(st, a);
	if (err)
		goto fail;
	if (st->p.sector_size > cfg->block_size) {
		err = refuse(-EINVAL, "crypt: sector_size %u is larger than the disk's block size "
			     "%u; serve it with --block-size %u", st->p.sector_size,
			     cfg->block_size, st->p.sector_size);
		goto fail;
	}
	if (crypt_key_halves_equal(&st->p, st->key.data)) {
		err = refuse(-EINVAL, "key '%s': its two XTS halves are equal, which XTS forbids "
			     "(OpenSSL 3 refuses it); make a new random key, e.g. 'head -c %u "
			     "/dev/urandom > KEY'", luks_source(a), st->p.key_bytes);
		goto fail;
	}
	err = crypt_ctx_new(&st->ctx, &st->p, st->key.data);
	if (err) {
		refuse(err, "crypt: OpenSSL cannot set up %s with a %u-bit key",
		       crypt_cipher_name(&st->p), st->p.key_bytes * 8);
		goto fail;
	}
	if (!a->discards)
		f->refused_ops |= 1u << FILTER_OP_DISCARD;
	free(a);
	return 0;
fail:
	OPENSSL_cleanse(a, sizeof(*a));
	free(a);
	crypt_teardown(f);
	return err;
}

static int crypt_queue_init(struct filter *f, struct filter_queue *fq)
{
	struct crypt_queue *q = filter_queue_priv(f, fq);
	struct crypt_state *st = f->priv;

	return crypt_ctx_new(&q->ctx, &st->p, st->key.data);
}

static void crypt_queue_fini(struct filter *f, struct filter_queue *fq)
{
	struct crypt_queue *q = filter_queue_priv(f, fq);

	crypt_ctx_free(q->ctx);
	q->ctx = NULL;
}

static struct crypt_ctx *ctx_of(struct filter *f, struct filter_req *req)
{
	struct crypt_state *st = f->priv;

	if (!req->fq)
		return st->ctx;
	return ((struct crypt_queue *)filter_queue_priv(f, req->fq))->ctx;
}

static int crypt_write(struct filter *f, struct filter_req *req)
{
	struct crypt_state *st = f->priv;
	int err;

	err = crypt_ctx_encrypt(ctx_of(f, req), req->offset, req->buf, req->len);
	if (err) {
		atomic_fetch_add(&st->errors, 1);
		return err;
	}
	atomic_fetch_add(&st->bytes_encrypted, req->len);
	return FILTER_CONTINUE;
}

static int crypt_discard(struct filter *f, struct filter_req *req)
{
	int err;

	/* a DISCARD reaches here only with allow_discards (else the chain refuses it) */
	if (req->op != FILTER_OP_WRITE_ZEROES)
		return FILTER_CONTINUE;
	err = filter_zeroes_to_write(req);
	if (err)
		return err;
	return crypt_write(f, req);
}

static int crypt_completion(struct filter *f, struct filter_req *req)
{
	struct crypt_state *st = f->priv;
	uint32_t len;
	int err;

	if (req->op != FILTER_OP_READ || req->result <= 0)
		return FILTER_CONTINUE;
	len = (uint32_t)req->result / st->p.sector_size * st->p.sector_size;
	err = crypt_ctx_decrypt(ctx_of(f, req), req->offset, req->buf, len);
	if (err) {
		atomic_fetch_add(&st->errors, 1);
		req->result = err;
		return FILTER_CONTINUE;
	}
	atomic_fetch_add(&st->bytes_decrypted, len);
	return FILTER_CONTINUE;
}

static int crypt_stats(struct filter *f, struct filter_stat *st, int max)
{
	struct crypt_state *s = f->priv;
	int n = 0;

	if (n < max)
		st[n++] = (struct filter_stat){ "bytes_encrypted", atomic_load(&s->bytes_encrypted) };
	if (n < max)
		st[n++] = (struct filter_stat){ "bytes_decrypted", atomic_load(&s->bytes_decrypted) };
	if (n < max)
		st[n++] = (struct filter_stat){ "errors", atomic_load(&s->errors) };
	return n;
}

const struct filter_ops crypt_filter_ops = {
	.name = "crypt",
	.queue_priv_size = sizeof(struct crypt_queue),
	.init = crypt_init,
	.queue_init = crypt_queue_init,
	.queue_fini = crypt_queue_fini,
	.write = crypt_write,
	.discard = crypt_discard,
	.completion = crypt_completion,
	.stats = crypt_stats,
	.teardown = crypt_teardown,
};
