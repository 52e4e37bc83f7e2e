// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/macro.h"
#include "lib/units.h"

struct unit {
	const char *name;
	uint64_t mult;
};

#define NSEC	1ULL
#define USEC	NSEC_PER_USEC
#define MSEC	NSEC_PER_MSEC
#define SEC	NSEC_PER_SEC

/* Largest first: units_format() takes the first unit that divides exactly. */
static const struct unit durations[] = {
	{ "h", 3600 * SEC }, { "m", 60 * SEC }, { "s", SEC },
	{ "ms", MSEC }, { "us", USEC }, { "ns", NSEC },
};

static const struct unit sizes[] = {
	{ "TiB", 1ULL << 40 }, { "GiB", 1ULL << 30 }, { "MiB", 1ULL << 20 },
	{ "KiB", 1ULL << 10 },
	{ "TB", 1000000000000ULL }, { "GB", 1000000000ULL }, { "MB", 1000000ULL },
	{ "KB", 1000ULL }, { "B", 1 },
};

const char *units_list(enum unit_kind kind)
{
	switch (kind) {
	case UNIT_DURATION:
		return "ns, us, ms, s, m or h";
	case UNIT_SIZE:
		return "B, KB, MB, GB, TB, KiB, MiB, GiB or TiB";
	case UNIT_RATE:
		return "B/s, KB/s, MB/s, GB/s, KiB/s, MiB/s, GiB/s (or 'N% peak')";
	case UNIT_IOPS:
		return "iops (or 'N% peak')";
	case UNIT_COUNT:
		return "no unit";
	}
	return "";
}

/*
 * Decimal number with an optional fraction, scaled by @mult; the result must
 * be a whole number of base units so that "1.5KiB" is fine and "0.3B" is not.
 */
static int scale(const char *num, size_t len, uint64_t mult, uint64_t *out)
{
	uint64_t ip = 0, fp = 0, fdiv = 1, v, f;
	size_t i = 0;
	bool digits = false;

	for (; i < len && num[i] >= '0' && num[i] <= '9'; i++) {
		digits = true;
		if (__builtin_mul_overflow(ip, 10, &ip) ||
		    __builtin_add_overflow(ip, (uint64_t)(num[i] - '0'), &ip))
			return -ERANGE;
	}
	if (i < len && num[i] == '.') {
		i++;
		for (; i < len && num[i] >= '0' && num[i] <= '9'; i++) {
			digits = true;
			/* 18 fractional digits keep fdiv within 64 bits */
			if (fdiv >= 100000000000000000ULL)
				return -EINVAL;
			fp = fp * 10 + (uint64_t)(num[i] - '0');
			fdiv *= 10;
		}
	}
	if (!digits || i != len)
		return -EINVAL;
	if (__builtin_mul_overflow(ip, mult, &v))
		return -ERANGE;
	if (fp) {
		unsigned __int128 p = (unsigned __int128)fp * mult;

		if (p % fdiv)
			return -EINVAL;
		f = (uint64_t)(p / fdiv);
		if (__builtin_add_overflow(v, f, &v))
			return -ERANGE;
	}
	*out = v;
	return 0;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

static const struct unit *find_unit(const struct unit *t, size_t n, const char *u, size_t ulen)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strlen(t[i].name) == ulen && !strncmp(t[i].name, u, ulen))
			return &t[i];
	return NULL;
}

static int parse_pct(const char *s, const char *pct, struct unit_val *out)
{
	const char *p = pct + 1;
	uint64_t v;
	int err;

	err = scale(s, (size_t)(pct - s), 1, &v);
	if (err)
		return err;
	while (is_space(*p))
		p++;
	if (*p && strcmp(p, "peak"))
		return -EDOM;
	if (v == 0 || v > 100)
		return -ERANGE;
	out->v = v;
	out->pct = true;
	return 0;
}

int units_parse(enum unit_kind kind, const char *s, struct unit_val *out)
{
	const char *end, *u, *pct;
	const struct unit *unit = NULL;
	size_t nlen, ulen;

	if (!s)
		return -EINVAL;
	out->pct = false;
	end = s + strlen(s);
	/* the number: digits and at most one dot */
	for (u = s; u < end && ((*u >= '0' && *u <= '9') || *u == '.'); u++)
		;
	nlen = (size_t)(u - s);
	while (u < end && is_space(*u))
		u++;
	ulen = (size_t)(end - u);

	pct = (ulen && *u == '%') ? u : NULL;
	if (pct) {
		if (kind != UNIT_RATE && kind != UNIT_IOPS)
			return -EDOM;
		return parse_pct(s, pct, out);
	}
	if (!nlen)
		return -EINVAL;

	switch (kind) {
	case UNIT_DURATION:
		if (!ulen)
			return -EDOM;
		unit = find_unit(durations, ARRAY_SIZE(durations), u, ulen);
		break;
	case UNIT_SIZE:
		unit = ulen ? find_unit(sizes, ARRAY_SIZE(sizes), u, ulen) : &sizes[ARRAY_SIZE(sizes) - 1];
		break;
	case UNIT_RATE:
		if (ulen > 2 && !strcmp(end - 2, "/s"))
			unit = find_unit(sizes, ARRAY_SIZE(sizes), u, ulen - 2);
		break;
	case UNIT_IOPS:
		if (!ulen || (ulen == 4 && !strncmp(u, "iops", 4)))
			unit = &sizes[ARRAY_SIZE(sizes) - 1];
		break;
	case UNIT_COUNT:
		if (!ulen)
			unit = &sizes[ARRAY_SIZE(sizes) - 1];
		break;
	}
	if (!unit) {
		/* "12abc" with no digits-only prefix problem is a unit error, "1.2.3" a number one */
		if (ulen && ((*u >= '0' && *u <= '9') || *u == '.'))
			return -EINVAL;
		return -EDOM;
	}
	return scale(s, nlen, unit->mult, &out->v);
}

int units_parse_abs(enum unit_kind kind, const char *s, uint64_t *out)
{
	struct unit_val uv;
	int err;

	err = units_parse(kind, s, &uv);
	if (err)
		return err;
	if (uv.pct)
		return -EDOM;
	*out = uv.v;
	return 0;
}

int units_format(enum unit_kind kind, uint64_t v, char *buf, size_t len)
{
	const struct unit *t = sizes;
	size_t n = ARRAY_SIZE(sizes), i;

	switch (kind) {
	case UNIT_DURATION:
		t = durations;
		n = ARRAY_SIZE(durations);
		break;
	case UNIT_SIZE:
	case UNIT_RATE:
		break;
	case UNIT_IOPS:
		return snprintf(buf, len, "%llu iops", (unsigned long long)v);
	case UNIT_COUNT:
		return snprintf(buf, len, "%llu", (unsigned long long)v);
	}
	for (i = 0; i < n; i++) {
		/* binary units only for sizes people think of in binary */
		if (v && v % t[i].mult == 0)
			break;
	}
	if (i == n || !v)
		i = n - 1;
	return snprintf(buf, len, "%llu%s%s", (unsigned long long)(v / t[i].mult), t[i].name,
			kind == UNIT_RATE ? "/s" : "");
}
