// SPDX-License-Identifier: GPL-2.0
/*
 * key.c - reading secrets into locked memory. The keyring is reached with
 * the raw request_key/keyctl system calls (as cryptsetup does), so no
 * libkeyutils is needed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/keyctl.h>
#include <openssl/crypto.h>

#include "crypt/key.h"

int crypt_secret_alloc(struct crypt_secret *s)
{
	void *p;

	s->data = NULL;
	s->len = 0;
	if (posix_memalign(&p, 4096, CRYPT_SECRET_MAX))
		return -ENOMEM;
	/* best effort, as cryptsetup: without CAP_IPC_LOCK the limit may refuse it */
	mlock(p, CRYPT_SECRET_MAX);
	s->data = p;
	return 0;
}

void crypt_secret_free(struct crypt_secret *s)
{
	if (!s->data)
		return;
	OPENSSL_cleanse(s->data, CRYPT_SECRET_MAX);
	munlock(s->data, CRYPT_SECRET_MAX);
	free(s->data);
	s->data = NULL;
	s->len = 0;
}

static int open_private(const char *path, mode_t *mode)
{
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		close(fd);
		return -errno;
	}
	*mode = st.st_mode & 07777;
	if (S_ISREG(st.st_mode) && (st.st_mode & (S_IRGRP | S_IROTH))) {
		close(fd);
		return -EACCES;
	}
	return fd;
}

static int read_all(int fd, struct crypt_secret *s, size_t max)
{
	ssize_t n;

	s->len = 0;
	for (;;) {
		n = read(fd, s->data + s->len, CRYPT_SECRET_MAX - s->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			break;
		s->len += (size_t)n;
		if (max && s->len >= max) {
			s->len = max;
			return 0;
		}
		if (s->len == CRYPT_SECRET_MAX)
			return -EFBIG;
	}
	return 0;
}

int crypt_key_file_read(const char *path, size_t max, struct crypt_secret *s, mode_t *mode)
{
	int fd, err;

	fd = open_private(path, mode);
	if (fd < 0)
		return fd;
	err = read_all(fd, s, max);
	close(fd);
	return err;
}

int crypt_passphrase_file_read(const char *path, struct crypt_secret *s, mode_t *mode)
{
	uint8_t *nl;
	int err;

	err = crypt_key_file_read(path, 0, s, mode);
	if (err)
		return err;
	nl = memchr(s->data, '\n', s->len);
	if (nl) {
		OPENSSL_cleanse(nl, s->len - (size_t)(nl - s->data));
		s->len = (size_t)(nl - s->data);
	}
	return 0;
}

int crypt_keyring_read(const char *desc, struct crypt_secret *s)
{
	long serial, n;

	serial = syscall(SYS_request_key, "user", desc, NULL, 0);
	if (serial < 0)
		return errno == ENOKEY ? -ENOKEY : -errno;
	n = syscall(SYS_keyctl, KEYCTL_READ, serial, s->data, CRYPT_SECRET_MAX);
	if (n < 0)
		return -errno;
	if (n > CRYPT_SECRET_MAX)
		return -EFBIG;
	s->len = (size_t)n;
	return 0;
}
