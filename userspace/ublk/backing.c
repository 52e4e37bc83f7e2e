// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>

#include "lib/fileio.h"
#include "ublk/backing.h"

/*
 * O_DIRECT is accepted by open() on file systems that then fail the first
 * misaligned read; one aligned read of a block at offset 0 is the honest
 * test. An empty file reads 0 bytes, which also proves alignment is fine.
 */
static bool direct_read_works(int fd, uint32_t block_size)
{
	void *buf;
	bool ok;

	if (posix_memalign(&buf, 4096, block_size))
		return false;
	ok = pread(fd, buf, block_size, 0) >= 0;
	free(buf);
	return ok;
}

static int backing_size(struct backing *b)
{
	struct stat st;
	uint64_t sz;
	int lbs;

	if (fstat(b->fd, &st))
		return -errno;
	if (S_ISREG(st.st_mode)) {
		b->size = st.st_size;
		b->lbs = 512;
		return 0;
	}
	if (!S_ISBLK(st.st_mode))
		return -EINVAL;
	b->is_blkdev = true;
	if (ioctl(b->fd, BLKGETSIZE64, &sz))
		return -errno;
	if (ioctl(b->fd, BLKSSZGET, &lbs))
		return -errno;
	b->size = sz;
	b->lbs = lbs;
	return 0;
}

int backing_open(struct backing *b, const char *path, uint32_t block_size, bool read_only)
{
	int flags = (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct stat st;
	int err;

	b->fd = -1;
	b->direct = false;
	b->is_blkdev = false;
	b->read_only = read_only;
	b->page_cache = false;
	b->in_memory = false;
	b->map = NULL;
	b->map_len = 0;
	if (stat(path, &st))
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return -EINVAL;

	b->fd = open(path, flags | O_DIRECT);
	if (b->fd >= 0 && direct_read_works(b->fd, block_size)) {
		b->direct = true;
	} else {
		if (b->fd >= 0)
			close(b->fd);
		b->fd = open(path, flags);
		if (b->fd < 0)
			return -errno;
	}
	err = backing_size(b);
	if (err) {
		backing_close(b);
		return err;
	}
	/* a block device's node is on devtmpfs; its data is not */
	b->in_memory = fd_in_memory(b->fd);
	b->page_cache = !b->direct || b->in_memory;
	return 0;
}

int backing_map(struct backing *b, uint64_t len)
{
	int prot = PROT_READ | (b->read_only ? 0 : PROT_WRITE);
	void *p;

	p = mmap(NULL, len, prot, MAP_SHARED, b->fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	b->map = p;
	b->map_len = len;
	return 0;
}

void backing_close(struct backing *b)
{
	if (b->map)
		munmap(b->map, b->map_len);
	b->map = NULL;
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
}
