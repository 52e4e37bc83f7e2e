// SPDX-License-Identifier: GPL-2.0
/*
 * args.c - see args.h. The grammar of quantities is lib/units.h's, the one
 * policy files use; only the command line's bare-number rules live here.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmd/args.h"
#include "lib/log.h"
#include "lib/units.h"

#define DURATION_FORMS	"500ms, 2s, 1m; a bare number is seconds"

static bool is_bare_number(const char *s)
{
	return *s && s[strspn(s, "0123456789.")] == '\0';
}

int parse_duration_argument(const char *opt, const char *arg, uint64_t min_ns,
			    uint64_t max_ns, uint64_t *ns)
{
	char with_unit[64], lo[24], hi[24];
	uint64_t v;
	int err;

	if (is_bare_number(arg) && strlen(arg) < sizeof(with_unit) - 1) {
		snprintf(with_unit, sizeof(with_unit), "%ss", arg);
		err = units_parse_abs(UNIT_DURATION, with_unit, &v);
	} else {
		err = units_parse_abs(UNIT_DURATION, arg, &v);
	}
	if (err) {
		log_err("%s '%s': expected a duration (" DURATION_FORMS ")", opt, arg);
		return err == -ERANGE ? -ERANGE : -EINVAL;
	}
	if (v < min_ns || (max_ns && v > max_ns)) {
		units_format(UNIT_DURATION, min_ns, lo, sizeof(lo));
		units_format(UNIT_DURATION, max_ns, hi, sizeof(hi));
		if (max_ns)
			log_err("%s '%s': expected a duration from %s to %s (" DURATION_FORMS
				")", opt, arg, lo, hi);
		else
			log_err("%s '%s': expected a duration of at least %s (" DURATION_FORMS
				")", opt, arg, lo);
		return -ERANGE;
	}
	*ns = v;
	return 0;
}

int parse_count_argument(const char *opt, const char *arg, uint64_t min, uint64_t max,
			 uint64_t *v)
{
	uint64_t x;
	int err;

	err = units_parse_abs(UNIT_COUNT, arg, &x);
	/* UNIT_COUNT takes a fraction that makes a whole number ("1.0"): not here. */
	if (!err && strchr(arg, '.'))
		err = -EINVAL;
	if (!err && (x < min || x > max))
		err = -ERANGE;
	if (err) {
		if (max == UINT64_MAX)
			log_err("%s '%s': expected a whole number of at least %llu", opt, arg,
				(unsigned long long)min);
		else
			log_err("%s '%s': expected a whole number from %llu to %llu", opt, arg,
				(unsigned long long)min, (unsigned long long)max);
		return err == -ERANGE ? -ERANGE : -EINVAL;
	}
	*v = x;
	return 0;
}

int parse_uint_argument(const char *opt, const char *arg, unsigned int min, unsigned int max,
			unsigned int *v)
{
	uint64_t x;
	int err;

	err = parse_count_argument(opt, arg, min, max, &x);
	if (!err)
		*v = (unsigned int)x;
	return err;
}

/*
 * The short binary form 'serve --size' has always taken: a number, one of
 * K, M, G, T, P in any case, optionally "iB" ("64M", "1.5g", "2t", "8kib").
 */
static int short_size(const char *arg, uint64_t *v)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "TiB" };
	static const char letters[] = "KMGTP";
	const char *l;
	char buf[64];
	size_t n = strlen(arg);
	int err;

	if (n > 2 && !strcasecmp(arg + n - 2, "iB"))
		n -= 2;
	if (n < 2 || n >= sizeof(buf) - 4)
		return -EINVAL;
	l = memchr(letters, toupper((unsigned char)arg[n - 1]), sizeof(letters) - 1);
	if (!l)
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%.*s%s", (int)(n - 1), arg, units[l - letters]);
	err = units_parse_abs(UNIT_SIZE, buf, v);
	/* lib/units stops at TiB: a PiB is 1024 of them. */
	if (!err && *l == 'P' && __builtin_mul_overflow(*v, 1024, v))
		err = -ERANGE;
	return err;
}

int parse_size_argument(const char *opt, const char *arg, uint64_t *bytes)
{
	uint64_t v;
	int err;

	err = units_parse_abs(UNIT_SIZE, arg, &v);
	if (err == -EDOM)
		err = short_size(arg, &v);
	if (!err && !v)
		err = -ERANGE;
	if (err) {
		log_err("%s '%s': expected a size (4096, 64M, 1.5G, 8KiB, 1MB; K, M, G, T are "
			"powers of 1024)", opt, arg);
		return err == -ERANGE ? -ERANGE : -EINVAL;
	}
	*bytes = v;
	return 0;
}

int parse_enum_argument(const char *opt, const char *arg, const char *const *names, size_t n,
			unsigned int *idx)
{
	char list[256];
	size_t i, off = 0;

	for (i = 0; i < n; i++) {
		if (!strcmp(arg, names[i])) {
			*idx = (unsigned int)i;
			return 0;
		}
	}
	list[0] = '\0';
	for (i = 0; i < n && off < sizeof(list); i++)
		off += snprintf(list + off, sizeof(list) - off, "%s%s", names[i],
				i + 2 < n ? ", " : i + 2 == n ? " or " : "");
	log_err("%s '%s': expected %s", opt, arg, list);
	return -EINVAL;
}

int parse_disk_argument(const char *arg, uint32_t *id)
{
	const char *s = arg;
	unsigned long v;
	char *end;

	if (!strncmp(s, "/dev/", 5))
		s += 5;
	if (!strncmp(s, "ublkb", 5) || !strncmp(s, "ublkc", 5))
		s += 5;
	errno = 0;
	v = *s >= '0' && *s <= '9' ? strtoul(s, &end, 10) : ULONG_MAX;
	if (v == ULONG_MAX || errno || *end || v > INT32_MAX) {
		log_err("'%s': not a ublk disk; give /dev/ublkbN or N (see 'sluice disks')", arg);
		return -EINVAL;
	}
	*id = (uint32_t)v;
	return 0;
}

int args_unexpected(const char *cmd, const char *arg)
{
	log_err("%s takes no arguments ('%s'); see 'sluice %s --help'", cmd, arg, cmd);
	return -EINVAL;
}

int parse_json_only_argv(int argc, char **argv, const char *cmd, void (*usage)(FILE *f),
			 bool *json)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			*json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc)
		return args_unexpected(cmd, argv[optind]);
	return 1;
}
