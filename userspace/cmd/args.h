/* SPDX-License-Identifier: GPL-2.0 */
/*
 * args.h - the one argument layer of every subcommand (docs/cmd/arguments.md
 * is the grammar people read).
 *
 * Each subcommand has a parse_argv() in the manner of systemd's: it returns
 * > 0 to go on, 0 to exit with status 0 (after --help), < 0 for a usage
 * error already logged (exit status 2, args_exit_status()). Values go
 * through the parse_*_argument() helpers below, so that a duration, a size,
 * a count or a choice is written the same way and refused in the same words
 * on every command:
 *
 *	sluice: error: --interval '5x': expected a duration (500ms, 2s, 1m; a bare
 *	number is seconds)
 *
 * Each helper returns 0, or -EINVAL / -ERANGE after logging that one line
 * naming the option, the value and what is expected.
 */
#ifndef SLUICE_CMD_ARGS_H
#define SLUICE_CMD_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lib/units.h"	/* NSEC_PER_SEC for the limits callers give */

/* parse_argv()'s result to the process exit status: 0, or 2 for an error. */
static inline int args_exit_status(int r)
{
	return r < 0 ? 2 : 0;
}

/*
 * A duration, in nanoseconds: a number with an optional fraction and one of
 * the policy units ns, us, ms, s, m, h ("500ms", "1.5s", "2m"); a bare number
 * is seconds ("1", "0.5"). At least @min_ns, at most @max_ns (0 = no limit).
 */
int parse_duration_argument(const char *opt, const char *arg, uint64_t min_ns,
			    uint64_t max_ns, uint64_t *ns);

/* A whole number from @min to @max, digits only ("10"; no sign, no unit). */
int parse_count_argument(const char *opt, const char *arg, uint64_t min, uint64_t max,
			 uint64_t *v);

/* parse_count_argument() into an unsigned int. */
int parse_uint_argument(const char *opt, const char *arg, unsigned int min, unsigned int max,
			unsigned int *v);

/*
 * A size, in bytes: a bare number is bytes; the policy units B, KiB, MiB,
 * GiB, TiB (powers of 1024) and KB, MB, GB, TB (powers of 1000); and the
 * short K, M, G, T, P (powers of 1024, any case: "64M", "1.5G"). Not zero.
 */
int parse_size_argument(const char *opt, const char *arg, uint64_t *bytes);

/* One of @n @names, exactly; its index in *@idx. */
int parse_enum_argument(const char *opt, const char *arg, const char *const *names, size_t n,
			unsigned int *idx);

/*
 * A served disk as commands name it: "/dev/ublkb3", "ublkb3", "ublkc3" or
 * "3", its id in *@id; otherwise "'X': not a ublk disk; give /dev/ublkbN or N
 * (see 'sluice disks')" and -EINVAL.
 */
int parse_disk_argument(const char *arg, uint32_t *id);

/* "CMD takes no arguments ('X'); see 'sluice CMD --help'": always -EINVAL. */
int args_unexpected(const char *cmd, const char *arg);

/*
 * The whole parse_argv() of a command whose only option is --json (and
 * --help): @usage prints its help to the stream given.
 */
int parse_json_only_argv(int argc, char **argv, const char *cmd, void (*usage)(FILE *f),
			 bool *json);

#endif /* SLUICE_CMD_ARGS_H */
