// SPDX-License-Identifier: GPL-2.0
/*
 * The crypt filter's pieces: the IEEE 1619 XTS-AES vectors through the
 * same context code the queues use, dm-crypt's sector-to-IV rules (512 and
 * 4096-byte sectors, IV in 512-byte units or per sector, iv_offset,
 * plain's 32 bits), the ESSIV IV and an aes-cbc-essiv:sha256 sector
 * computed with the openssl CLI, equal XTS halves, and the filter on a
 * chain over a byte array: round trips, ciphertext on the "backing",
 * WRITE_ZEROES, refused discards, key-file rules.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cmocka.h>
#include <linux/keyctl.h>

#include "crypt/cipher.h"
#include "filters/chain.h"
#include "filters/crypt.h"
#include "filters/registry.h"
#include "tmpdir.h"

/* IEEE P1619 vector 4: XTS-AES-128, data unit 0, 512 bytes of i % 256. */
static const char v4_key[] = "27182818284590452353602874713526"
			     "31415926535897932384626433832795";
static const char v4_ctx[] =
	"27a7479befa1d476489f308cd4cfa6e2a96e4bbe3208ff25287dd3819616e89c"
	"c78cf7f5e543445f8333d8fa7f56000005279fa5d8b5e4ad40e736ddb4d35412"
	"328063fd2aab53e5ea1e0a9f332500a5df9487d07a5c92cc512c8866c7e860ce"
	"93fdf166a24912b422976146ae20ce846bb7dc9ba94a767aaef20c0d61ad0265"
	"5ea92dc4c4e41a8952c651d33174be51a10c421110e6d81588ede82103a252d8"
	"a750e8768defffed9122810aaeb99f9172af82b604dc4b8e51bcb08235a6f434"
	"1332e4ca60482a4ba1a03b3e65008fc5da76b70bf1690db4eae29c5f1badd03c"
	"5ccf2a55d705ddcd86d449511ceb7ec30bf12b1fa35b913f9f747a8afd1b130e"
	"94bff94effd01a91735ca1726acd0b197c4e5b03393697e126826fb6bbde8ecc"
	"1e08298516e2c9ed03ff3c1b7860f6de76d4cecd94c8119855ef5297ca67e9f3"
	"e7ff72b1e99785ca0a7e7720c5b36dc6d72cac9574c8cbbc2f801e23e56fd344"
	"b07f22154beba0f08ce8891e643ed995c94d9a69c9f1b5f499027a78572aeebd"
	"74d20cc39881c213ee770b1010e4bea718846977ae119f7a023ab58cca0ad752"
	"afe656bb3c17256a9f6e9bf19fdd5a38fc82bbe872c5539edb609ef4f79c203e"
	"bb140f2e583cb2ad15b4aa5b655016a8449277dbd477ef2c8d6c017db738b18d"
	"eb4a427d1923ce3ff262735779a418f20a282df920147beabe421ee5319d0568";

/* IEEE P1619 vector 10: XTS-AES-256, data unit 0xff, 512 bytes of i % 256. */
static const char v10_key[] = "27182818284590452353602874713526"
			      "62497757247093699959574966967627"
			      "31415926535897932384626433832795"
			      "02884197169399375105820974944592";
static const char v10_ctx[] =
	"1c3b3a102f770386e4836c99e370cf9bea00803f5e482357a4ae12d414a3e63b"
	"5d31e276f8fe4a8d66b317f9ac683f44680a86ac35adfc3345befecb4bb188fd"
	"5776926c49a3095eb108fd1098baec70aaa66999a72a82f27d848b21d4a741b0"
	"c5cd4d5fff9dac89aeba122961d03a757123e9870f8acf1000020887891429ca"
	"2a3e7a7d7df7b10355165c8b9a6d0a7de8b062c4500dc4cd120c0f7418dae3d0"
	"b5781c34803fa75421c790dfe1de1834f280d7667b327f6c8cd7557e12ac3a0f"
	"93ec05c52e0493ef31a12d3d9260f79a289d6a379bc70c50841473d1a8cc81ec"
	"583e9645e07b8d9670655ba5bbcfecc6dc3966380ad8fecb17b6ba02469a020a"
	"84e18e8f84252070c13e9f1f289be54fbc481457778f616015e1327a02b140f1"
	"505eb309326d68378f8374595c849d84f4c333ec4423885143cb47bd71c5edae"
	"9be69a2ffeceb1bec9de244fbe15992b11b77c040f12bd8f6a975a44a0f90c29"
	"a9abc3d4d893927284c58754cce294529f8614dcd2aba991925fedc4ae74ffac"
	"6e333b93eb4aff0479da9a410e4450e0dd7ae4c6e2910900575da401fc07059f"
	"645e8b7e9bfdef33943054ff84011493c27b3429eaedb4ed5376441a77ed4385"
	"1ad77f16f541dfd269d50d6a5f14fb0aab1cbb4c1550be97f7ab4066193c4caa"
	"773dad38014bd2092fa755c824bb5e54c4f36ffda9fcea70b9c6e693e148c151";

static void unhex(const char *hex, uint8_t *out, size_t n)
{
	size_t i;

	assert_int_equal(strlen(hex), 2 * n);
	for (i = 0; i < n; i++)
		assert_int_equal(sscanf(hex + 2 * i, "%2hhx", &out[i]), 1);
}

static void pattern(uint8_t *buf, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf[i] = (uint8_t)i;
}

static void xts_vector(const char *khex, uint32_t key_bytes, uint64_t unit, const char *chex)
{
	struct crypt_params p = { .key_bytes = key_bytes, .sector_size = 512 };
	uint8_t key[64], want[512], buf[512], plain[512];
	struct crypt_ctx *c;

	assert_int_equal(crypt_cipher_parse("aes-xts-plain64", &p), 0);
	unhex(khex, key, key_bytes);
	unhex(chex, want, sizeof(want));
	pattern(plain, sizeof(plain));
	memcpy(buf, plain, sizeof(buf));
	assert_int_equal(crypt_ctx_new(&c, &p, key), 0);
	/* plain64: data unit n is the 512-byte sector at n * 512 */
	assert_int_equal(crypt_ctx_encrypt(c, unit * 512, buf, sizeof(buf)), 0);
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(crypt_ctx_decrypt(c, unit * 512, buf, sizeof(buf)), 0);
	assert_memory_equal(buf, plain, sizeof(plain));
	crypt_ctx_free(c);
}

static void test_ieee1619_vectors(void **state)
{
	xts_vector(v4_key, 32, 0, v4_ctx);
	xts_vector(v10_key, 64, 0xff, v10_ctx);
}

static void test_iv_sector(void **state)
{
	struct crypt_params p = { .sector_size = 512 };

	assert_int_equal(crypt_iv_sector(&p, 0), 0);
	assert_int_equal(crypt_iv_sector(&p, 3 * 512), 3);
	p.iv_offset = 10;
	assert_int_equal(crypt_iv_sector(&p, 3 * 512), 13);
	/* 4 KiB sectors, IV in 512-byte units: 0, 8, 16, ... */
	p = (struct crypt_params){ .sector_size = 4096 };
	assert_int_equal(crypt_iv_sector(&p, 4096), 8);
	assert_int_equal(crypt_iv_sector(&p, 2 * 4096), 16);
	/* iv_large_sectors: per sector; iv_offset is added in 512-byte units first */
	p.iv_large_sectors = true;
	assert_int_equal(crypt_iv_sector(&p, 2 * 4096), 2);
	p.iv_offset = 16;
	assert_int_equal(crypt_iv_sector(&p, 2 * 4096), 4);
	p.iv_large_sectors = false;
	assert_int_equal(crypt_iv_sector(&p, 2 * 4096), 32);
}

static void test_iv_modes(void **state)
{
	struct crypt_params p = { .key_bytes = 64, .sector_size = 512 };
	static const uint8_t p64[16] = { 0x89, 0x67, 0x45, 0x23, 0x01 };
	static const uint8_t p32[16] = { 0x89, 0x67, 0x45, 0x23 };
	uint8_t key[64], iv[16], want[16];
	struct crypt_ctx *c;

	pattern(key, sizeof(key));
	assert_int_equal(crypt_cipher_parse("aes-xts-plain64", &p), 0);
	assert_int_equal(crypt_ctx_new(&c, &p, key), 0);
	assert_int_equal(crypt_ctx_iv(c, 0x123456789ull, iv), 0);
	assert_memory_equal(iv, p64, 16);
	crypt_ctx_free(c);
	assert_int_equal(crypt_cipher_parse("aes-xts-plain", &p), 0);
	assert_int_equal(crypt_ctx_new(&c, &p, key), 0);
	assert_int_equal(crypt_ctx_iv(c, 0x123456789ull, iv), 0);
	assert_memory_equal(iv, p32, 16);	/* plain wraps at 2^32 */
	crypt_ctx_free(c);
	/* essiv: AES-256-ECB keyed by sha256(key) of the plain64 block (openssl enc) */
	p.key_bytes = 32;
	assert_int_equal(crypt_cipher_parse("aes-cbc-essiv:sha256", &p), 0);
	assert_int_equal(crypt_ctx_new(&c, &p, key), 0);
	assert_int_equal(crypt_ctx_iv(c, 0x123456789ull, iv), 0);
	unhex("402002bc544ff7355a9fb32274bce78f", want, 16);
	assert_memory_equal(iv, want, 16);
	crypt_ctx_free(c);
}

static void test_cbc_essiv_sector(void **state)
{
	struct crypt_params p = { .key_bytes = 32, .sector_size = 512 };
	uint8_t key[32], buf[512], head[32], tail[16];
	struct crypt_ctx *c;

	assert_int_equal(crypt_cipher_parse("aes-cbc-essiv:sha256", &p), 0);
	pattern(key, sizeof(key));
	pattern(buf, sizeof(buf));
	assert_int_equal(crypt_ctx_new(&c, &p, key), 0);
	assert_int_equal(crypt_ctx_encrypt(c, 0x123456789ull * 512, buf, sizeof(buf)), 0);
	unhex("787248bb2400bb779efc7e911681e4a55f11b7cc69e71917ff2aaef4b4f9fc54", head, 32);
	unhex("73fa0452b72430fcae180e25bc0a58e9", tail, 16);
	assert_memory_equal(buf, head, 32);
	assert_memory_equal(buf + 496, tail, 16);
	crypt_ctx_free(c);
}

static void test_equal_halves_and_sizes(void **state)
{
	struct crypt_params p = { .key_bytes = 64, .sector_size = 512 };
	uint8_t key[64] = { 0 };
	struct crypt_ctx *c;

	assert_int_equal(crypt_cipher_parse("aes-xts-plain64", &p), 0);
	memset(key, 0x11, 32);
	memset(key + 32, 0x11, 32);
	assert_true(crypt_key_halves_equal(&p, key));
	assert_int_equal(crypt_ctx_new(&c, &p, key), -EINVAL);
	key[63] ^= 1;
	assert_false(crypt_key_halves_equal(&p, key));
	p.key_bytes = 48;
	assert_false(crypt_key_size_fits(&p));
	assert_int_equal(crypt_cipher_parse("serpent-xts-plain64", &p), -EINVAL);
	assert_int_equal(crypt_ctx_new(&c, &p, key), -EINVAL);
}

/* --- the filter on a chain over a byte array ------------------------------ */

#define DISK_SIZE	(64 * 1024)

static uint8_t disk[DISK_SIZE];

static void sink_bottom(struct filter_req *req)
{
	if (req->op == FILTER_OP_WRITE)
		memcpy(disk + req->offset, req->buf, req->len);
	else if (req->op == FILTER_OP_READ)
		memcpy(req->buf, disk + req->offset, req->len);
	chain_backing_done(req, req->op == FILTER_OP_FLUSH ? 0 : (int)req->len);
}

static int last_result;

static void sink_done(struct filter_req *req)
{
	last_result = req->result;
}

static const struct chain_sinks sinks = { sink_bottom, sink_done };

static void write_key(const char *path, const char *hex, size_t n, mode_t mode)
{
	uint8_t key[64];
	int fd;

	unhex(hex, key, n);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, key, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static int make_chain(struct filter_chain **c, const char *args, uint32_t bs)
{
	const struct filter_ops *ops[] = { &crypt_filter_ops };
	struct filter_config cfg = { .name = "crypt", .args = args, .disk_size = DISK_SIZE,
				     .block_size = bs, .queues = 1, .depth = 4,
				     .backing = "/nonexistent", .backing_size = DISK_SIZE };

	*c = NULL;
	return chain_create(c, ops, &cfg, 1, &sinks);
}

static void submit(struct filter_chain *c, enum filter_op op, uint64_t off, void *buf,
		   uint32_t len)
{
	struct filter_req req;

	assert_int_equal(chain_req_init(c, &req, 0, 0, NULL, NULL), 0);
	req.op = op;
	req.offset = off;
	req.buf = buf;
	req.len = len;
	req.buf_size = len;
	chain_submit(&req);
	chain_req_fini(&req);
}

static void test_filter_round_trip(void **state)
{
	uint8_t plain[8192], buf[8192], want[512];
	struct filter_stat st[4];
	struct filter_chain *c;
	char key[128], args[256];

	snprintf(key, sizeof(key), "%s/key", dir);
	write_key(key, v4_key, 32, 0600);
	snprintf(args, sizeof(args), "format=plain,cipher=aes-xts-plain64,key_size=256,"
		 "key_file=%s", key);
	assert_int_equal(make_chain(&c, args, 512), 0);
	/* DISCARD is refused (not advertised), WRITE_ZEROES is not */
	assert_int_equal(chain_refused_ops(c), 1u << FILTER_OP_DISCARD);
	memset(disk, 0, sizeof(disk));
	pattern(plain, sizeof(plain));
	memcpy(buf, plain, sizeof(buf));
	submit(c, FILTER_OP_WRITE, 0, buf, sizeof(buf));
	assert_int_equal(last_result, sizeof(buf));
	/* sector 0 on the backing is IEEE vector 4, the others differ from plaintext */
	unhex(v4_ctx, want, sizeof(want));
	assert_memory_equal(disk, want, 512);
	assert_memory_not_equal(disk + 512, plain + 512, 512);
	assert_memory_not_equal(disk + 512, disk, 512);
	memset(buf, 0, sizeof(buf));
	submit(c, FILTER_OP_READ, 0, buf, sizeof(buf));
	assert_int_equal(last_result, sizeof(buf));
	assert_memory_equal(buf, plain, sizeof(plain));
	/* WRITE_ZEROES: encrypted zeroes below, zeroes back up */
	memset(buf, 0xaa, sizeof(buf));
	submit(c, FILTER_OP_WRITE_ZEROES, 4096, buf, 4096);
	assert_int_equal(last_result, 0);
	assert_memory_not_equal(disk + 4096, (uint8_t[4096]){ 0 }, 4096);
	submit(c, FILTER_OP_READ, 4096, buf, 4096);
	assert_memory_equal(buf, (uint8_t[4096]){ 0 }, 4096);
	submit(c, FILTER_OP_DISCARD, 0, buf, 4096);
	assert_int_equal(last_result, -EOPNOTSUPP);
	assert_int_equal(chain_filter_stats(c, 0, st, 4), 3);
	assert_string_equal(st[0].name, "bytes_encrypted");
	assert_int_equal(st[0].value, 8192 + 4096);
	assert_string_equal(st[1].name, "bytes_decrypted");
	assert_int_equal(st[1].value, 8192 + 4096);
	chain_destroy(c);
}

static void test_filter_4k_sectors(void **state)
{
	uint8_t plain[8192], buf[8192];
	struct filter_chain *c, *c2;
	char key[128], args[320];

	snprintf(key, sizeof(key), "%s/key", dir);
	write_key(key, v10_key, 64, 0400);
	snprintf(args, sizeof(args), "format=plain,sector_size=4KiB,iv_large_sectors=true,"
		 "allow_discards=true,key_file=%s", key);
	/* a sector larger than the disk's block is refused by name */
	assert_int_equal(make_chain(&c, args, 512), -EINVAL);
	assert_non_null(strstr(crypt_filter_error(), "serve it with --block-size 4096"));
	assert_int_equal(make_chain(&c, args, 4096), 0);
	assert_int_equal(chain_refused_ops(c), 0);
	pattern(plain, sizeof(plain));
	memcpy(buf, plain, sizeof(buf));
	submit(c, FILTER_OP_WRITE, 8192, buf, sizeof(buf));
	/* the same key with IVs in 512-byte units reads other data */
	snprintf(args, sizeof(args), "format=plain,sector_size=4096,key_file=%s", key);
	assert_int_equal(make_chain(&c2, args, 4096), 0);
	submit(c2, FILTER_OP_READ, 8192, buf, sizeof(buf));
	assert_memory_not_equal(buf, plain, sizeof(plain));
	submit(c, FILTER_OP_READ, 8192, buf, sizeof(buf));
	assert_memory_equal(buf, plain, sizeof(plain));
	chain_destroy(c2);
	chain_destroy(c);
}

static void test_filter_refusals(void **state)
{
	struct filter_chain *c;
	char key[128], args[256], want[400];

	snprintf(key, sizeof(key), "%s/key", dir);
	write_key(key, v10_key, 64, 0644);
	snprintf(args, sizeof(args), "format=plain,key_file=%s", key);
	assert_int_equal(make_chain(&c, args, 512), -EACCES);
	snprintf(want, sizeof(want), "key file '%s' is readable by group or others (mode 0644); "
		 "run 'chmod 600 %s'", key, key);
	assert_string_equal(crypt_filter_error(), want);
	/* equal halves */
	write_key(key, "1111111111111111111111111111111111111111111111111111111111111111"
		  "1111111111111111111111111111111111111111111111111111111111111111", 64, 0600);
	assert_int_equal(make_chain(&c, args, 512), -EINVAL);
	assert_non_null(strstr(crypt_filter_error(), "two XTS halves are equal"));
	/* a key file too short for the key */
	write_key(key, v4_key, 32, 0600);
	assert_int_equal(make_chain(&c, args, 512), -EINVAL);
	assert_non_null(strstr(crypt_filter_error(), "holds 32 bytes; a 512-bit key needs 64"));
	/* LUKS without a header on the backing */
	snprintf(args, sizeof(args), "format=luks2,key_file=%s", key);
	assert_int_equal(make_chain(&c, args, 512), -EINVAL);
	assert_non_null(strstr(crypt_filter_error(), "no LUKS header"));
	snprintf(args, sizeof(args), "format=plain,cipher=serpent-xts-plain64,key_file=%s", key);
	assert_int_equal(make_chain(&c, args, 512), -EINVAL);
	assert_int_equal(make_chain(&c, "format=plain", 512), -EINVAL);
	assert_non_null(strstr(crypt_filter_error(), "exactly one of key_file"));
}

/* key_description: a "user" key in the kernel keyring is the raw key (plain mode). */
static void test_filter_keyring(void **state)
{
	uint8_t key[32], plain[4096], buf[4096], want[512];
	struct filter_chain *c;
	char desc[64], args[128];
	long serial;

	snprintf(desc, sizeof(desc), "sluice-unit-%d", (int)getpid());
	unhex(v4_key, key, sizeof(key));
	serial = syscall(SYS_add_key, "user", desc, key, sizeof(key), KEY_SPEC_PROCESS_KEYRING);
	if (serial < 0)
		skip();	/* no keyring in this sandbox */
	snprintf(args, sizeof(args), "format=plain,key_size=256,key_description=%s", desc);
	assert_int_equal(make_chain(&c, args, 512), 0);
	pattern(plain, sizeof(plain));
	memcpy(buf, plain, sizeof(buf));
	submit(c, FILTER_OP_WRITE, 0, buf, sizeof(buf));
	unhex(v4_ctx, want, sizeof(want));
	assert_memory_equal(disk, want, sizeof(want));
	chain_destroy(c);
	syscall(SYS_keyctl, KEYCTL_REVOKE, serial);
	snprintf(args, sizeof(args), "format=plain,key_description=sluice-unit-none-%d",
		 (int)getpid());
	assert_int_equal(make_chain(&c, args, 512), -ENOKEY);
	assert_non_null(strstr(crypt_filter_error(), "keyctl padd user"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ieee1619_vectors),
		cmocka_unit_test(test_iv_sector),
		cmocka_unit_test(test_iv_modes),
		cmocka_unit_test(test_cbc_essiv_sector),
		cmocka_unit_test(test_equal_halves_and_sizes),
		cmocka_unit_test_setup_teardown(test_filter_round_trip, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_filter_4k_sectors, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_filter_refusals, make_dir, remove_dir),
		cmocka_unit_test(test_filter_keyring),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
