// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdbool.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>

#include "lib/cgroups.h"

static bool is_fs(const char *path, long magic)
{
	struct statfs st;

	return !statfs(path, &st) && st.f_type == magic;
}

const char *cgroup_io_root(void)
{
	/* Hybrid: blkio is a v1 controller, so blkcgs live there. */
	if (is_fs("/sys/fs/cgroup/blkio", CGROUP_SUPER_MAGIC))
		return "/sys/fs/cgroup/blkio";
	if (is_fs("/sys/fs/cgroup", CGROUP2_SUPER_MAGIC))
		return "/sys/fs/cgroup";
	if (is_fs("/sys/fs/cgroup/unified", CGROUP2_SUPER_MAGIC))
		return "/sys/fs/cgroup/unified";
	return NULL;
}

/* nftw has no context pointer; the walk is short and single-threaded. */
static __thread uint64_t want_id;
static __thread char found[PATH_MAX];

static int match(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (type != FTW_D || (uint64_t)st->st_ino != want_id)
		return 0;
	snprintf(found, sizeof(found), "%s", path);
	return 1;
}

int cgroup_path(uint64_t id, char *buf, size_t len)
{
	const char *root = cgroup_io_root();
	size_t rl;

	if (!root)
		return -ENOENT;
	want_id = id;
	found[0] = '\0';
	if (nftw(root, match, 16, FTW_PHYS | FTW_MOUNT) != 1)
		return -ENOENT;
	rl = strlen(root);
	snprintf(buf, len, "%s", found[rl] ? found + rl : "/");
	return 0;
}

static int id_of_dir(const char *path, uint64_t *id)
{
	struct stat st;

	if (stat(path, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOENT;
	*id = st.st_ino;
	return 0;
}

int cgroup_resolve(const char *spec, uint64_t *id)
{
	const char *root = cgroup_io_root();
	char path[PATH_MAX], real[PATH_MAX];
	char *end;
	unsigned long long v;

	if (!spec || !spec[0])
		return -ENOENT;
	errno = 0;
	v = strtoull(spec, &end, 10);
	if (!errno && !*end) {
		*id = v;
		return 0;
	}
	if (!root)
		return -ENOENT;
	if (!strncmp(spec, "/sys/fs/cgroup", 14)) {
		if (!realpath(spec, real))
			return -ENOENT;
		if (strncmp(real, root, strlen(root)) ||
		    (real[strlen(root)] && real[strlen(root)] != '/'))
			return -EXDEV;
		return id_of_dir(real, id);
	}
	snprintf(path, sizeof(path), "%s/%s", root, spec[0] == '/' ? spec + 1 : spec);
	return id_of_dir(path, id);
}
