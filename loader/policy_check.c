// SPDX-License-Identifier: GPL-2.0
/*
 * policy_check.c - parsed YAML trees -> a checked policy set. Every problem
 * becomes a diagnostic at the offending node and checking goes on, so one
 * run reports everything wrong with a file.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/sluice.h"
#include "loader/policy.h"
#include "loader/policy_resolve.h"
#include "lib/macro.h"
#include "lib/units.h"


struct ctx {
	const struct policy_opts *opts;
	struct policy_diags *d;
	struct policy_set *set;
	const struct pol_policy *cur;	/* whose services are being checked */
	int nomem;
};

/* ------------------------------------------------------------- helpers -- */

unsigned int policy_edit_distance(const char *a, const char *b)
{
	unsigned int row[64], i, j, prev, tmp, la = strlen(a), lb = strlen(b);

	if (la >= ARRAY_SIZE(row) || lb >= ARRAY_SIZE(row))
		return 255;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			row[j] = prev + (a[i - 1] != b[j - 1]);
			if (row[j - 1] + 1 < row[j])
				row[j] = row[j - 1] + 1;
			if (tmp + 1 < row[j])
				row[j] = tmp + 1;
			prev = tmp;
		}
	}
	return row[lb];
}

/* The closest of @cands to @word, if close enough to be a plausible typo. */
static const char *nearest(const char *word, const char *const *cands, size_t n)
{
	unsigned int best = 255, d, limit;
	const char *pick = NULL;
	size_t i;

	for (i = 0; i < n; i++) {
		d = policy_edit_distance(word, cands[i]);
		if (d < best) {
			best = d;
			pick = cands[i];
		}
	}
	limit = strlen(word) > 6 ? 3 : 2;
	return best <= limit ? pick : NULL;
}

static char *xstrdup(struct ctx *c, const char *s)
{
	char *r;

	if (!s)
		return NULL;
	r = strdup(s);
	if (!r)
		c->nomem = -ENOMEM;
	return r;
}

static const char *type_desc(const struct pnode *n)
{
	switch (n->type) {
	case PN_MAP:
		return "a mapping";
	case PN_SEQ:
		return "a list";
	case PN_SCALAR:
		return "a scalar";
	}
	return "?";
}

static bool want_type(struct ctx *c, const struct pnode *n, enum pnode_type t, const char *key,
		      const char *what)
{
	if (n->type == t)
		return true;
	if (n->type == PN_SCALAR)
		policy_diag_at(c->d, n, "'%s' must be %s, got '%s'", key, what, n->str);
	else
		policy_diag_at(c->d, n, "'%s' must be %s, got %s", key, what, type_desc(n));
	return false;
}

/* Unknown keys (with a suggestion) and missing required ones. */
static void check_keys(struct ctx *c, const struct pnode *map, const char *what,
		       const char *const *keys, size_t nkeys, const char *const *required,
		       size_t nreq)
{
	const struct pnode *k;
	const char *near;
	char list[512];
	size_t i, j, off;

	for (i = 0; i < map->n; i++) {
		k = map->pairs[i].key;
		for (j = 0; j < nkeys; j++)
			if (!strcmp(k->str, keys[j]))
				break;
		if (j < nkeys)
			continue;
		near = nearest(k->str, keys, nkeys);
		if (near) {
			policy_diag_at(c->d, k, "unknown key '%s' in %s; did you mean '%s'?",
				       k->str, what, near);
			continue;
		}
		off = 0;
		list[0] = '\0';
		for (j = 0; j < nkeys && off < sizeof(list); j++)
			off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
						j ? ", " : "", keys[j]);
		policy_diag_at(c->d, k, "unknown key '%s' in %s; valid keys: %s", k->str, what,
			       list);
	}
	for (i = 0; i < nreq; i++)
		if (!pnode_get(map, required[i]))
			policy_diag_at(c->d, map, "%s is missing required key '%s'", what,
				       required[i]);
}

static const struct pnode *get_scalar(struct ctx *c, const struct pnode *map, const char *key,
				      const char *what)
{
	const struct pnode *n = pnode_get(map, key);

	if (!n || !want_type(c, n, PN_SCALAR, key, what))
		return NULL;
	return n;
}

/* A quantity with a unit; returns true and fills @out when present and valid. */
static bool get_unit(struct ctx *c, const struct pnode *map, const char *key,
		     enum unit_kind kind, bool allow_pct, uint64_t min, uint64_t max,
		     struct unit_val *out)
{
	static const char *const what[] = {
		[UNIT_DURATION] = "a duration like 30ms",
		[UNIT_SIZE] = "a size like 4KiB",
		[UNIT_RATE] = "a rate like 200MiB/s",
		[UNIT_IOPS] = "a rate like 5000 iops",
		[UNIT_COUNT] = "a whole number",
	};
	const struct pnode *n = get_scalar(c, map, key, what[kind]);
	char lo[40], hi[40];
	int err;

	if (!n)
		return false;
	err = units_parse(kind, n->str, out);
	if (!err && out->pct && !allow_pct)
		err = -EDOM;
	switch (err) {
	case 0:
		break;
	case -EINVAL:
		policy_diag_at(c->d, n, "'%s' must be %s, got '%s'", key, what[kind], n->str);
		return false;
	case -EDOM:
		policy_diag_at(c->d, n, "'%s': bad unit in '%s'; use %s", key, n->str,
			       allow_pct ? units_list(kind) :
			       kind == UNIT_RATE ? "B/s, KB/s, MB/s, GB/s, KiB/s, MiB/s or GiB/s" :
			       kind == UNIT_IOPS ? "iops" : units_list(kind));
		return false;
	case -ERANGE:
		if (out->pct || strchr(n->str, '%'))
			policy_diag_at(c->d, n, "'%s': percentage in '%s' must be 1..100", key,
				       n->str);
		else
			policy_diag_at(c->d, n, "'%s': '%s' is too large", key, n->str);
		return false;
	default:
		return false;
	}
	if (out->pct)
		return true;
	if (out->v < min || out->v > max) {
		units_format(kind, min, lo, sizeof(lo));
		units_format(kind, max, hi, sizeof(hi));
		policy_diag_at(c->d, n, "'%s' %s is out of range (%s..%s)", key, n->str, lo, hi);
		return false;
	}
	return true;
}

static bool get_bool(struct ctx *c, const struct pnode *map, const char *key, bool *out)
{
	const struct pnode *n = get_scalar(c, map, key, "true or false");

	if (!n)
		return false;
	if (!n->quoted && (!strcmp(n->str, "true") || !strcmp(n->str, "yes"))) {
		*out = true;
		return true;
	}
	if (!n->quoted && (!strcmp(n->str, "false") || !strcmp(n->str, "no"))) {
		*out = false;
		return true;
	}
	policy_diag_at(c->d, n, "'%s' must be true or false, got '%s'", key, n->str);
	return false;
}

/* One of @vals; returns the node's text (owned by the tree) or NULL. */
/* "a, b or c" into @list. */
static void join_or(char *list, size_t len, const char *const *vals, size_t nvals)
{
	size_t i, off = 0;

	list[0] = '\0';
	for (i = 0; i < nvals && off < len; i++)
		off += (size_t)snprintf(list + off, len - off, "%s%s",
					i ? (i + 1 == nvals ? " or " : ", ") : "", vals[i]);
}

static const char *get_enum(struct ctx *c, const struct pnode *map, const char *key,
			    const char *const *vals, size_t nvals)
{
	const struct pnode *n = pnode_get(map, key);
	const char *near;
	char list[256];
	size_t i;

	if (!n)
		return NULL;
	join_or(list, sizeof(list), vals, nvals);
	if (n->type != PN_SCALAR) {
		policy_diag_at(c->d, n, "'%s' must be one of %s, got %s", key, list, type_desc(n));
		return NULL;
	}
	for (i = 0; i < nvals; i++)
		if (!strcmp(n->str, vals[i]))
			return n->str;
	near = nearest(n->str, vals, nvals);
	if (near)
		policy_diag_at(c->d, n, "'%s' must be one of %s, got '%s'; did you mean '%s'?",
			       key, list, n->str, near);
	else
		policy_diag_at(c->d, n, "'%s' must be one of %s, got '%s'", key, list, n->str);
	return NULL;
}

static bool valid_name(const char *s)
{
	size_t i, n = strlen(s);

	if (!n || n >= SLUICE_CLASS_NAME_LEN)
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
			return false;
	return true;
}

static char *get_name(struct ctx *c, const struct pnode *map, const char *key)
{
	const struct pnode *n = get_scalar(c, map, key, "a name");

	if (!n)
		return NULL;
	if (!valid_name(n->str)) {
		policy_diag_at(c->d, n,
			       "'%s' must be 1 to %d letters, digits, '-', '_' or '.', got '%s'",
			       key, SLUICE_CLASS_NAME_LEN - 1, n->str);
		return NULL;
	}
	return xstrdup(c, n->str);
}

/* Free text, kept in the policy map so that 'policy show' gives it back. */
static char *get_description(struct ctx *c, const struct pnode *map)
{
	const struct pnode *n = get_scalar(c, map, "description", "text");

	if (!n)
		return NULL;
	if (strlen(n->str) >= SLUICE_POLICY_PATH_LEN) {
		policy_diag_at(c->d, n, "'description' must be at most %d bytes, got %zu",
			       SLUICE_POLICY_PATH_LEN - 1, strlen(n->str));
		return NULL;
	}
	return xstrdup(c, n->str);
}

/*
 * Paths go into the filter-chain file as "key=value" words: no blanks. A
 * service's paths (@in_spec) also go into the filter spec the ublk server
 * keeps, "name:key=value,key=value" with filters separated by blanks
 * (filters/registry.h), where a ',' would split them too.
 */
static char *get_path(struct ctx *c, const struct pnode *map, const char *key, bool in_spec)
{
	const struct pnode *n = get_scalar(c, map, key, "an absolute path");
	const char *bad;

	if (!n)
		return NULL;
	if (n->str[0] != '/') {
		policy_diag_at(c->d, n, "'%s' must be an absolute path, got '%s'", key, n->str);
		return NULL;
	}
	if (strlen(n->str) >= SLUICE_POLICY_PATH_LEN - 16) {
		policy_diag_at(c->d, n, "'%s' is longer than %d characters", key,
			       SLUICE_POLICY_PATH_LEN - 17);
		return NULL;
	}
	bad = svc_spec_unsafe(n->str);
	if (bad && in_spec) {
		policy_diag_at(c->d, n, "'%s' has %s, which the filter spec (name:key=value,"
			       "key=value) cannot carry; use a path without blanks, control "
			       "characters, ',' or '=' (a symlink will do)", key, bad);
		return NULL;
	}
	if (bad && strcmp(bad, "a ','")) {
		policy_diag_at(c->d, n, "'%s': blanks, control characters and '=' are "
			       "not supported in paths", key);
		return NULL;
	}
	return xstrdup(c, n->str);
}

/* "key: false" switches a service off on purpose. */
static bool is_false(const struct pnode *n)
{
	return n && n->type == PN_SCALAR && !n->quoted &&
	       (!strcmp(n->str, "false") || !strcmp(n->str, "no") || !strcmp(n->str, "off"));
}

/* ------------------------------------------------------------- classes -- */

static const char *const op_names[] = {
	[SLUICE_OP_READ] = "read", [SLUICE_OP_WRITE] = "write",
	[SLUICE_OP_DISCARD] = "discard", [SLUICE_OP_FLUSH] = "flush",
	[SLUICE_OP_OTHER] = "other",
};

static void check_op(struct ctx *c, const struct pnode *n, unsigned int *mask)
{
	const struct pnode *it;
	const char *near;
	size_t i, j, cnt = n->type == PN_SEQ ? n->n : 1;

	if (n->type == PN_MAP) {
		policy_diag_at(c->d, n, "'op' must be an op or a list of ops "
			       "(read, write, discard, flush, other), got a mapping");
		return;
	}
	for (i = 0; i < cnt; i++) {
		it = n->type == PN_SEQ ? n->items[i] : n;
		if (it->type != PN_SCALAR) {
			policy_diag_at(c->d, it, "'op' list items must be op names, got %s",
				       type_desc(it));
			continue;
		}
		for (j = 0; j < ARRAY_SIZE(op_names); j++)
			if (!strcmp(it->str, op_names[j]))
				break;
		if (j < ARRAY_SIZE(op_names)) {
			*mask |= SLUICE_OPMASK(j);
			continue;
		}
		near = nearest(it->str, op_names, ARRAY_SIZE(op_names));
		if (near)
			policy_diag_at(c->d, it, "unknown op '%s'; did you mean '%s'?", it->str,
				       near);
		else
			policy_diag_at(c->d, it, "unknown op '%s'; use read, write, discard, "
				       "flush or other", it->str);
	}
}

static void check_cgroups(struct ctx *c, const struct pnode *n, struct pol_class *cl)
{
	size_t i, cnt = n->type == PN_SEQ ? n->n : 1;
	const struct pnode *it;
	struct pol_cgroup *cg;
	int err;

	if (n->type == PN_MAP) {
		policy_diag_at(c->d, n, "'cgroup' must be a cgroup path or a list of them, "
			       "got a mapping");
		return;
	}
	cl->cgroups = calloc(cnt ? cnt : 1, sizeof(*cl->cgroups));
	if (!cl->cgroups) {
		c->nomem = -ENOMEM;
		return;
	}
	for (i = 0; i < cnt; i++) {
		it = n->type == PN_SEQ ? n->items[i] : n;
		if (it->type != PN_SCALAR || !it->str[0]) {
			policy_diag_at(c->d, it, "'cgroup' list items must be cgroup paths, got %s",
				       it->type == PN_SCALAR ? "''" : type_desc(it));
			continue;
		}
		if (strlen(it->str) >= SLUICE_POLICY_PATH_LEN) {
			policy_diag_at(c->d, it, "cgroup path is longer than %d characters",
				       SLUICE_POLICY_PATH_LEN - 1);
			continue;
		}
		cg = &cl->cgroups[cl->nr_cgroups++];
		cg->path = xstrdup(c, it->str);
		cg->at = it;
		if (!c->opts->resolve)
			continue;
		err = resolve_cgroup(it->str, cg);
		if (err == -ENOTDIR)
			policy_diag_at(c->d, it, "cgroup '%s' is not a directory of a cgroup "
				       "hierarchy", it->str);
		else if (err)
			policy_diag_at(c->d, it, "cgroup '%s' matches nothing: %s", it->str,
				       strerror(-err));
		else if (cg->level >= SLUICE_CGROUP_LEVELS)
			policy_diag_at(c->d, it, "cgroup '%s' is %u levels deep; sluice matches "
				       "at most %d", it->str, cg->level, SLUICE_CGROUP_LEVELS - 1);
	}
}

static void check_match(struct ctx *c, const struct pnode *m, struct pol_class *cl)
{
	static const char *const keys[] = { "cgroup", "op", "size" };
	static const char *const size_keys[] = { "min", "max" };
	const struct pnode *n, *sz;
	struct unit_val v;

	if (!want_type(c, m, PN_MAP, "match", "a mapping"))
		return;
	check_keys(c, m, "match", keys, ARRAY_SIZE(keys), NULL, 0);
	n = pnode_get(m, "cgroup");
	if (n)
		check_cgroups(c, n, cl);
	n = pnode_get(m, "op");
	if (n)
		check_op(c, n, &cl->op_mask);
	sz = pnode_get(m, "size");
	if (!sz || !want_type(c, sz, PN_MAP, "size", "a mapping with min and/or max"))
		return;
	check_keys(c, sz, "size", size_keys, ARRAY_SIZE(size_keys), NULL, 0);
	if (get_unit(c, sz, "min", UNIT_SIZE, false, 0, UINT32_MAX, &v))
		cl->min_bytes = v.v;
	if (get_unit(c, sz, "max", UNIT_SIZE, false, 1, UINT32_MAX, &v))
		cl->max_bytes = v.v;
	if (cl->max_bytes && cl->min_bytes > cl->max_bytes)
		policy_diag_at(c->d, sz, "size: min is larger than max");
}

static void check_limits(struct ctx *c, const struct pnode *m, struct pol_class *cl)
{
	static const char *const keys[] = { "read_iops", "write_iops", "read_bps", "write_bps" };
	struct pol_limits *l = &cl->limits;
	struct unit_val v;

	if (!want_type(c, m, PN_MAP, "limits", "a mapping"))
		return;
	check_keys(c, m, "limits", keys, ARRAY_SIZE(keys), NULL, 0);
	if (get_unit(c, m, "read_iops", UNIT_IOPS, true, 1, 100000000, &v)) {
		l->riops = v.v;
		l->pct_mask |= v.pct ? SLUICE_LIM_PCT_RIOPS : 0;
	}
	if (get_unit(c, m, "write_iops", UNIT_IOPS, true, 1, 100000000, &v)) {
		l->wiops = v.v;
		l->pct_mask |= v.pct ? SLUICE_LIM_PCT_WIOPS : 0;
	}
	if (get_unit(c, m, "read_bps", UNIT_RATE, true, 4096, 1ULL << 50, &v)) {
		l->rbps = v.v;
		l->pct_mask |= v.pct ? SLUICE_LIM_PCT_RBPS : 0;
	}
	if (get_unit(c, m, "write_bps", UNIT_RATE, true, 4096, 1ULL << 50, &v)) {
		l->wbps = v.v;
		l->pct_mask |= v.pct ? SLUICE_LIM_PCT_WBPS : 0;
	}
}

static bool has_abs_limit(const struct pol_limits *l)
{
	return (l->riops && !(l->pct_mask & SLUICE_LIM_PCT_RIOPS)) ||
	       (l->wiops && !(l->pct_mask & SLUICE_LIM_PCT_WIOPS)) ||
	       (l->rbps && !(l->pct_mask & SLUICE_LIM_PCT_RBPS)) ||
	       (l->wbps && !(l->pct_mask & SLUICE_LIM_PCT_WBPS));
}

static void check_shares(struct ctx *c, const struct pnode *m, struct pol_class *cl)
{
	static const char *const levels[] = { "low", "normal", "high" };
	static const unsigned int level_val[] = { 500, 1000, 2000 };
	const struct pnode *n = pnode_get(m, "shares");
	struct unit_val v;
	size_t i;

	cl->shares = 1000;
	if (!n)
		return;
	for (i = 0; n->type == PN_SCALAR && i < ARRAY_SIZE(levels); i++) {
		if (!strcmp(n->str, levels[i])) {
			cl->shares = level_val[i];
			return;
		}
	}
	if (n->type == PN_SCALAR && units_parse(UNIT_COUNT, n->str, &v) == -EINVAL &&
	    !(n->str[0] >= '0' && n->str[0] <= '9')) {
		policy_diag_at(c->d, n, "'shares' must be a number 1..10000 or low, normal or "
			       "high, got '%s'", n->str);
		return;
	}
	if (get_unit(c, m, "shares", UNIT_COUNT, false, 1, 10000, &v))
		cl->shares = (unsigned int)v.v;
}

static void check_class(struct ctx *c, const struct pnode *m, struct pol_class *cl)
{
	static const char *const keys[] = { "name", "match", "shares", "reserve",
					    "latency_target", "limits" };
	static const char *const req[] = { "name" };
	const struct pnode *n;
	struct unit_val v;
	size_t i;

	cl->at = m;
	cl->shares = 1000;
	if (!want_type(c, m, PN_MAP, "classes", "a list of mappings"))
		return;
	check_keys(c, m, "class", keys, ARRAY_SIZE(keys), req, ARRAY_SIZE(req));
	cl->name = get_name(c, m, "name");
	n = pnode_get(m, "match");
	if (n)
		check_match(c, n, cl);
	check_shares(c, m, cl);
	if (get_unit(c, m, "reserve", UNIT_IOPS, true, 1, 100000000, &v)) {
		cl->reserve = v.v;
		cl->limits.pct_mask |= v.pct ? SLUICE_LIM_PCT_RESERVE : 0;
	}
	if (get_unit(c, m, "latency_target", UNIT_DURATION, false, 1000, 60ULL * 1000000000,
		     &v))
		cl->latency_ns = v.v;
	n = pnode_get(m, "limits");
	if (n)
		check_limits(c, n, cl);
	if (!c->opts->resolve || !has_abs_limit(&cl->limits))
		return;
	for (i = 0; i < cl->nr_cgroups; i++)
		if (cl->cgroups[i].dir && cl->cgroups[i].ver == POL_CG_NONE)
			policy_diag_at(c->d, cl->cgroups[i].at,
				       "cgroup '%s' has no io.max or blkio.throttle files; limits "
				       "need the io controller (v2) or a blkio (v1) cgroup",
				       cl->cgroups[i].path);
}

/* ------------------------------------------------------------ services -- */

static bool get_hostport(struct ctx *c, const struct pnode *map, const char *key)
{
	const struct pnode *t = get_scalar(c, map, key, "host:port");
	const char *colon, *bad;
	unsigned long port;
	char *end = NULL;

	if (!t)
		return false;
	bad = svc_spec_unsafe(t->str);
	if (bad) {
		policy_diag_at(c->d, t, "'%s' has %s, which the filter spec (name:key=value,"
			       "key=value) cannot carry; write host:port without them", key, bad);
		return false;
	}
	colon = strrchr(t->str, ':');
	port = colon ? strtoul(colon + 1, &end, 10) : 0;
	if (!colon || colon == t->str || !colon[1] || *end || !port || port > 65535) {
		policy_diag_at(c->d, t, "'%s' must be host:port, got '%s'", key, t->str);
		return false;
	}
	return true;
}

static size_t count_vals(const char *const *vals)
{
	size_t n = 0;

	while (vals[n])
		n++;
	return n;
}

/* An enum value the schema refuses by name: its reason, and the valid ones. */
static bool refused_value(struct ctx *c, const struct pnode *map, const struct svc_param *p,
			  const char *key)
{
	const struct pnode *n = pnode_get(map, key);
	const struct svc_refusal *r;
	char list[256];

	if (!p->refused || !n || n->type != PN_SCALAR)
		return false;
	for (r = p->refused; r->value; r++)
		if (!strcmp(n->str, r->value))
			break;
	if (!r->value)
		return false;
	join_or(list, sizeof(list), p->vals, count_vals(p->vals));
	policy_diag_at(c->d, n, "'%s' %s is not supported: %s; or use %s", key, n->str, r->why,
		       list);
	return true;
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* "512, 1024, 2048 or 4096" when that short, else "a power of two". */
static void pow2_diag(struct ctx *c, const struct pnode *n, const char *key,
		      const struct svc_param *p)
{
	char list[128];
	size_t off = 0;
	uint64_t v;

	if (!p->min || p->max / p->min > 8) {
		policy_diag_at(c->d, n, "'%s' must be a power of two", key);
		return;
	}
	list[0] = '\0';
	for (v = p->min; v <= p->max && off < sizeof(list); v *= 2)
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%" PRIu64,
					v == p->min ? "" : v * 2 > p->max ? " or " : ", ", v);
	policy_diag_at(c->d, n, "'%s' must be %s", key, list);
}

/* Is @name one of the current policy's classes? Else says which are. */
static bool is_class(struct ctx *c, const struct pnode *n, const char *key)
{
	const struct pol_policy *p = c->cur;
	const char *names[16];
	char list[256];
	size_t i, k = 0;

	for (i = 0; i < p->nr_classes; i++)
		if (p->classes[i].name && !strcmp(p->classes[i].name, n->str))
			return true;
	if (!p->nr_classes) {
		policy_diag_at(c->d, n, "'%s' names class '%s', but the policy has no classes: "
			       "define them under classes:", key, n->str);
		return false;
	}
	for (i = 0; i < p->nr_classes && k < ARRAY_SIZE(names); i++)
		if (p->classes[i].name)
			names[k++] = p->classes[i].name;
	join_or(list, sizeof(list), names, k);
	policy_diag_at(c->d, n, "'%s' names class '%s', which the policy does not define; "
		       "its classes are %s", key, n->str, list);
	return false;
}

/*
 * SVC_CLASSES: one class name or a list, each a class of the policy,
 * stored joined with '+' (a class name never holds one) for the filter spec.
 */
static void check_classes(struct ctx *c, const struct pnode *n, const char *key,
			  struct pol_service *s, int i)
{
	char text[512];
	size_t j, off = 0;
	bool ok = true;

	if (n->type == PN_SCALAR) {
		if (is_class(c, n, key) && svc_set_str(s, i, n->str, n))
			c->nomem = -ENOMEM;
		return;
	}
	if (n->type != PN_SEQ || !n->n) {
		policy_diag_at(c->d, n, "'%s' must be a class name or a list of them", key);
		return;
	}
	text[0] = '\0';
	for (j = 0; j < n->n; j++) {
		if (n->items[j]->type != PN_SCALAR) {
			policy_diag_at(c->d, n->items[j], "'%s' must be a class name or a list "
				       "of them", key);
			ok = false;
			continue;
		}
		ok &= is_class(c, n->items[j], key);
		off += (size_t)snprintf(text + off, off < sizeof(text) ? sizeof(text) - off : 0,
					"%s%s", j ? "+" : "", n->items[j]->str);
	}
	if (ok && off >= sizeof(text)) {
		policy_diag_at(c->d, n, "'%s' lists too many classes", key);
		return;
	}
	if (ok && svc_set_str(s, i, text, n))
		c->nomem = -ENOMEM;
}

/* One parameter of @map (the service's mapping, or its group's), from the table. */
static void check_svc_param(struct ctx *c, const struct service_ops *ops, int i,
			    const struct pnode *map, const char *key, struct pol_service *s)
{
	const struct svc_param *p = &ops->params[i];
	const struct pnode *n = pnode_get(map, key);
	struct unit_val v;
	const char *e;
	char *path;

	s->v[i].at = n;
	if (!n)
		return;
	switch (p->kind) {
	case SVC_ENUM:
		if (refused_value(c, map, p, key))
			return;
		e = get_enum(c, map, key, p->vals, count_vals(p->vals));
		if (e && svc_set_str(s, i, e, n))
			c->nomem = -ENOMEM;
		return;
	case SVC_PATH:
		path = get_path(c, map, key, true);
		if (path && svc_set_str(s, i, path, n))
			c->nomem = -ENOMEM;
		free(path);
		return;
	case SVC_HOSTPORT:
		if (get_hostport(c, map, key) && svc_set_str(s, i, n->str, n))
			c->nomem = -ENOMEM;
		return;
	case SVC_SIZE:
	case SVC_DURATION:
	case SVC_COUNT:
		if (!get_unit(c, map, key, svc_unit_kind(p->kind), false, p->min, p->max, &v))
			return;
		if (p->pow2 && !is_pow2(v.v)) {
			pow2_diag(c, n, key, p);
			return;
		}
		if (svc_set_num(ops, s, i, v.v))
			c->nomem = -ENOMEM;
		return;
	case SVC_TEXT:
		n = get_scalar(c, map, key, "a word");
		if (n && svc_spec_unsafe(n->str))
			policy_diag_at(c->d, n, "'%s' has %s, which the filter spec cannot carry",
				       key, svc_spec_unsafe(n->str));
		else if (n && svc_set_str(s, i, n->str, n))
			c->nomem = -ENOMEM;
		return;
	case SVC_CLASSES:
		check_classes(c, n, key, s, i);
		return;
	case SVC_GROUP:
		return;
	}
}

/* Keys, required keys, every parameter, then the defaults of one mapping. */
static void check_svc_map(struct ctx *c, const struct service_ops *ops, const struct pnode *m,
			  const char *group, const char *what, struct pol_service *s)
{
	const char *keys[SVC_MAX_PARAMS], *req[SVC_MAX_PARAMS], *leaf;
	const struct svc_param *p;
	struct unit_val v;
	size_t i, nk = 0, nr = 0;

	for (i = 0; i < ops->nr_params; i++) {
		leaf = svc_param_key(&ops->params[i], group);
		if (!leaf)
			continue;
		keys[nk++] = leaf;
		if (ops->params[i].required)
			req[nr++] = leaf;
	}
	check_keys(c, m, what, keys, nk, req, nr);
	for (i = 0; i < ops->nr_params; i++) {
		p = &ops->params[i];
		leaf = svc_param_key(p, group);
		if (!leaf)
			continue;
		check_svc_param(c, ops, (int)i, m, leaf, s);
		/* a group's defaults count only when the group is written */
		if (p->kind == SVC_GROUP && s->v[i].at &&
		    want_type(c, s->v[i].at, PN_MAP, leaf, "a mapping"))
			check_svc_map(c, ops, s->v[i].at, p->name, leaf, s);
	}
	for (i = 0; i < ops->nr_params; i++) {
		p = &ops->params[i];
		if (!svc_param_key(p, group) || s->v[i].text || !p->dflt)
			continue;
		if (!svc_is_quantity(p->kind)) {
			if (svc_set_str(s, (int)i, p->dflt, s->v[i].at))
				c->nomem = -ENOMEM;
			continue;
		}
		/* written like a user's value, so show and the chain file spell it alike */
		if (units_parse(svc_unit_kind(p->kind), p->dflt, &v) ||
		    svc_set_num(ops, s, (int)i, v.v))
			c->nomem = -ENOMEM;
	}
}

static void check_service(struct ctx *c, const struct service_ops *ops, const struct pnode *m,
			  struct pol_service *s)
{
	struct svc_check sc = { .opts = c->opts, .d = c->d };

	s->at = m;
	if (is_false(m)) {
		s->state = POL_SVC_OFF;
		return;
	}
	if (!want_type(c, m, PN_MAP, ops->key, "a mapping or false"))
		return;
	s->state = POL_SVC_ON;
	check_svc_map(c, ops, m, "", ops->key, s);
	if (ops->check)
		ops->check(&sc, s);
	if (sc.nomem)
		c->nomem = sc.nomem;
}

static void check_services(struct ctx *c, const struct pnode *m, struct pol_policy *p)
{
	const char *keys[NR_SERVICES];
	const struct pnode *n;
	size_t i;

	if (!want_type(c, m, PN_MAP, "services", "a mapping"))
		return;
	c->cur = p;
	for (i = 0; i < NR_SERVICES; i++)
		keys[i] = services[i]->key;
	check_keys(c, m, "services", keys, NR_SERVICES, NULL, 0);
	for (i = 0; i < NR_SERVICES; i++) {
		n = pnode_get(m, services[i]->key);
		if (n)
			check_service(c, services[i], n, &p->svc[i]);
	}
}

/* ------------------------------------------------------------ policies -- */

/*
 * The ABI carries whole milliseconds. Without 'throttle: true' no throttle
 * reads the key, so setting it is a mistake worth stopping, as 'header'
 * on a plain-format encrypt is.
 */
static void check_throttle_interval(struct ctx *c, const struct pnode *m, struct pol_policy *p)
{
	const struct pnode *n = pnode_get(m, "throttle_interval"), *t;
	struct unit_val v;

	if (!get_unit(c, m, "throttle_interval", UNIT_DURATION, false, 10000000ULL,
		      60000000000ULL, &v))
		return;
	if (v.v % 1000000) {
		policy_diag_at(c->d, n, "'throttle_interval' %s is not a whole number of "
			       "milliseconds", n->str);
		return;
	}
	/* a malformed 'throttle' has its own error already */
	t = pnode_get(m, "throttle");
	if (!p->throttle && (!t || is_false(t))) {
		policy_diag_at(c->d, n, "'throttle_interval' needs 'throttle: true' in this "
			       "policy (no throttle reads it otherwise)");
		return;
	}
	p->throttle_interval_ns = v.v;
}

static void check_policy(struct ctx *c, const struct pnode *m, struct pol_policy *p)
{
	static const char *const keys[] = { "name", "description", "latency_target", "meter",
					    "throttle", "throttle_interval", "classes",
					    "services" };
	static const char *const req[] = { "name" };
	const struct pnode *n;
	struct unit_val v;
	size_t i, j;

	p->at = m;
	p->meter = true;
	if (!want_type(c, m, PN_MAP, "policies", "a list of mappings"))
		return;
	check_keys(c, m, "policy", keys, ARRAY_SIZE(keys), req, ARRAY_SIZE(req));
	p->name = get_name(c, m, "name");
	p->description = get_description(c, m);
	if (get_unit(c, m, "latency_target", UNIT_DURATION, false, 1000, 60ULL * 1000000000, &v))
		p->latency_ns = v.v;
	get_bool(c, m, "meter", &p->meter);
	get_bool(c, m, "throttle", &p->throttle);
	check_throttle_interval(c, m, p);
	n = pnode_get(m, "classes");
	if (n && want_type(c, n, PN_SEQ, "classes", "a list of classes")) {
		p->classes = calloc(n->n ? n->n : 1, sizeof(*p->classes));
		if (!p->classes) {
			c->nomem = -ENOMEM;
			return;
		}
		p->nr_classes = n->n;
		for (i = 0; i < n->n; i++)
			check_class(c, n->items[i], &p->classes[i]);
		for (i = 0; i < p->nr_classes; i++)
			for (j = 0; j < i; j++)
				if (p->classes[i].name && p->classes[j].name &&
				    !strcmp(p->classes[i].name, p->classes[j].name))
					policy_diag_at(c->d, pnode_get(p->classes[i].at, "name"),
						       "duplicate class name '%s' in policy (first "
						       "at %u:%u)", p->classes[i].name,
						       p->classes[j].at->line,
						       p->classes[j].at->col);
	}
	n = pnode_get(m, "services");
	if (n)
		check_services(c, n, p);
}

/* ------------------------------------------------------------ bindings -- */

static const char *const sel_names[] = {
	[SEL_PATH] = "path", [SEL_BY_ID] = "by_id", [SEL_DEVNUM] = "devnum",
	[SEL_SERIAL] = "serial", [SEL_WWN] = "wwn", [SEL_SERVED] = "served",
};

const char *pol_sel_name(enum pol_sel_kind kind)
{
	return kind < ARRAY_SIZE(sel_names) ? sel_names[kind] : "?";
}

static void resolve_binding(struct ctx *c, struct pol_binding *b, const struct pnode *vn)
{
	char path[SLUICE_POLICY_PATH_LEN + 32];
	const char *run = c->opts->run_dir ? c->opts->run_dir : "/run/sluice";
	bool running;
	int err = 0;

	switch (b->kind) {
	case SEL_PATH:
		err = resolve_disk_path(b->value, &b->major, &b->minor);
		break;
	case SEL_BY_ID:
		snprintf(path, sizeof(path), "%s%s",
			 b->value[0] == '/' ? "" : "/dev/disk/by-id/", b->value);
		err = resolve_disk_path(path, &b->major, &b->minor);
		break;
	case SEL_DEVNUM:
		err = resolve_devnum(b->value, &b->major, &b->minor);
		break;
	case SEL_SERIAL:
		err = resolve_disk_attr("serial", b->value, &b->major, &b->minor);
		break;
	case SEL_WWN:
		err = resolve_disk_attr("wwid", b->value, &b->major, &b->minor);
		break;
	case SEL_SERVED:
		err = resolve_served(run, b->value, &b->major, &b->minor, &running);
		break;
	}
	switch (err) {
	case 0:
		b->resolved = true;
		return;
	case -EXDEV:
		policy_diag_at(c->d, vn, "disk selector '%s' is a partition (%u:%u); bind the "
			       "whole disk", b->value, b->major, b->minor);
		return;
	case -ENOTBLK:
		policy_diag_at(c->d, vn, "disk selector '%s' is not a block device", b->value);
		return;
	case -EEXIST:
		policy_diag_at(c->d, vn, "disk selector %s '%s' matches more than one disk",
			       sel_names[b->kind], b->value);
		return;
	case -EINVAL:
		policy_diag_at(c->d, vn, "'devnum' must be MAJOR:MINOR, got '%s'", b->value);
		return;
	default:
		if (b->kind == SEL_SERVED)
			policy_diag_at(c->d, vn, "backing file '%s' matches nothing: %s",
				       b->value, strerror(-err));
		else
			policy_diag_at(c->d, vn, "disk selector %s '%s' matches nothing%s%s",
				       sel_names[b->kind], b->value, err == -ENOENT ? "" : ": ",
				       err == -ENOENT ? "" : strerror(-err));
		return;
	}
}

static void check_disk_selector(struct ctx *c, const struct pnode *n, struct pol_binding *b)
{
	static const char *const keys[] = { "path", "by_id", "devnum", "serial", "wwn",
					    "served" };
	const struct pnode *k, *v;
	size_t i;

	b->at = n;
	if (n->type == PN_SCALAR) {
		b->kind = SEL_PATH;
		v = n;
		if (n->str[0] != '/') {
			policy_diag_at(c->d, n, "'disk' must be a /dev path or a mapping with one "
				       "of path, by_id, devnum, serial, wwn, served; got '%s'",
				       n->str);
			return;
		}
	} else if (n->type == PN_MAP && n->n == 1) {
		k = n->pairs[0].key;
		check_keys(c, n, "disk", keys, ARRAY_SIZE(keys), NULL, 0);
		for (i = 0; i < ARRAY_SIZE(keys); i++)
			if (!strcmp(k->str, keys[i]))
				break;
		if (i == ARRAY_SIZE(keys))
			return;
		b->kind = (enum pol_sel_kind)i;
		v = n->pairs[0].val;
		if (b->kind == SEL_SERVED) {
			static const char *const skeys[] = { "backing" };

			if (!want_type(c, v, PN_MAP, "served", "a mapping with 'backing'"))
				return;
			check_keys(c, v, "served", skeys, 1, skeys, 1);
			b->value = get_path(c, v, "backing", false);
			if (b->value && c->opts->resolve)
				resolve_binding(c, b, pnode_get(v, "backing"));
			return;
		}
		if (!want_type(c, v, PN_SCALAR, k->str, "a string"))
			return;
	} else {
		policy_diag_at(c->d, n, "'disk' must be a /dev path or a mapping with exactly one "
			       "of path, by_id, devnum, serial, wwn, served");
		return;
	}
	if (!v->str[0] || strlen(v->str) >= SLUICE_POLICY_PATH_LEN - 16) {
		policy_diag_at(c->d, v, "disk selector must be 1 to %d characters",
			       SLUICE_POLICY_PATH_LEN - 17);
		return;
	}
	b->value = xstrdup(c, v->str);
	if (b->kind == SEL_DEVNUM && !c->opts->resolve) {
		unsigned int ma, mi;
		char tail;

		if (sscanf(v->str, "%u:%u%c", &ma, &mi, &tail) != 2)
			policy_diag_at(c->d, v, "'devnum' must be MAJOR:MINOR, got '%s'", v->str);
	}
	if (b->value && c->opts->resolve)
		resolve_binding(c, b, v);
}

static void check_binding(struct ctx *c, const struct pnode *m, struct pol_binding *b)
{
	static const char *const keys[] = { "disk", "policy" };
	static const char *const req[] = { "disk", "policy" };
	const struct pnode *n;

	b->policy = -1;
	b->at = m;
	if (!want_type(c, m, PN_MAP, "bindings", "a list of mappings"))
		return;
	check_keys(c, m, "binding", keys, ARRAY_SIZE(keys), req, ARRAY_SIZE(req));
	n = pnode_get(m, "disk");
	if (n)
		check_disk_selector(c, n, b);
	n = get_scalar(c, m, "policy", "a policy name");
	if (n) {
		b->policy_at = n;
		b->policy_name = xstrdup(c, n->str);
	}
}

/* ---------------------------------------------------------- whole sets -- */

static void check_doc(struct ctx *c, const struct policy_doc *doc)
{
	static const char *const keys[] = { "version", "policies", "bindings" };
	struct policy_set *s = c->set;
	const struct pnode *root = doc->root, *n;
	struct unit_val v;
	size_t i;
	void *p;

	if (!root) {
		policy_diag_add(c->d, doc->file, 1, 1, "empty policy file; expected 'policies' "
				"and/or 'bindings'");
		return;
	}
	if (root->type != PN_MAP) {
		policy_diag_at(c->d, root, "a policy file must be a mapping with 'policies' "
			       "and/or 'bindings', got %s", type_desc(root));
		return;
	}
	check_keys(c, root, "policy file", keys, ARRAY_SIZE(keys), NULL, 0);
	if (get_unit(c, root, "version", UNIT_COUNT, false, 1, 1, &v) && v.v != 1)
		policy_diag_at(c->d, pnode_get(root, "version"), "unsupported version");
	n = pnode_get(root, "policies");
	if (n && want_type(c, n, PN_SEQ, "policies", "a list of policies") && n->n) {
		p = realloc(s->policies, (s->nr_policies + n->n) * sizeof(*s->policies));
		if (!p) {
			c->nomem = -ENOMEM;
			return;
		}
		s->policies = p;
		memset(s->policies + s->nr_policies, 0, n->n * sizeof(*s->policies));
		for (i = 0; i < n->n; i++)
			check_policy(c, n->items[i], &s->policies[s->nr_policies++]);
	}
	n = pnode_get(root, "bindings");
	if (n && want_type(c, n, PN_SEQ, "bindings", "a list of bindings") && n->n) {
		p = realloc(s->bindings, (s->nr_bindings + n->n) * sizeof(*s->bindings));
		if (!p) {
			c->nomem = -ENOMEM;
			return;
		}
		s->bindings = p;
		memset(s->bindings + s->nr_bindings, 0, n->n * sizeof(*s->bindings));
		for (i = 0; i < n->n; i++)
			check_binding(c, n->items[i], &s->bindings[s->nr_bindings++]);
	}
}

static bool has_services(const struct pol_policy *p)
{
	size_t i;

	for (i = 0; i < NR_SERVICES; i++)
		if (p->svc[i].state == POL_SVC_ON)
			return true;
	return false;
}

/* Rules that cut across files: names, references, double bindings, sizes. */
static void check_set(struct ctx *c)
{
	struct policy_set *s = c->set;
	const char *names[256], *near;
	size_t i, j, nn = 0, rules = 0, classes = 0, before;
	struct pol_binding *b, *o;
	struct pol_policy *p;

	for (i = 0; i < s->nr_policies; i++) {
		p = &s->policies[i];
		if (!p->name)
			continue;
		for (j = 0; j < i; j++) {
			if (s->policies[j].name && !strcmp(s->policies[j].name, p->name)) {
				policy_diag_at(c->d, pnode_get(p->at, "name"),
					       "duplicate policy name '%s' (first defined at "
					       "%s:%u:%u)", p->name, s->policies[j].at->file,
					       s->policies[j].at->line, s->policies[j].at->col);
				break;
			}
		}
		if (nn < ARRAY_SIZE(names))
			names[nn++] = p->name;
		/* the classifier walks at most SLUICE_MAX_RULES rules per disk */
		rules = 0;
		for (j = 0; j < p->nr_classes; j++)
			rules += p->classes[j].nr_cgroups ? p->classes[j].nr_cgroups : 1;
		if (rules > SLUICE_MAX_RULES)
			policy_diag_at(c->d, p->at, "policy '%s' has %zu classification rules; at "
				       "most %d (one per class and cgroup)", p->name, rules,
				       SLUICE_MAX_RULES);
		/* class ids are global: report once, at the policy that crosses the limit */
		before = classes;
		classes += p->nr_classes ? p->nr_classes : 1;
		if (classes >= SLUICE_MAX_CLASSES && before < SLUICE_MAX_CLASSES)
			policy_diag_at(c->d, p->at, "too many classes: at most %d over all "
				       "policies", SLUICE_MAX_CLASSES - 1);
	}
	for (i = 0; i < s->nr_bindings; i++) {
		b = &s->bindings[i];
		if (b->policy_name) {
			for (j = 0; j < s->nr_policies; j++)
				if (s->policies[j].name &&
				    !strcmp(s->policies[j].name, b->policy_name))
					break;
			if (j < s->nr_policies) {
				b->policy = (int)j;
			} else {
				near = nearest(b->policy_name, names, nn);
				if (near)
					policy_diag_at(c->d, b->policy_at, "unknown policy '%s'; "
						       "did you mean '%s'?", b->policy_name, near);
				else
					policy_diag_at(c->d, b->policy_at,
						       "unknown policy '%s'", b->policy_name);
			}
		}
		if (b->policy >= 0 && b->value && has_services(&s->policies[b->policy]) &&
		    b->kind != SEL_SERVED)
			policy_diag_at(c->d, b->at, "policy '%s' has data services but disk '%s' "
				       "is not served by sluice; bind it as served: {backing: PATH}",
				       b->policy_name, b->value);
		for (j = 0; j < i && b->value; j++) {
			o = &s->bindings[j];
			if (!o->value)
				continue;
			if ((b->resolved && o->resolved && b->major && b->major == o->major &&
			     b->minor == o->minor) ||
			    (b->kind == o->kind && !strcmp(b->value, o->value))) {
				if (b->resolved && b->major && b->kind != SEL_DEVNUM)
					policy_diag_at(c->d, b->at, "disk '%s' (%u:%u) is already "
						       "bound at %s:%u:%u", b->value, b->major,
						       b->minor, o->at->file, o->at->line,
						       o->at->col);
				else
					policy_diag_at(c->d, b->at, "disk '%s' is already bound at "
						       "%s:%u:%u", b->value, o->at->file,
						       o->at->line, o->at->col);
				break;
			}
		}
	}
}

int policy_check_docs(struct policy_doc *docs, size_t nr, const struct policy_opts *opts,
		      struct policy_set *set, struct policy_diags *diags)
{
	struct ctx c = { .opts = opts, .d = diags, .set = set };
	size_t before = diags->n, i;

	memset(set, 0, sizeof(*set));
	set->docs = docs;
	set->nr_docs = nr;
	for (i = 0; i < nr; i++)
		if (docs[i].file)
			check_doc(&c, &docs[i]);
	check_set(&c);
	if (c.nomem || diags->err)
		return -ENOMEM;
	return diags->n > before ? -EINVAL : 0;
}

int policy_check_files(char *const *files, size_t nr, const struct policy_opts *opts,
		       struct policy_set *set, struct policy_diags *diags)
{
	struct policy_doc *docs = calloc(nr ? nr : 1, sizeof(*docs));
	size_t before = diags->n, i;
	int err;

	memset(set, 0, sizeof(*set));
	if (!docs)
		return -ENOMEM;
	for (i = 0; i < nr; i++) {
		err = policy_parse_file(files[i], &docs[i], diags);
		if (err == -ENOMEM) {
			set->docs = docs;
			set->nr_docs = nr;
			return err;
		}
	}
	err = policy_check_docs(docs, nr, opts, set, diags);
	if (!err && diags->n > before)
		err = -EINVAL;
	return err;
}

static void class_free(struct pol_class *cl)
{
	size_t i;

	for (i = 0; i < cl->nr_cgroups; i++) {
		free(cl->cgroups[i].path);
		free(cl->cgroups[i].dir);
	}
	free(cl->cgroups);
	free(cl->name);
}

void policy_set_free(struct policy_set *set)
{
	struct pol_policy *p;
	size_t i, j;

	if (!set)
		return;
	for (i = 0; i < set->nr_policies; i++) {
		p = &set->policies[i];
		for (j = 0; j < p->nr_classes; j++)
			class_free(&p->classes[j]);
		free(p->classes);
		free(p->name);
		free(p->description);
		for (j = 0; j < NR_SERVICES; j++)
			pol_service_free(&p->svc[j]);
	}
	free(set->policies);
	for (i = 0; i < set->nr_bindings; i++) {
		free(set->bindings[i].value);
		free(set->bindings[i].policy_name);
	}
	free(set->bindings);
	for (i = 0; i < set->nr_docs; i++)
		policy_doc_free(&set->docs[i]);
	free(set->docs);
	memset(set, 0, sizeof(*set));
}
