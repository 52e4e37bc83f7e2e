/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fileio.h - the one way sluice replaces a file: write a temporary file
 * beside it, rename it over the old one, so a reader sees the old content or
 * the new, never a mix. With FILE_ATOMIC_SYNC the data and the rename are
 * durable when it returns (fsync of the file before the rename, of the
 * directory after), as systemd's WRITE_STRING_FILE_ATOMIC|SYNC: what a
 * restart after a power cut must find (journal and cache metadata, recovery
 * state) uses it; what is rewritten every second and means nothing after a
 * reboot (/run, statistics) may do without.
 */
#ifndef SLUICE_LIB_FILEIO_H
#define SLUICE_LIB_FILEIO_H

#include <stddef.h>
#include <stdbool.h>
#include <sys/types.h>

#define FILE_ATOMIC_SYNC	(1u << 0)	/* fsync the file and its directory */
#define FILE_ATOMIC_MKDIR	(1u << 1)	/* create the parent directory (one level) */

/*
 * Replace @path with @len bytes of @data, mode @mode. 0 or -errno; on error
 * @path is unchanged and no temporary file is left behind.
 */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
		      unsigned int flags);

/* fsync the directory that holds @path (after a rename or unlink in it). */
int fsync_parent_dir(const char *path);

/* fsync the directory @dir itself. */
int fsync_dir(const char *dir);

/*
 * @fd is a regular file on tmpfs or ramfs: its page cache is the data, so
 * O_DIRECT (accepted by tmpfs since 6.6) still copies and a write is a
 * memcpy. A block device node on devtmpfs is not one.
 */
bool fd_in_memory(int fd);

/*
 * One pwrite (@write) or pread of @len bytes at @off: 0, -errno, or -EIO
 * when fewer moved (ublk's user copy: a request's data is one file range).
 */
int pio_exact(int fd, bool write, void *buf, size_t len, off_t off);

#endif /* SLUICE_LIB_FILEIO_H */
