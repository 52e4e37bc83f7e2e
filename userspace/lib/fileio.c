// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "lib/fileio.h"

int fsync_dir(const char *dir)
{
	int fd, err = 0;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd))
		err = -errno;
	close(fd);
	return err;
}

static int parent_of(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');
	int n;

	if (!slash)
		n = snprintf(buf, len, ".");
	else if (slash == path)
		n = snprintf(buf, len, "/");
	else
		n = snprintf(buf, len, "%.*s", (int)(slash - path), path);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int fsync_parent_dir(const char *path)
{
	char dir[PATH_MAX];
	int err;

	err = parent_of(path, dir, sizeof(dir));
	return err ? err : fsync_dir(dir);
}

static int write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			return -EIO;
		p += n;
		len -= n;
	}
	return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
		      unsigned int flags)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	int fd, err, n;

	err = parent_of(path, dir, sizeof(dir));
	if (err)
		return err;
	if ((flags & FILE_ATOMIC_MKDIR) && mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	/* The pid keeps two writers of one file from sharing a temporary. */
	n = snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	/* open() applies the umask; the caller's mode is the file's mode. */
	err = fchmod(fd, mode) ? -errno : 0;
	if (!err)
		err = write_all(fd, data, len);
	if (!err && (flags & FILE_ATOMIC_SYNC) && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err) {
		unlink(tmp);
		return err;
	}
	return (flags & FILE_ATOMIC_SYNC) ? fsync_dir(dir) : 0;
}

int pio_exact(int fd, bool write, void *buf, size_t len, off_t off)
{
	ssize_t n = write ? pwrite(fd, buf, len, off) : pread(fd, buf, len, off);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

bool fd_in_memory(int fd)
{
	struct statfs sf;
	struct stat st;

	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || fstatfs(fd, &sf))
		return false;
	return sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC;
}
