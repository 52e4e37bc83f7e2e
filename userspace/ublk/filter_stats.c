// SPDX-License-Identifier: GPL-2.0
/*
 * filter_stats.c - the per-disk filter counters file: snapshot from the
 * chain, format, parse, and the atomic replacement that lets readers see
 * one whole snapshot or the one before, never a mix.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/disk_state.h"
#include "lib/fileio.h"
#include "ublk/filter_stats.h"

/* 16 filters of 32 counters with 31-character names and 20-digit values fit. */
#define FILTER_STATS_FILE_MAX	(64 << 10)
/* As many disks as `sluice disks` lists. */
#define FILTER_STATS_DISKS_MAX	1024

/* What the format carries as a name: [A-Za-z0-9_]+, shorter than the field. */
static bool name_ok(const char *s)
{
	size_t i;

	if (!s || !*s || strlen(s) >= FILTER_STATS_NAME_MAX)
		return false;
	for (i = 0; s[i]; i++)
		if (!(s[i] == '_' || (s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
			return false;
	return true;
}

const struct filter_stats_counter *filter_stats_counter(const struct filter_stats_filter *f,
							 const char *name)
{
	unsigned int i;

	for (i = 0; i < f->n; i++)
		if (!strcmp(f->c[i].name, name))
			return &f->c[i];
	return NULL;
}

int filter_stats_take(struct filter_stats *fs, struct filter_chain *c, uint32_t id, pid_t pid)
{
	struct filter_stat st[FILTER_STATS_COUNTERS_MAX];
	int i, k, n;

	memset(fs, 0, sizeof(*fs));
	fs->id = id;
	fs->pid = pid;
	fs->time_ns = clock_ns(CLOCK_REALTIME);
	for (i = 0; c && i < c->n; i++) {
		struct filter_stats_filter *f = &fs->f[i];
		const char *name = c->filters[i].ops->name;

		if (!name_ok(name))
			return -EINVAL;
		f->index = i;
		strcpy(f->name, name);
		n = chain_filter_stats(c, i, st, FILTER_STATS_COUNTERS_MAX);
		for (k = 0; k < n && k < FILTER_STATS_COUNTERS_MAX; k++) {
			if (!name_ok(st[k].name) || filter_stats_counter(f, st[k].name))
				continue;
			strcpy(f->c[f->n].name, st[k].name);
			f->c[f->n++].value = st[k].value;
		}
		fs->n = i + 1;
	}
	return 0;
}

/* Append to buf at *off; -ENAMETOOLONG when it does not fit. */
static __attribute__((format(printf, 4, 5)))
int put(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + *off, len - *off, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len - *off)
		return -ENAMETOOLONG;
	*off += n;
	return 0;
}

int filter_stats_format(const struct filter_stats *fs, char *buf, size_t len)
{
	size_t off = 0;
	unsigned int i, k;
	int err;

	if (!len)
		return -ENAMETOOLONG;
	err = put(buf, len, &off, "id=%u\npid=%d\ntime_ns=%" PRIu64 "\n", fs->id, (int)fs->pid,
		  fs->time_ns);
	for (i = 0; !err && i < fs->n; i++) {
		const struct filter_stats_filter *f = &fs->f[i];

		err = put(buf, len, &off, "filter=%u %s", f->index, f->name);
		for (k = 0; !err && k < f->n; k++)
			err = put(buf, len, &off, " %s=%" PRIu64, f->c[k].name, f->c[k].value);
		if (!err)
			err = put(buf, len, &off, "\n");
	}
	return err ? err : (int)off;
}

/* A decimal number without sign, spaces or base prefix. */
static int parse_dec(const char *v, uint64_t max, uint64_t *out)
{
	unsigned long long x;
	char *end;

	if (*v < '0' || *v > '9')
		return -EINVAL;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || *end || x > max)
		return -EINVAL;
	*out = x;
	return 0;
}

/* "INDEX NAME [COUNTER=VALUE ...]", the value of a filter= line. */
static int parse_filter(char *v, struct filter_stats *fs)
{
	struct filter_stats_filter *f;
	char *tok, *save = NULL, *eq;
	uint64_t x;

	if (fs->n >= CHAIN_MAX_FILTERS)
		return -EINVAL;
	f = &fs->f[fs->n];
	tok = strtok_r(v, " ", &save);
	/* Chain order, each position once: the index is the line's position. */
	if (!tok || parse_dec(tok, UINT32_MAX, &x) || x != fs->n)
		return -EINVAL;
	f->index = x;
	tok = strtok_r(NULL, " ", &save);
	if (!tok || !name_ok(tok))
		return -EINVAL;
	strcpy(f->name, tok);
	while ((tok = strtok_r(NULL, " ", &save))) {
		eq = strchr(tok, '=');
		if (!eq || f->n >= FILTER_STATS_COUNTERS_MAX)
			return -EINVAL;
		*eq = '\0';
		if (!name_ok(tok) || filter_stats_counter(f, tok) || parse_dec(eq + 1, UINT64_MAX, &x))
			return -EINVAL;
		strcpy(f->c[f->n].name, tok);
		f->c[f->n++].value = x;
	}
	fs->n++;
	return 0;
}

int filter_stats_parse(const char *text, struct filter_stats *fs)
{
	unsigned int seen = 0;
	char *copy, *line, *save = NULL;
	uint64_t x = 0;
	int err = 0;

	memset(fs, 0, sizeof(*fs));
	copy = strdup(text);
	if (!copy)
		return -ENOMEM;
	for (line = strtok_r(copy, "\n", &save); line && !err;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');

		if (!eq) {
			err = -EINVAL;
			break;
		}
		*eq = '\0';
		if (!strcmp(line, "id")) {
			err = parse_dec(eq + 1, UINT32_MAX, &x);
			fs->id = x;
			seen |= 1;
		} else if (!strcmp(line, "pid")) {
			err = parse_dec(eq + 1, INT32_MAX, &x) ?: (x ? 0 : -EINVAL);
			fs->pid = x;
			seen |= 2;
		} else if (!strcmp(line, "time_ns")) {
			err = parse_dec(eq + 1, UINT64_MAX, &fs->time_ns);
			seen |= 4;
		} else if (!strcmp(line, "filter")) {
			err = parse_filter(eq + 1, fs);
		}
		/* Newer servers may add keys; an older reader skips them. */
	}
	free(copy);
	if (!err && seen != 7)
		err = -EINVAL;
	return err;
}

static int stats_path(const char *dir, uint32_t id, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/ublk%u.stats", dir, id);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int filter_stats_write(const char *dir, const struct filter_stats *fs)
{
	char path[STATE_PATH_MAX + 64], *buf;
	int n, err;

	err = stats_path(dir, fs->id, path, sizeof(path));
	if (err)
		return err;
	buf = malloc(FILTER_STATS_FILE_MAX);
	if (!buf)
		return -ENOMEM;
	n = filter_stats_format(fs, buf, FILTER_STATS_FILE_MAX);
	err = n < 0 ? n : write_file_atomic(path, buf, n, 0644, FILE_ATOMIC_MKDIR);
	free(buf);
	return err;
}

int filter_stats_read(const char *dir, uint32_t id, struct filter_stats *fs)
{
	char path[STATE_PATH_MAX + 64], *buf;
	ssize_t n;
	int fd, err;

	err = stats_path(dir, id, path, sizeof(path));
	if (err)
		return err;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc(FILTER_STATS_FILE_MAX + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out_close;
	}
	n = read(fd, buf, FILTER_STATS_FILE_MAX + 1);
	if (n < 0)
		err = -errno;
	else if (n > FILTER_STATS_FILE_MAX)
		err = -EINVAL;	/* larger than any server writes */
	if (!err) {
		buf[n] = '\0';
		err = filter_stats_parse(buf, fs);
	}
	if (!err && fs->id != id)
		err = -EINVAL;
	if (!err && !state_server_running(fs->pid))
		err = -ESRCH;
	free(buf);
out_close:
	close(fd);
	return err;
}

int filter_stats_read_all(const char *dir, struct filter_stats **out, size_t *n)
{
	struct filter_stats *all = NULL, *tmp;
	uint32_t ids[FILTER_STATS_DISKS_MAX];
	int i, nids;

	*out = NULL;
	*n = 0;
	nids = state_list(dir, ids, FILTER_STATS_DISKS_MAX);
	if (nids <= 0)
		return nids;
	all = malloc(nids * sizeof(*all));
	if (!all)
		return -ENOMEM;
	for (i = 0; i < nids; i++)
		if (!filter_stats_read(dir, ids[i], &all[*n]))
			(*n)++;
	if (!*n) {
		free(all);
		return 0;
	}
	tmp = realloc(all, *n * sizeof(*all));
	*out = tmp ? tmp : all;
	return 0;
}

int filter_stats_remove(const char *dir, uint32_t id)
{
	char path[STATE_PATH_MAX + 64];
	int err = stats_path(dir, id, path, sizeof(path));

	if (err)
		return err;
	return unlink(path) && errno != ENOENT ? -errno : 0;
}

int filter_stats_publish(const char *dir, uint32_t id, struct filter_chain *c, uint64_t *due_ns,
			 void (*seen)(const struct filter_stats *fs, void *arg), void *arg)
{
	uint64_t now = clock_ns(CLOCK_MONOTONIC);
	struct filter_stats *fs;
	int err;

	if (now < *due_ns)
		return 0;
	*due_ns = now + FILTER_STATS_PERIOD_NS;
	fs = malloc(sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	err = filter_stats_take(fs, c, id, getpid());
	if (!err) {
		err = filter_stats_write(dir, fs);
		if (seen)
			seen(fs, arg);
	}
	free(fs);
	return err;
}
