// SPDX-License-Identifier: GPL-2.0
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "lib/disk_state.h"
#include "loader/policy_resolve.h"

static bool path_exists(const char *p)
{
	return access(p, F_OK) == 0;
}

static bool is_partition(unsigned int major, unsigned int minor)
{
	char p[96];

	snprintf(p, sizeof(p), "/sys/dev/block/%u:%u/partition", major, minor);
	return path_exists(p);
}

int resolve_disk_path(const char *path, unsigned int *major, unsigned int *minor)
{
	struct stat st;

	if (stat(path, &st))
		return -errno;
	if (!S_ISBLK(st.st_mode))
		return -ENOTBLK;
	*major = major(st.st_rdev);
	*minor = minor(st.st_rdev);
	if (is_partition(*major, *minor))
		return -EXDEV;
	return 0;
}

int resolve_devnum(const char *s, unsigned int *major, unsigned int *minor)
{
	unsigned int ma, mi;
	char p[96], tail;

	if (sscanf(s, "%u:%u%c", &ma, &mi, &tail) != 2 || ma > 4095 || mi > 0xfffff)
		return -EINVAL;
	snprintf(p, sizeof(p), "/sys/dev/block/%u:%u", ma, mi);
	if (!path_exists(p))
		return -ENOENT;
	*major = ma;
	*minor = mi;
	if (is_partition(ma, mi))
		return -EXDEV;
	return 0;
}

/* First line of a sysfs file, trimmed; false if unreadable. */
static bool read_attr(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	char *s, *e;

	if (!f)
		return false;
	if (!fgets(buf, (int)len, f)) {
		fclose(f);
		return false;
	}
	fclose(f);
	for (s = buf; *s == ' ' || *s == '\t'; s++)
		;
	memmove(buf, s, strlen(s) + 1);
	e = buf + strlen(buf);
	while (e > buf && (e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return true;
}

/* WWNs are written with or without their "naa."/"eui."/"t10." type prefix. */
static bool wwn_equal(const char *have, const char *want)
{
	const char *h = strchr(have, '.'), *w = strchr(want, '.');

	if (!strcasecmp(have, want))
		return true;
	if (h && !w && !strcasecmp(h + 1, want))
		return true;
	return false;
}

int resolve_disk_attr(const char *attr, const char *value, unsigned int *major,
		      unsigned int *minor)
{
	static const char *const where[] = { "%s/%s", "%s/device/%s" };
	char p[PATH_MAX + 64], buf[256], base[PATH_MAX];
	bool wwn = !strcmp(attr, "wwid");
	struct dirent *de;
	int found = 0;
	unsigned int i;
	DIR *d;

	d = opendir("/sys/block");
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(base, sizeof(base), "/sys/block/%s", de->d_name);
		for (i = 0; i < 2; i++) {
			snprintf(p, sizeof(p), where[i], base, attr);
			if (!read_attr(p, buf, sizeof(buf)) || !buf[0])
				continue;
			if (wwn ? wwn_equal(buf, value) : !strcmp(buf, value))
				break;
		}
		if (i == 2)
			continue;
		snprintf(p, sizeof(p), "%s/dev", base);
		if (!read_attr(p, buf, sizeof(buf)) ||
		    sscanf(buf, "%u:%u", major, minor) != 2)
			continue;
		found++;
	}
	closedir(d);
	if (!found)
		return -ENOENT;
	return found > 1 ? -EEXIST : 0;
}

int resolve_served(const char *run_dir, const char *backing, unsigned int *major,
		   unsigned int *minor, bool *running)
{
	struct disk_state st;
	int err;

	*running = false;
	*major = *minor = 0;
	err = state_find_backing(run_dir, backing, &st);
	if (err == -ENOENT && !access(backing, F_OK))
		return 0;	/* exists, not served yet: the chain waits for 'sluice serve' */
	if (err)
		return err;
	/* a state file whose disk is gone (server killed, not recovered) serves nothing */
	if (state_devnum(st.id, major, minor)) {
		*major = *minor = 0;
		return 0;
	}
	*running = true;
	return 0;
}

/* Cgroup mounts from mountinfo: the longest mount point that prefixes @path. */
static int cgroup_mount_of(const char *path, char *mnt, size_t len, enum pol_cg_ver *ver,
			   bool *is_blkio)
{
	char line[4096], mp[PATH_MAX], fstype[64], opts[1024];
	size_t best = 0, l;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *sep;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		/* id parent maj:min root mountpoint opts ... - fstype source superopts */
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
			continue;
		sep = strstr(line, " - ");
		if (!sep || sscanf(sep, " - %63s %*s %1023s", fstype, opts) != 2)
			continue;
		if (strcmp(fstype, "cgroup") && strcmp(fstype, "cgroup2"))
			continue;
		l = strlen(mp);
		if (strncmp(path, mp, l) || (path[l] && path[l] != '/') || l <= best)
			continue;
		best = l;
		snprintf(mnt, len, "%s", mp);
		*ver = strcmp(fstype, "cgroup2") ? POL_CG_V1 : POL_CG_V2;
		*is_blkio = strstr(opts, "blkio") != NULL;
	}
	fclose(f);
	return best ? 0 : -ENOTDIR;
}

const char *resolve_io_cgroup_root(enum pol_cg_ver *ver)
{
	struct stat st;

	if (!stat("/sys/fs/cgroup/blkio/blkio.throttle.read_bps_device", &st)) {
		*ver = POL_CG_V1;
		return "/sys/fs/cgroup/blkio";
	}
	if (!stat("/sys/fs/cgroup/cgroup.controllers", &st)) {
		*ver = POL_CG_V2;
		return "/sys/fs/cgroup";
	}
	if (!stat("/sys/fs/cgroup/unified/cgroup.controllers", &st)) {
		*ver = POL_CG_V2;
		return "/sys/fs/cgroup/unified";
	}
	return NULL;
}

int resolve_cgroup(const char *path, struct pol_cgroup *cg)
{
	char full[PATH_MAX], real[PATH_MAX], mnt[PATH_MAX], file[PATH_MAX + 32];
	enum pol_cg_ver ver = POL_CG_NONE;
	const char *root, *p;
	bool blkio = false;
	struct stat st;
	unsigned int level = 0;
	int err;

	if (path[0] == '/') {
		snprintf(full, sizeof(full), "%s", path);
	} else {
		root = resolve_io_cgroup_root(&ver);
		if (!root)
			return -ENOENT;
		snprintf(full, sizeof(full), "%s/%s", root, path);
	}
	if (!realpath(full, real))
		return -errno;
	if (stat(real, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	err = cgroup_mount_of(real, mnt, sizeof(mnt), &ver, &blkio);
	if (err)
		return err;
	for (p = real + strlen(mnt); *p; p++)
		if (*p == '/' && p[1] && p[1] != '/')
			level++;
	cg->dir = strdup(real);
	if (!cg->dir)
		return -ENOMEM;
	cg->id = st.st_ino;
	cg->level = level;
	cg->ver = POL_CG_NONE;
	snprintf(file, sizeof(file), "%s/io.max", real);
	if (ver == POL_CG_V2 && path_exists(file))
		cg->ver = POL_CG_V2;
	snprintf(file, sizeof(file), "%s/blkio.throttle.read_bps_device", real);
	if (ver == POL_CG_V1 && blkio && path_exists(file))
		cg->ver = POL_CG_V1;
	return 0;
}
