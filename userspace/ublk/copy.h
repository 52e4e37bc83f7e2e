/* SPDX-License-Identifier: GPL-2.0 */
/*
 * copy.h - how a disk's data moves between the ublk driver and the backing.
 *
 *  buffer  the driver copies each request into (writes) or out of (reads) a
 *          per-tag buffer of the server, pinning its pages per request; the
 *          backing I/O copies again. Works on every ublk driver.
 *  user    UBLK_F_USER_COPY (6.5+): the server copies the request itself
 *          with pread/pwrite on /dev/ublkcN; nothing is pinned. Same number
 *          of copies; filters still see a buffer.
 *  mmap    user copy straight between the request and a shared mapping of
 *          the backing: one copy per request, like the loop driver. Only
 *          for a passthrough chain over a backing whose data is in the page
 *          cache; whatever the mapping cannot do (FUA, a hole on a full
 *          file system, past the end of the file) takes the user path.
 */
#ifndef SLUICE_UBLK_COPY_H
#define SLUICE_UBLK_COPY_H

#include <stdbool.h>
#include <stdint.h>

enum ublk_copy {
	UBLK_COPY_AUTO,
	UBLK_COPY_BUFFER,
	UBLK_COPY_USER,
	UBLK_COPY_MMAP,
};

/* "auto", "buffer", "user" or "mmap"; -EINVAL otherwise. */
int ublk_copy_parse(const char *s, enum ublk_copy *out);
const char *ublk_copy_name(enum ublk_copy c);

struct ublk_copy_env {
	uint64_t features;	/* UBLK_F_* the driver offers (or the device has) */
	bool page_cache;	/* the backing's data lives in the page cache */
	bool in_memory;		/* ... and nowhere else (tmpfs): never blocks */
	bool chain_empty;	/* passthrough: no filter needs the data in a buffer */
};

/*
 * The mode to use for @want. auto: mmap when the driver user-copies, the
 * chain is empty and the backing is in memory; otherwise buffer. A page
 * cache miss of a buffered backing on a disk would block the queue thread
 * in a page fault, one request at a time; mmap there only on request.
 * Returns 0, -EOPNOTSUPP (user or mmap without UBLK_F_USER_COPY) or -EINVAL
 * (mmap with filters, or over an O_DIRECT backing outside the page cache).
 */
int ublk_copy_resolve(enum ublk_copy want, const struct ublk_copy_env *env,
		      enum ublk_copy *out);

#endif /* SLUICE_UBLK_COPY_H */
