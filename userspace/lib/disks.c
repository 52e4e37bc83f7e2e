// SPDX-License-Identifier: GPL-2.0
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "sluice.h"
#include "lib/disks.h"

static int read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	int err = 0;

	if (!f)
		return -errno;
	if (!fgets(buf, len, f))
		err = -ENODATA;
	else
		buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
	return err;
}

static void sysfs_dev_path(unsigned int dev, char *buf, size_t len)
{
	snprintf(buf, len, "/sys/dev/block/%u:%u", SLUICE_MAJOR(dev), SLUICE_MINOR(dev));
}

int disk_name(unsigned int dev, char *buf, size_t len)
{
	char path[PATH_MAX], link[PATH_MAX];
	const char *base;
	ssize_t n;

	sysfs_dev_path(dev, path, sizeof(path));
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0) {
		snprintf(buf, len, "%u:%u", SLUICE_MAJOR(dev), SLUICE_MINOR(dev));
		return -errno;
	}
	link[n] = '\0';
	base = strrchr(link, '/');
	snprintf(buf, len, "%s", base ? base + 1 : link);
	return 0;
}

int disk_dm_name(unsigned int dev, char *buf, size_t len)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/dm/name",
		 SLUICE_MAJOR(dev), SLUICE_MINOR(dev));
	return read_line(path, buf, len);
}

int disk_label(unsigned int dev, char *buf, size_t len)
{
	char name[64], dm[128];
	int err;

	err = disk_name(dev, name, sizeof(name));
	if (!disk_dm_name(dev, dm, sizeof(dm)) && dm[0])
		snprintf(buf, len, "%s (%s)", name, dm);
	else
		snprintf(buf, len, "%s", name);
	return err;
}

static int parse_majmin(const char *s, unsigned int *dev)
{
	unsigned int ma, mi;
	char tail;

	if (sscanf(s, "%u:%u%c", &ma, &mi, &tail) != 2)
		return -EINVAL;
	*dev = SLUICE_MKDEV(ma, mi);
	return 0;
}

bool disk_is_partition(unsigned int dev, unsigned int *parent)
{
	char path[PATH_MAX], buf[32];

	sysfs_dev_path(dev, path, sizeof(path));
	strncat(path, "/partition", sizeof(path) - strlen(path) - 1);
	if (access(path, F_OK))
		return false;
	sysfs_dev_path(dev, path, sizeof(path));
	strncat(path, "/../dev", sizeof(path) - strlen(path) - 1);
	if (read_line(path, buf, sizeof(buf)) || parse_majmin(buf, parent))
		return false;
	return true;
}

/* A dm disk whose mapper name is @name. */
static int find_dm(const char *name, unsigned int *dev)
{
	char path[PATH_MAX], buf[128];
	struct dirent *de;
	DIR *d = opendir("/sys/block");
	int err = -ENOENT;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "dm-", 3))
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/dm/name", de->d_name);
		if (read_line(path, buf, sizeof(buf)) || strcmp(buf, name))
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/dev", de->d_name);
		if (!read_line(path, buf, sizeof(buf)) && !parse_majmin(buf, dev))
			err = 0;
		break;
	}
	closedir(d);
	return err;
}

static int resolve_exact(const char *spec, unsigned int *dev)
{
	char path[PATH_MAX], buf[32];
	struct stat st;

	if (!parse_majmin(spec, dev)) {
		sysfs_dev_path(*dev, path, sizeof(path));
		return access(path, F_OK) ? -ENOENT : 0;
	}
	if (spec[0] == '/') {
		if (stat(spec, &st))
			return -errno;
		if (!S_ISBLK(st.st_mode))
			return -ENOTBLK;
		*dev = SLUICE_MKDEV(major(st.st_rdev), minor(st.st_rdev));
		return 0;
	}
	if (strchr(spec, '/') || !spec[0])
		return -ENOENT;
	snprintf(path, sizeof(path), "/sys/class/block/%s/dev", spec);
	if (!read_line(path, buf, sizeof(buf)))
		return parse_majmin(buf, dev);
	return find_dm(spec, dev);
}

int disk_resolve(const char *spec, bool partitions, unsigned int *dev)
{
	unsigned int parent;
	int err;

	err = resolve_exact(spec, dev);
	if (err)
		return err == -ENOTBLK ? err : -ENOENT;
	if (!partitions && disk_is_partition(*dev, &parent))
		*dev = parent;
	return 0;
}
