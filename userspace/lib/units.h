/* SPDX-License-Identifier: GPL-2.0 */
/*
 * units.h - the quantities people write (in policy files and on the command
 * line) and read (in tables): durations (30ms, 500us), sizes (4KiB, 1MB),
 * byte rates (200MiB/s), operation rates (5000 iops) and shares of a
 * measured peak (90% peak). One grammar for all of sluice: the parsers are
 * in units_parse.c, the table formatting in units.c.
 *
 * Parsing is strict: a number, optional spaces, a unit from the kind's
 * list; nothing after. Decimal units (KB, MB) are powers of 1000, binary
 * ones (KiB, MiB) of 1024.
 *
 * Every parser returns 0 or one of:
 *	-EINVAL	not a number where one is expected (or nothing at all)
 *	-EDOM	a unit this kind does not know (units_list() names the valid ones)
 *	-ERANGE	the value does not fit in 64 bits
 */
#ifndef SLUICE_LIB_UNITS_H
#define SLUICE_LIB_UNITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NSEC_PER_USEC	1000ULL
#define NSEC_PER_MSEC	1000000ULL
#define NSEC_PER_SEC	1000000000ULL

enum unit_kind {
	UNIT_DURATION,	/* -> nanoseconds; bare numbers are rejected */
	UNIT_SIZE,	/* -> bytes; a bare number is bytes */
	UNIT_RATE,	/* -> bytes per second; needs "/s" */
	UNIT_IOPS,	/* -> operations per second; bare number or "iops" */
	UNIT_COUNT,	/* plain non-negative integer */
};

/* A parsed quantity: either an absolute value or a percentage of peak. */
struct unit_val {
	uint64_t v;	/* value in the kind's base unit, or the percentage */
	bool pct;	/* "N% peak": v is N (0..100) */
};

int units_parse(enum unit_kind kind, const char *s, struct unit_val *out);

/* Same, but "N% peak" is -EDOM: for fields where a share of peak means nothing. */
int units_parse_abs(enum unit_kind kind, const char *s, uint64_t *out);

/* The units a kind accepts, for error messages: "ns, us, ms, s, m or h". */
const char *units_list(enum unit_kind kind);

/*
 * The shortest exact spelling of @v: the largest unit that divides it
 * ("30ms", "4KiB", "200MiB/s", "5000 iops"), so parse(format(v)) == v.
 * Returns the number of characters written, like snprintf.
 */
int units_format(enum unit_kind kind, uint64_t v, char *buf, size_t len);

/*
 * Human formatting for tables (rounded, unlike units_format()). Each writes
 * at most @len bytes including the NUL and returns @buf.
 */
/* 850ns, 12.3us, 4.56ms, 1.20s */
char *units_fmt_ns(double ns, char *buf, size_t len);

/* 512B, 4.0KiB, 12.5MiB, 1.2GiB */
char *units_fmt_bytes(double bytes, char *buf, size_t len);

/* 999, 12.3k, 4.56M */
char *units_fmt_count(double n, char *buf, size_t len);

#endif /* SLUICE_LIB_UNITS_H */
