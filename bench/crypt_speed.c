// SPDX-License-Identifier: GPL-2.0
/*
 * crypt_speed.c - bench/crypt's host half: how fast the crypt filter's context
 * code (userspace/crypt/cipher.c, what a queue runs) encrypts 4 KiB
 * sectors of aes-xts-plain64 with a 512-bit key on one core, next to a
 * dm-crypt-style loop that sets the key up again for every sector.
 * Prints "filter MB/s" and "rekey MB/s" (10^6 bytes). Like openssl speed,
 * it counts the thread's CPU time, not wall time, so a busy machine does
 * not skew the ratio; the clock is read every 64 requests (reading it is a
 * system call).
 *
 *   speed [SECONDS] [REQUEST_BYTES]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "crypt/cipher.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 3;
	size_t req = argc > 2 ? strtoul(argv[2], NULL, 0) : 4096;
	struct crypt_params p = { .key_bytes = 64, .sector_size = 4096 };
	uint8_t key[64], iv[16] = { 0 };
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	struct crypt_ctx *c;
	uint64_t bytes = 0, off = 0, n = 0;
	double t0, t;
	uint8_t *buf;
	size_t i;
	int outl;

	for (i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 7 + 1);
	if (crypt_cipher_parse("aes-xts-plain64", &p) || crypt_ctx_new(&c, &p, key) ||
	    posix_memalign((void **)&buf, 4096, req))
		return 1;
	memset(buf, 0x5a, req);
	t0 = now();
	do {
		if (crypt_ctx_encrypt(c, off, buf, req))
			return 1;
		off = (off + req) % (1ull << 30);
		bytes += req;
	} while ((++n & 63) || (t = now()) - t0 < secs);
	printf("filter %.1f\n", bytes / (t - t0) / 1e6);

	bytes = 0;
	t0 = now();
	do {
		for (i = 0; i < req; i += 4096) {
			iv[0] = (uint8_t)i;
			if (!EVP_EncryptInit_ex(ctx, EVP_aes_256_xts(), NULL, key, iv) ||
			    !EVP_EncryptUpdate(ctx, buf + i, &outl, buf + i, 4096))
				return 1;
		}
		bytes += req;
	} while ((++n & 63) || (t = now()) - t0 < secs);
	printf("rekey %.1f\n", bytes / (t - t0) / 1e6);
	crypt_ctx_free(c);
	EVP_CIPHER_CTX_free(ctx);
	free(buf);
	return 0;
}
