/* SPDX-License-Identifier: GPL-2.0 */
/*
 * iomax.h - cgroup v2 io.max, one (cgroup, disk) line at a time, and the
 * book of what the throttle wrote there so that it can take back exactly
 * its own limits (fail-open) and never a static one.
 *
 * The file format: "MAJ:MIN riops=N wiops=N rbps=N wbps=N", "max" for
 * unlimited; a disk with no limits has no line. Zero means unlimited here.
 */
#ifndef SLUICE_THROTTLE_IOMAX_H
#define SLUICE_THROTTLE_IOMAX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct iomax_limits {
	uint64_t riops, wiops, rbps, wbps;	/* 0 = max */
};

/* Parses one line of io.max; -EINVAL if it is not one. */
int iomax_parse_line(const char *line, unsigned int *maj, unsigned int *min,
		     struct iomax_limits *l);

/* Formats the line that sets exactly l (every key, "max" where 0). */
int iomax_format(char *buf, size_t len, unsigned int maj, unsigned int min,
		 const struct iomax_limits *l);

/* Reads cgroup_dir/io.max for one disk; all zero when the disk has no line. */
int iomax_read(const char *cgroup_dir, unsigned int maj, unsigned int min,
	       struct iomax_limits *l);

/* Writes one disk's line to cgroup_dir/io.max. */
int iomax_write(const char *cgroup_dir, unsigned int maj, unsigned int min,
		const struct iomax_limits *l);

/* out = the stricter of a and b, field by field. */
void iomax_merge(const struct iomax_limits *a, const struct iomax_limits *b,
		 struct iomax_limits *out);

static inline bool iomax_equal(const struct iomax_limits *a, const struct iomax_limits *b)
{
	return a->riops == b->riops && a->wiops == b->wiops && a->rbps == b->rbps &&
	       a->wbps == b->wbps;
}

/*
 * One (cgroup, disk) the throttle manages. base is what must stay when the
 * throttle lets go: the policy's static limits merged with whatever was in
 * io.max before the throttle first touched it.
 */
struct iomax_entry {
	char *cgroup_dir;
	unsigned int maj, min;
	struct iomax_limits base;
	struct iomax_limits set;	/* last written */
	bool written;
};

struct iomax_book {
	struct iomax_entry *e;
	size_t n, cap;
	char *record;			/* file the book is kept in, for --cleanup; may be NULL */
};

/* record: where to persist the book (atomically, on every change), or NULL. */
int iomax_book_init(struct iomax_book *b, const char *record);
void iomax_book_free(struct iomax_book *b);

/* Registers a (cgroup, disk): reads what io.max holds now and merges it
 * with the static limits into the entry's base. Returns the entry index. */
int iomax_book_add(struct iomax_book *b, const char *cgroup_dir, unsigned int maj,
		   unsigned int min, const struct iomax_limits *stat);

/* Writes base merged with dyn (NULL: base only) if it differs from what was
 * last written. Sets *changed accordingly (may be NULL). */
int iomax_book_apply(struct iomax_book *b, size_t idx, const struct iomax_limits *dyn,
		     bool *changed);

/* Writes back every base; the first error is returned, the rest still tried. */
int iomax_book_restore(struct iomax_book *b);

/*
 * Lets go of the dynamic limits, but only where io.max still holds what the
 * throttle last wrote: an entry someone else rewrote since (a new policy
 * generation's static limits, written by 'policy apply') keeps what they
 * wrote. *kept counts those (may be NULL). The record is removed on success.
 */
int iomax_book_release(struct iomax_book *b, unsigned int *kept);

/* Reads a record left by a killed throttle and writes its bases back.
 * *restored counts the lines; -ENOENT when there is no record. */
int iomax_book_cleanup_record(const char *record, unsigned int *restored);

#endif /* SLUICE_THROTTLE_IOMAX_H */
