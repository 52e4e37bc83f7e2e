/* SPDX-License-Identifier: GPL-2.0 */
/*
 * key.h - secrets as cryptsetup takes them: a key file used raw, a
 * passphrase file, or a key of type "user" in the kernel keyring found by
 * its description (cryptsetup's --key-description). A secret lives in
 * locked memory (mlock: never swapped) and is wiped when freed; nothing
 * here logs or copies it elsewhere.
 */
#ifndef SLUICE_CRYPT_KEY_H
#define SLUICE_CRYPT_KEY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CRYPT_SECRET_MAX	8192	/* bytes of a key file or passphrase */

struct crypt_secret {
	uint8_t *data;			/* CRYPT_SECRET_MAX bytes, locked */
	size_t len;
};

/* Locked memory for a secret. 0 or -ENOMEM. */
int crypt_secret_alloc(struct crypt_secret *s);
/* Wipe, unlock, free. Takes a zeroed or freed secret. */
void crypt_secret_free(struct crypt_secret *s);

/*
 * Read key file @path into @s: at most @max bytes (0: the whole file, up to
 * CRYPT_SECRET_MAX). -EACCES when group or others may read it (*mode says
 * its permission bits, for the chmod in the message), -EFBIG past the
 * limit, -errno of open/read.
 */
int crypt_key_file_read(const char *path, size_t max, struct crypt_secret *s, mode_t *mode);

/*
 * A passphrase file: its first line without the newline, as a passphrase
 * typed at cryptsetup's prompt. The same mode rule as a key file.
 */
int crypt_passphrase_file_read(const char *path, struct crypt_secret *s, mode_t *mode);

/*
 * The payload of the "user" key with description @desc from the kernel
 * keyring (request_key(2), keyctl(2) KEYCTL_READ). -ENOKEY when there is
 * none, -errno else.
 */
int crypt_keyring_read(const char *desc, struct crypt_secret *s);

#endif /* SLUICE_CRYPT_KEY_H */
