/* SPDX-License-Identifier: GPL-2.0 */
/*
 * backing.h - the file or block device under a served disk. Opened with
 * O_DIRECT when the file system and the disk's block size allow it (a test
 * read tells), buffered otherwise (tmpfs, or a 512-byte disk over a
 * 4096-byte device).
 */
#ifndef SLUICE_UBLK_BACKING_H
#define SLUICE_UBLK_BACKING_H

#include <stdbool.h>
#include <stdint.h>

struct backing {
	int fd;
	bool direct;		/* O_DIRECT in effect */
	bool is_blkdev;
	bool read_only;
	uint64_t size;		/* bytes: file size or device size */
	uint32_t lbs;		/* block device's logical block size; 512 for files */
	bool page_cache;	/* data in the page cache: buffered, or in memory */
	bool in_memory;		/* on tmpfs or ramfs: the page cache is the data */
	void *map;		/* backing_map(): shared mapping of the backing */
	uint64_t map_len;
};

/*
 * Open @path for a disk of @block_size bytes per block. Returns 0 or -errno:
 * -ENOENT, -EACCES, -EISDIR or -EINVAL (neither a regular file nor a block
 * device), -EROFS.
 */
int backing_open(struct backing *b, const char *path, uint32_t block_size, bool read_only);
/*
 * Map the first @len bytes of the backing shared (read-only for a read-only
 * backing) for the mmap copy mode; @len may exceed a file's size (those
 * pages fault until the file grows). Returns 0 or -errno.
 */
int backing_map(struct backing *b, uint64_t len);
/* Unmaps and closes. Takes a never-opened (fd < 0) or closed backing. */
void backing_close(struct backing *b);

#endif /* SLUICE_UBLK_BACKING_H */
