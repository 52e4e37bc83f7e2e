// SPDX-License-Identifier: GPL-2.0
/*
 * iomax.c - cgroup v2 io.max lines and the book of what the throttle set.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "throttle/iomax.h"

static const char *const keys[] = { "riops", "wiops", "rbps", "wbps" };

static uint64_t *field(struct iomax_limits *l, int k)
{
	uint64_t *f[] = { &l->riops, &l->wiops, &l->rbps, &l->wbps };

	return f[k];
}

int iomax_parse_line(const char *line, unsigned int *maj, unsigned int *min,
		     struct iomax_limits *l)
{
	char buf[256], *tok, *save;
	int n = 0, k;

	if (strlen(line) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, line);
	memset(l, 0, sizeof(*l));
	if (sscanf(buf, "%u:%u %n", maj, min, &n) < 2 || !n)
		return -EINVAL;
	for (tok = strtok_r(buf + n, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
		char *eq = strchr(tok, '='), *end;
		unsigned long long v;

		if (!eq)
			return -EINVAL;
		*eq = '\0';
		for (k = 0; k < 4; k++)
			if (!strcmp(tok, keys[k]))
				break;
		if (k == 4)
			return -EINVAL;
		if (!strcmp(eq + 1, "max")) {
			*field(l, k) = 0;
			continue;
		}
		errno = 0;
		v = strtoull(eq + 1, &end, 10);
		if (errno || *end || end == eq + 1)
			return -EINVAL;
		*field(l, k) = v;
	}
	return 0;
}

int iomax_format(char *buf, size_t len, unsigned int maj, unsigned int min,
		 const struct iomax_limits *l)
{
	size_t off;
	int k, n;

	n = snprintf(buf, len, "%u:%u", maj, min);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	off = n;
	for (k = 0; k < 4; k++) {
		uint64_t v = *field((struct iomax_limits *)l, k);

		if (v)
			n = snprintf(buf + off, len - off, " %s=%" PRIu64, keys[k], v);
		else
			n = snprintf(buf + off, len - off, " %s=max", keys[k]);
		if (n < 0 || (size_t)n >= len - off)
			return -ENAMETOOLONG;
		off += n;
	}
	return 0;
}

static int iomax_path(char *buf, size_t len, const char *cgroup_dir)
{
	int n = snprintf(buf, len, "%s/io.max", cgroup_dir);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int iomax_read(const char *cgroup_dir, unsigned int maj, unsigned int min,
	       struct iomax_limits *l)
{
	char path[4096], line[256];
	unsigned int ma, mi;
	FILE *f;
	int err;

	memset(l, 0, sizeof(*l));
	err = iomax_path(path, sizeof(path), cgroup_dir);
	if (err)
		return err;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	err = 0;
	while (fgets(line, sizeof(line), f)) {
		struct iomax_limits tmp;

		if (iomax_parse_line(line, &ma, &mi, &tmp))
			continue;
		if (ma == maj && mi == min) {
			*l = tmp;
			break;
		}
	}
	if (ferror(f))
		err = -EIO;
	fclose(f);
	return err;
}

int iomax_write(const char *cgroup_dir, unsigned int maj, unsigned int min,
		const struct iomax_limits *l)
{
	char path[4096], line[256];
	ssize_t n;
	int fd, err;

	err = iomax_path(path, sizeof(path), cgroup_dir);
	if (err)
		return err;
	err = iomax_format(line, sizeof(line), maj, min, l);
	if (err)
		return err;
	/* No O_CREAT: io.max exists wherever the io controller is enabled. */
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, line, strlen(line));
	err = n < 0 ? -errno : (size_t)n != strlen(line) ? -EIO : 0;
	close(fd);
	return err;
}

static uint64_t min_nonzero(uint64_t a, uint64_t b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return a < b ? a : b;
}

void iomax_merge(const struct iomax_limits *a, const struct iomax_limits *b,
		 struct iomax_limits *out)
{
	struct iomax_limits r;
	int k;

	for (k = 0; k < 4; k++)
		*field(&r, k) = min_nonzero(*field((struct iomax_limits *)a, k),
					    *field((struct iomax_limits *)b, k));
	*out = r;
}

int iomax_book_init(struct iomax_book *b, const char *record)
{
	memset(b, 0, sizeof(*b));
	if (record) {
		b->record = strdup(record);
		if (!b->record)
			return -ENOMEM;
	}
	return 0;
}

void iomax_book_free(struct iomax_book *b)
{
	size_t i;

	if (!b)
		return;
	for (i = 0; i < b->n; i++)
		free(b->e[i].cgroup_dir);
	free(b->e);
	free(b->record);
	memset(b, 0, sizeof(*b));
}

/*
 * The record lists what to write back: "<io.max line> <cgroup dir>". It is
 * what takes the dynamic limits back after a crash (the guardian, the next
 * start, --cleanup), so it is durable (FILE_ATOMIC_SYNC): io.max outlives
 * the process, and a record lost with a limit in force would leave that
 * limit on until someone notices. It changes only when a limit is first
 * written, not every interval.
 */
static int book_save(const struct iomax_book *b)
{
	char line[256], *buf = NULL;
	size_t i, len = 0;
	FILE *f;
	int err = 0;

	if (!b->record)
		return 0;
	f = open_memstream(&buf, &len);
	if (!f)
		return -errno;
	for (i = 0; i < b->n; i++) {
		if (!b->e[i].written)
			continue;
		err = iomax_format(line, sizeof(line), b->e[i].maj, b->e[i].min, &b->e[i].base);
		if (err)
			break;
		fprintf(f, "%s %s\n", line, b->e[i].cgroup_dir);
	}
	if (fclose(f) && !err)
		err = -errno;
	if (!err)
		err = write_file_atomic(b->record, buf, len, 0644, FILE_ATOMIC_SYNC);
	free(buf);
	return err;
}

int iomax_book_add(struct iomax_book *b, const char *cgroup_dir, unsigned int maj,
		   unsigned int min, const struct iomax_limits *stat)
{
	struct iomax_limits now;
	struct iomax_entry *e;
	int err;

	err = iomax_read(cgroup_dir, maj, min, &now);
	if (err)
		return err;
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 8;

		e = realloc(b->e, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		b->e = e;
		b->cap = cap;
	}
	e = &b->e[b->n];
	memset(e, 0, sizeof(*e));
	e->cgroup_dir = strdup(cgroup_dir);
	if (!e->cgroup_dir)
		return -ENOMEM;
	e->maj = maj;
	e->min = min;
	iomax_merge(&now, stat, &e->base);
	e->set = now;
	return (int)b->n++;
}

int iomax_book_apply(struct iomax_book *b, size_t idx, const struct iomax_limits *dyn,
		     bool *changed)
{
	struct iomax_entry *e = &b->e[idx];
	struct iomax_limits want = e->base;
	bool was_written = e->written;
	int err;

	if (changed)
		*changed = false;
	if (dyn)
		iomax_merge(&e->base, dyn, &want);
	if (e->written && iomax_equal(&want, &e->set))
		return 0;
	/* Record first: if we die between the two, cleanup has a harmless
	 * extra line rather than a limit nobody knows about. The record holds
	 * the bases of the written entries only, so it changes when an entry
	 * is first written: saving it (and fsyncing the file and its
	 * directory) before every write cost the daemon two fsyncs an
	 * interval while it held the shares (issue 19). */
	if (!was_written) {
		e->written = true;
		err = book_save(b);
		if (err) {
			e->written = false;
			return err;
		}
	}
	err = iomax_write(e->cgroup_dir, e->maj, e->min, &want);
	if (err)
		return err;
	if (changed)
		*changed = !iomax_equal(&want, &e->set);
	e->set = want;
	return 0;
}

int iomax_book_restore(struct iomax_book *b)
{
	size_t i;
	int err = 0, e;

	for (i = 0; i < b->n; i++) {
		if (!b->e[i].written)
			continue;
		e = iomax_write(b->e[i].cgroup_dir, b->e[i].maj, b->e[i].min, &b->e[i].base);
		if (e && !err)
			err = e;
		if (!e) {
			b->e[i].set = b->e[i].base;
			b->e[i].written = false;
		}
	}
	if (!err && b->record)
		unlink(b->record);
	return err;
}

int iomax_book_release(struct iomax_book *b, unsigned int *kept)
{
	struct iomax_limits now;
	size_t i;
	int err = 0, e;

	if (kept)
		*kept = 0;
	for (i = 0; i < b->n; i++) {
		if (!b->e[i].written)
			continue;
		e = iomax_read(b->e[i].cgroup_dir, b->e[i].maj, b->e[i].min, &now);
		if (e == -ENOENT)
			continue;	/* the cgroup is gone, and its limits with it */
		if (!e && !iomax_equal(&now, &b->e[i].set)) {
			if (kept)
				(*kept)++;
			b->e[i].written = false;
			continue;
		}
		if (!e)
			e = iomax_write(b->e[i].cgroup_dir, b->e[i].maj, b->e[i].min, &b->e[i].base);
		if (e && !err)
			err = e;
		if (!e) {
			b->e[i].set = b->e[i].base;
			b->e[i].written = false;
		}
	}
	if (!err && b->record)
		unlink(b->record);
	return err;
}

int iomax_book_cleanup_record(const char *record, unsigned int *restored)
{
	char line[4096 + 256];
	FILE *f;
	int err = 0;

	*restored = 0;
	f = fopen(record, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		struct iomax_limits l;
		unsigned int maj, min;
		char *dir, *nl;
		int e;

		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		/* The io.max part has exactly five fields; the directory follows. */
		dir = line;
		for (e = 0; e < 5 && dir; e++) {
			dir = strchr(dir, ' ');
			if (dir)
				dir++;
		}
		if (!dir || !*dir)
			continue;
		dir[-1] = '\0';
		if (iomax_parse_line(line, &maj, &min, &l))
			continue;
		e = iomax_write(dir, maj, min, &l);
		if (e == -ENOENT)
			continue;	/* the cgroup is gone, and its limits with it */
		if (e && !err)
			err = e;
		if (!e)
			(*restored)++;
	}
	fclose(f);
	if (!err)
		unlink(record);
	return err;
}
