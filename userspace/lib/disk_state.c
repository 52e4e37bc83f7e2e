// SPDX-License-Identifier: GPL-2.0
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/macro.h"
#include "lib/disk_state.h"
#include "lib/fileio.h"

/* backing= and filters= at their longest, the short keys and numbers */
#define STATE_FILE_MAX	(STATE_PATH_MAX + STATE_FILTERS_MAX + STATE_NAME_MAX + 512)

const char *state_dir(void)
{
	const char *d = getenv("SLUICE_RUN_DIR");

	return d && *d ? d : STATE_DIR_DEFAULT;
}

static int state_path(const char *dir, uint32_t id, const char *suffix, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/ublk%u.state%s", dir, id, suffix);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int state_format(const struct disk_state *s, char *buf, size_t len)
{
	int n = snprintf(buf, len,
			 "id=%u\nbacking=%s\nsize=%" PRIu64 "\nqueues=%u\ndepth=%u\n"
			 "block_size=%u\nread_only=%d\npolicy=%s\nfilters=%s\npid=%d\n"
			 "flags=0x%" PRIx64 "\ncopy=%s\ncopy_why=%s\n",
			 s->id, s->backing, s->size, s->queues, s->depth, s->block_size,
			 s->read_only, s->policy, s->filters, (int)s->pid, s->flags, s->copy,
			 s->copy_why);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : n;
}

static int copy_str(char *dst, size_t len, const char *v)
{
	size_t n = strlen(v);

	if (n >= len)
		return -EINVAL;
	memcpy(dst, v, n + 1);
	return 0;
}

static int parse_u64(const char *v, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(v, &end, 0);
	return errno || end == v || *end || *v == '-' ? -EINVAL : 0;
}

static int parse_u32(const char *v, uint32_t *out)
{
	uint64_t x;

	if (parse_u64(v, &x) || x > UINT32_MAX)
		return -EINVAL;
	*out = x;
	return 0;
}

static int state_set(struct disk_state *s, const char *k, const char *v, unsigned int *seen)
{
	uint32_t u32 = 0;
	int err;

	if (!strcmp(k, "id")) {
		*seen |= 1;
		return parse_u32(v, &s->id);
	}
	if (!strcmp(k, "backing")) {
		*seen |= 2;
		return copy_str(s->backing, sizeof(s->backing), v);
	}
	if (!strcmp(k, "size")) {
		*seen |= 4;
		return parse_u64(v, &s->size);
	}
	if (!strcmp(k, "queues"))
		return parse_u32(v, &s->queues);
	if (!strcmp(k, "depth"))
		return parse_u32(v, &s->depth);
	if (!strcmp(k, "block_size"))
		return parse_u32(v, &s->block_size);
	if (!strcmp(k, "read_only")) {
		err = parse_u32(v, &u32);
		s->read_only = u32;
		return err ?: (u32 > 1 ? -EINVAL : 0);
	}
	if (!strcmp(k, "policy"))
		return copy_str(s->policy, sizeof(s->policy), v);
	if (!strcmp(k, "filters"))
		return copy_str(s->filters, sizeof(s->filters), v);
	if (!strcmp(k, "pid")) {
		err = parse_u32(v, &u32);
		s->pid = u32;
		return err;
	}
	if (!strcmp(k, "flags"))
		return parse_u64(v, &s->flags);
	if (!strcmp(k, "copy"))
		return copy_str(s->copy, sizeof(s->copy), v);
	if (!strcmp(k, "copy_why"))
		return copy_str(s->copy_why, sizeof(s->copy_why), v);
	/* Newer servers may add keys; an older reader skips them. */
	return 0;
}

int state_parse(const char *text, struct disk_state *s)
{
	unsigned int seen = 0;
	char *copy, *line, *save = NULL;
	int err = 0;

	memset(s, 0, sizeof(*s));
	copy = strdup(text);
	if (!copy)
		return -ENOMEM;
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');

		if (!eq) {
			err = -EINVAL;
			break;
		}
		*eq = '\0';
		err = state_set(s, line, eq + 1, &seen);
		if (err)
			break;
	}
	free(copy);
	if (err)
		return err;
	if (seen != 7 || !s->queues || !s->depth || !s->block_size)
		return -EINVAL;
	return 0;
}

/*
 * Durable (FILE_ATOMIC_SYNC): 'serve --recover' rebuilds a disk from this
 * file after its server died, so a crash right after a start must not find
 * it empty. It is written once per start, never on the I/O path.
 */
int state_write(const char *dir, const struct disk_state *s)
{
	char path[STATE_PATH_MAX + 64], *buf;
	int n, err;

	err = state_path(dir, s->id, "", path, sizeof(path));
	if (err)
		return err;
	buf = malloc(STATE_FILE_MAX);
	if (!buf)
		return -ENOMEM;
	n = state_format(s, buf, STATE_FILE_MAX);
	err = n < 0 ? n : write_file_atomic(path, buf, n, 0644,
						 FILE_ATOMIC_SYNC | FILE_ATOMIC_MKDIR);
	free(buf);
	return err;
}

int state_read(const char *dir, uint32_t id, struct disk_state *s)
{
	char path[STATE_PATH_MAX + 64], *buf;
	ssize_t n;
	int fd, err;

	err = state_path(dir, id, "", path, sizeof(path));
	if (err)
		return err;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc(STATE_FILE_MAX);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	n = read(fd, buf, STATE_FILE_MAX - 1);
	err = n < 0 ? -errno : 0;
	close(fd);
	if (!err) {
		buf[n] = '\0';
		err = state_parse(buf, s);
	}
	if (!err && s->id != id)
		err = -EINVAL;
	free(buf);
	return err;
}

int state_remove(const char *dir, uint32_t id)
{
	char path[STATE_PATH_MAX + 64];
	int err = state_path(dir, id, "", path, sizeof(path));

	if (err)
		return err;
	return unlink(path) && errno != ENOENT ? -errno : 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int state_list(const char *dir, uint32_t *ids, int max)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d)) && n < max) {
		const char *name = de->d_name;
		unsigned long id;
		char *end;

		if (strncmp(name, "ublk", 4) || name[4] < '0' || name[4] > '9')
			continue;
		id = strtoul(name + 4, &end, 10);
		if (strcmp(end, ".state") || id > UINT32_MAX)
			continue;
		ids[n++] = id;
	}
	closedir(d);
	qsort(ids, n, sizeof(*ids), cmp_u32);
	return n;
}

int state_find_backing(const char *dir, const char *backing, struct disk_state *s)
{
	char want[PATH_MAX], have[PATH_MAX];
	uint32_t ids[256];
	int n, i;

	if (!realpath(backing, want))
		return -errno;
	n = state_list(dir, ids, (int)ARRAY_SIZE(ids));
	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		/* a file being rewritten or from a newer server is not this disk */
		if (state_read(dir, ids[i], s))
			continue;
		if (realpath(s->backing, have) && !strcmp(have, want))
			return 0;
	}
	memset(s, 0, sizeof(*s));
	return -ENOENT;
}

int state_devnum(uint32_t id, unsigned int *major, unsigned int *minor)
{
	char path[64];
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "/sys/block/ublkb%u/dev", id);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	n = fscanf(f, "%u:%u", major, minor);
	fclose(f);
	return n == 2 ? 0 : -EINVAL;
}

bool state_server_running(pid_t pid)
{
	char path[64], buf[512], *p;
	bool zombie = false;
	FILE *f;

	if (pid <= 0 || (kill(pid, 0) && errno == ESRCH))
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return true;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		zombie = p[1] == ' ' && p[2] == 'Z';
	fclose(f);
	return !zombie;
}
