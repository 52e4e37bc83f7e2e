// SPDX-License-Identifier: GPL-2.0
/*
 * spec.c - parsing the throttle's settings; see spec.h.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/units.h"
#include "throttle/spec.h"

/* The policy grammar (lib/units.h), with a unit, above zero and at most an hour. */
int throttle_parse_duration(const char *s, uint64_t *ns)
{
	uint64_t v;
	int err;

	err = units_parse_abs(UNIT_DURATION, s, &v);
	if (err)
		return err == -ERANGE ? -ERANGE : -EINVAL;
	if (!v || v > 3600 * NSEC_PER_SEC)
		return -ERANGE;
	*ns = v;
	return 0;
}

int throttle_parse_number(const char *s, bool decimal, uint64_t *v)
{
	double base = decimal ? 1000.0 : 1024.0, mul = 1, x;
	char *end;

	errno = 0;
	x = strtod(s, &end);
	if (errno || end == s || x < 0 || !isfinite(x))
		return -EINVAL;
	if (*end == 'k' || *end == 'K')
		mul = base;
	else if (*end == 'M')
		mul = base * base;
	else if (*end == 'G')
		mul = base * base * base;
	else if (*end)
		return -EINVAL;
	if (*end && end[1])
		return -EINVAL;
	if (x * mul > 1e18)
		return -ERANGE;
	*v = (uint64_t)llround(x * mul);
	return 0;
}

int throttle_parse_threshold(const char *s, struct throttle_disk_cfg *cfg)
{
	const char *pct = strchr(s, '%');
	uint64_t v;
	char *end;
	long p;

	if (pct) {
		if (strcmp(pct, "%") && strcmp(pct, "%peak"))
			return -EINVAL;
		errno = 0;
		p = strtol(s, &end, 10);
		if (errno || end != pct || p < 1 || p > 100)
			return -EINVAL;
		cfg->mode = THROTTLE_MODE_PEAK;
		cfg->peak_pct = (unsigned int)p;
		cfg->threshold_ns = 0;
		return 0;
	}
	if (throttle_parse_duration(s, &v))
		return -EINVAL;
	cfg->mode = THROTTLE_MODE_LATENCY;
	cfg->threshold_ns = v;
	return 0;
}

static int set_key(struct throttle_class_cfg *cc, const char *key, const char *val)
{
	uint64_t v;
	int err;

	if (!strcmp(key, "rbps") || !strcmp(key, "wbps"))
		err = throttle_parse_number(val, false, &v);
	else
		err = throttle_parse_number(val, true, &v);
	if (err)
		return err;
	if (!strcmp(key, "shares")) {
		if (!v || v > 1000000)
			return -ERANGE;
		cc->shares = (unsigned int)v;
	} else if (!strcmp(key, "riops")) {
		cc->iops[THROTTLE_READ] = v;
	} else if (!strcmp(key, "wiops")) {
		cc->iops[THROTTLE_WRITE] = v;
	} else if (!strcmp(key, "rbps")) {
		cc->bps[THROTTLE_READ] = v;
	} else if (!strcmp(key, "wbps")) {
		cc->bps[THROTTLE_WRITE] = v;
	} else if (!strcmp(key, "reserve")) {
		cc->reserve_iops = v;
	} else {
		return -ENOENT;
	}
	return 0;
}

int throttle_parse_class(const char *s, char *path, size_t len, struct throttle_class_cfg *cc)
{
	char buf[1024], *colon, *tok, *save;
	size_t plen;
	int err;

	if (strlen(s) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, s);
	memset(cc, 0, sizeof(*cc));
	cc->shares = 100;
	/* The last ':' followed by key=value starts the settings; a path may
	 * hold colons of its own. */
	colon = strrchr(buf, ':');
	if (colon && !strchr(colon, '='))
		colon = NULL;
	if (colon)
		*colon = '\0';
	plen = strlen(buf);
	if (!plen || plen >= len)
		return -EINVAL;
	memcpy(path, buf, plen + 1);
	if (!colon)
		return 0;
	for (tok = strtok_r(colon + 1, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq)
			return -EINVAL;
		*eq = '\0';
		err = set_key(cc, tok, eq + 1);
		if (err)
			return err == -ENOENT ? -ENOENT : -EINVAL;
	}
	return 0;
}
