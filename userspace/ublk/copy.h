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
 *  zero    no copy by the server: the backing I/O is io_uring
 *          READ_FIXED/WRITE_FIXED on the request's own pages, registered
 *          in the queue ring's buffer table. UBLK_F_AUTO_BUF_REG (6.16+:
 *          the driver registers them at the tag's index as it hands the
 *          request over) where the driver has it, else
 *          UBLK_F_SUPPORT_ZERO_COPY (6.15+: the server registers and
 *          unregisters them around each backing I/O). Only for a
 *          chain where no filter sees the data; a filter that moves it
 *          with its own I/O (a cache) needs the pages registered for the
 *          request's whole life, so auto registration.
 */
#ifndef SLUICE_UBLK_COPY_H
#define SLUICE_UBLK_COPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ublk_copy {
	UBLK_COPY_AUTO,
	UBLK_COPY_BUFFER,
	UBLK_COPY_USER,
	UBLK_COPY_MMAP,
	UBLK_COPY_ZERO,
};

/* "auto", "buffer", "user", "mmap" or "zero"; -EINVAL otherwise. */
int ublk_copy_parse(const char *s, enum ublk_copy *out);
const char *ublk_copy_name(enum ublk_copy c);

struct ublk_copy_env {
	uint64_t features;	/* UBLK_F_* the driver offers (or the device has) */
	bool page_cache;	/* the backing's data lives in the page cache */
	bool in_memory;		/* ... and nowhere else (tmpfs): never blocks */
	bool chain_empty;	/* passthrough: no filter at all (mmap needs that) */
	const char *data_filter; /* the first filter that sees the data, or NULL (zero copy) */
	const char *data_mover;	/* the first filter that moves it (zero copy with auto buf reg) */
};

/*
 * The zero copy flag to ask the driver for among @features:
 * UBLK_F_AUTO_BUF_REG, else UBLK_F_SUPPORT_ZERO_COPY, else 0.
 */
uint64_t ublk_copy_zero_flag(uint64_t features);

/*
 * The mode to use for @want. auto: zero when the driver has zero copy and
 * no filter sees the data (nor moves it without UBLK_F_AUTO_BUF_REG); else
 * mmap when the driver user-copies, the chain is empty and the backing is
 * in memory (its data must be copied once anyway, and mmap does it without
 * a trip through the ring); otherwise buffer. A page cache miss of a buffered backing on a disk would block
 * the queue thread in a page fault, one request at a time; mmap there only
 * on request. Returns 0, -EOPNOTSUPP (user or mmap without
 * UBLK_F_USER_COPY, zero without zero copy) or -EINVAL (mmap or zero with
 * filters, mmap over an O_DIRECT backing outside the page cache).
 */
int ublk_copy_resolve(enum ublk_copy want, const struct ublk_copy_env *env,
		      enum ublk_copy *out);

/*
 * Why the disk moves its data as @got, for 'sluice disks': "auto buffer
 * registration", "filter crypt sees the data", "driver lacks zero copy"...
 * @flags: the device's UBLK_F_*. Into buf; always terminated.
 */
void ublk_copy_why(enum ublk_copy want, enum ublk_copy got, const struct ublk_copy_env *env,
		   uint64_t flags, char *buf, size_t len);

#endif /* SLUICE_UBLK_COPY_H */
