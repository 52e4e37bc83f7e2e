/* SPDX-License-Identifier: GPL-2.0 */
/*
 * disk_state.h - one small text file per served disk, <dir>/ublk<ID>.state,
 * "key=value" lines: what `serve --recover ID` needs to rebuild the server
 * and what `disks`, `stop` and `policy` (check, status) show and use. The
 * one reader of the format: the ublk server writes it, everything else
 * reads it through here. The directory is /run/sluice, or $SLUICE_RUN_DIR
 * when set (tests). Written atomically (lib/fileio.h), without fsync: it
 * means nothing after a reboot, the disk is gone then too.
 */
#ifndef SLUICE_LIB_DISK_STATE_H
#define SLUICE_LIB_DISK_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define STATE_DIR_DEFAULT	"/run/sluice"
#define STATE_PATH_MAX		4096
#define STATE_NAME_MAX		64
/*
 * A chain with encryption, a journal with a replica and a cache, each with
 * its paths, plus the class throttle: 256 bytes were too few for the
 * docs' own example. Files of any older server parse (the format is the
 * same); a longer filters= than this is a malformed file.
 */
#define STATE_FILTERS_MAX	4096

struct disk_state {
	uint32_t id;
	char backing[STATE_PATH_MAX];
	uint64_t size;			/* bytes */
	uint32_t queues;
	uint32_t depth;
	uint32_t block_size;
	bool read_only;
	char policy[STATE_NAME_MAX];
	char filters[STATE_FILTERS_MAX];	/* filter spec, see filters/registry.h */
	pid_t pid;			/* the serving process */
	uint64_t flags;			/* UBLK_F_* the device was created with */
	/* how its data moves (ublk/copy.h) and why; empty from older servers */
	char copy[16];
	char copy_why[64];
};

/* The state directory: $SLUICE_RUN_DIR or /run/sluice. */
const char *state_dir(void);

/* Create the directory if needed and write the file. 0 or -errno. */
int state_write(const char *dir, const struct disk_state *s);
/* -ENOENT when there is no file, -EINVAL when it is malformed. */
int state_read(const char *dir, uint32_t id, struct disk_state *s);
/* 0 also when it was already gone. */
int state_remove(const char *dir, uint32_t id);
/*
 * Ids of the disks with a state file, ascending, at most max; returns the
 * count (0 when the directory does not exist) or -errno.
 */
int state_list(const char *dir, uint32_t *ids, int max);

/*
 * The state of the disk served over @backing (realpaths compared), into @s.
 * -ENOENT when no state file names it, or realpath()'s -errno for @backing.
 */
int state_find_backing(const char *dir, const char *backing, struct disk_state *s);
/* MAJ:MIN of /dev/ublkb@id from sysfs; -ENOENT when the disk does not exist. */
int state_devnum(uint32_t id, unsigned int *major, unsigned int *minor);

/*
 * The serving process @pid exists and is not a zombie (a killed server
 * whose parent has not reaped it must count as gone).
 */
bool state_server_running(pid_t pid);

/* Parse one file's text; used by state_read and the unit tests. */
int state_parse(const char *text, struct disk_state *s);
/* Format into buf; returns the length or -ENAMETOOLONG. */
int state_format(const struct disk_state *s, char *buf, size_t len);

#endif /* SLUICE_LIB_DISK_STATE_H */
