// SPDX-License-Identifier: GPL-2.0
/*
 * sluice policy status - compliance per binding: is the policy in force on
 * the disk, are the declared filters attached to the served disk, are the
 * cgroup limit files what the policy says. The desired state is the files
 * given, or the copies 'apply' kept of the files it applied.
 *
 * JSON: {"generation": N, "compliant": bool, "bindings": [{"disk", "policy",
 * "compliant", "checks": [{"check", "state" ("ok"|"drift"|"n/a"), "detail"}]}]}
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/macro.h"
#include "bpf/sluice.h"
#include "loader/policy.h"
#include "loader/policy_apply.h"
#include "loader/policy_cglimits.h"
#include "loader/policy_compile.h"
#include "loader/policy_maps.h"
#include "loader/service.h"
#include "lib/disk_state.h"
#include "lib/emit.h"
#include "lib/log.h"

int policy_status(const char *const *files, size_t nr, bool json);

enum cstate { CS_OK, CS_DRIFT, CS_NA };

static const char *const cstate_names[] = { "ok", "drift", "n/a" };

struct check {
	const char *name;
	enum cstate state;
	char detail[320];
};

struct brow {
	char disk[SLUICE_POLICY_PATH_LEN + 16];
	char policy[SLUICE_CLASS_NAME_LEN];
	struct check checks[3];
};

static const char *run_dir(void)
{
	const char *d = getenv("SLUICE_RUN_DIR");

	return d && d[0] ? d : POLICY_RUN_DIR;
}

static const struct policy_entry *find(const struct policy_image *img, unsigned int kind,
				       uint64_t id)
{
	size_t i;

	for (i = 0; i < img->nr_ents; i++)
		if (img->ents[i].key.kind == kind && img->ents[i].key.id == id)
			return &img->ents[i];
	return NULL;
}

static const struct policy_entry *find_policy(const struct policy_image *img, const char *name)
{
	size_t i;

	for (i = 0; i < img->nr_ents; i++)
		if (img->ents[i].key.kind == SLUICE_PK_POLICY &&
		    !strcmp(img->ents[i].val.policy.name, name))
			return &img->ents[i];
	return NULL;
}

/* Classes and rules of a policy, compared without their absolute ids. */
static bool same_policy(const struct policy_image *a, const struct sluice_policy_info *pa,
			const struct policy_image *b, const struct sluice_policy_info *pb)
{
	const struct policy_entry *x, *y;
	struct sluice_class_limits la, lb;
	struct sluice_class_rule ra, rb;
	unsigned int i;

	if (pa->nr_classes != pb->nr_classes || pa->nr_rules != pb->nr_rules ||
	    pa->latency_target_ns != pb->latency_target_ns || pa->flags != pb->flags ||
	    pa->throttle_interval_ms != pb->throttle_interval_ms)
		return false;
	for (i = 0; i < pa->nr_classes; i++) {
		x = find(a, SLUICE_PK_CLASS, pa->first_class + i);
		y = find(b, SLUICE_PK_CLASS, pb->first_class + i);
		if (!x || !y)
			return false;
		la = x->val.limits;
		lb = y->val.limits;
		la.policy_id = lb.policy_id = 0;
		if (memcmp(&la, &lb, sizeof(la)))
			return false;
	}
	for (i = 0; i < pa->nr_rules; i++) {
		x = find(a, SLUICE_PK_RULE, pa->first_rule + i);
		y = find(b, SLUICE_PK_RULE, pb->first_rule + i);
		if (!x || !y)
			return false;
		ra = x->val.rule;
		rb = y->val.rule;
		ra.policy_id = rb.policy_id = 0;
		ra.class_id -= pa->first_class;
		rb.class_id -= pb->first_class;
		if (memcmp(&ra, &rb, sizeof(ra)))
			return false;
	}
	return true;
}

static void check_policy(struct check *c, const struct pol_binding *b,
			 const struct policy_image *want, const struct policy_image *have)
{
	const struct policy_entry *d, *hp, *wp;

	c->name = "policy";
	c->state = CS_DRIFT;
	if (!b->resolved || !b->major) {
		snprintf(c->detail, sizeof(c->detail), "%s",
			 b->kind == SEL_SERVED ? "the disk is not served yet" :
			 "the disk is not present");
		return;
	}
	d = have ? find(have, SLUICE_PK_DISK, pol_kdev(b->major, b->minor)) : NULL;
	if (!d) {
		snprintf(c->detail, sizeof(c->detail), "no policy in force on %u:%u", b->major,
			 b->minor);
		return;
	}
	hp = find(have, SLUICE_PK_POLICY, d->val.disk.policy_id);
	if (!hp || strcmp(hp->val.policy.name, b->policy_name)) {
		snprintf(c->detail, sizeof(c->detail), "policy '%s' is in force on %u:%u",
			 hp ? hp->val.policy.name : "?", b->major, b->minor);
		return;
	}
	wp = find_policy(want, b->policy_name);
	if (!wp || !same_policy(want, &wp->val.policy, have, &hp->val.policy)) {
		snprintf(c->detail, sizeof(c->detail), "policy '%s' in force differs from the "
			 "file; re-apply", b->policy_name);
		return;
	}
	c->state = CS_OK;
	snprintf(c->detail, sizeof(c->detail), "'%s' in force on %u:%u", b->policy_name,
		 b->major, b->minor);
}

/* A data service's filter (crypt, journal, cache): the policy's business. */
static bool is_service(const char *name, size_t len)
{
	char buf[32];

	if (len >= sizeof(buf))
		return false;
	memcpy(buf, name, len);
	buf[len] = '\0';
	return service_by_filter(buf);
}

/*
 * The data-service filters of a state file's spec ("name[:args] ..."), in
 * chain order, space-separated: other filters (count) are the server's
 * business, not the policy's.
 */
static void service_filters(const char *spec, char *out, size_t len)
{
	const char *p = spec, *e;
	size_t n, used = 0;

	out[0] = '\0';
	while (*p) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		e = p + strcspn(p, " ");
		n = strcspn(p, " :");
		if (is_service(p, n) && used + n + 2 <= len) {
			if (used)
				out[used++] = ' ';
			memcpy(out + used, p, n);
			used += n;
			out[used] = '\0';
		}
		p = e;
	}
}

/*
 * The running data-service filters' parameters against the policy's: the
 * spec carries the chain's names and values unchanged, so a difference is
 * a server started under another generation of the policy.
 */
static bool args_drift(const char *spec, const struct pol_policy *p, char *why, size_t len)
{
	char buf[STATE_FILTERS_MAX], *tok, *save = NULL, *args;
	size_t n;
	int k;

	snprintf(buf, sizeof(buf), "%s", spec);
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		args = strchr(tok, ':');
		if (args)
			*args++ = '\0';
		k = service_index(tok);
		n = strlen(tok) + 1;
		if (k < 0 || n >= len)
			continue;
		/* "journal runs retention=12h, policy says retention=24h" */
		memcpy(why, tok, n - 1);
		why[n - 1] = ' ';
		if (service_args_differ(services[k], &p->svc[k], args ? args : "", why + n,
					len - n))
			return true;
	}
	return false;
}

static void check_filters(struct check *c, const struct pol_binding *b,
			  const struct pol_policy *p)
{
	char want[64] = "", have[STATE_FILTERS_MAX], why[256];
	struct disk_state st;
	bool svc = false;
	size_t i;

	for (i = 0; i < NR_SERVICES; i++) {
		svc |= p->svc[i].state != POL_SVC_UNSET;
		if (p->svc[i].state == POL_SVC_ON)
			snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%s",
				 want[0] ? " " : "", services[i]->filter);
	}

	c->name = "filters";
	c->state = CS_NA;
	if (!svc || b->kind != SEL_SERVED) {
		snprintf(c->detail, sizeof(c->detail), "%s",
			 svc ? "not a served disk" : "no data services declared");
		return;
	}
	c->state = CS_DRIFT;
	if (state_find_backing(run_dir(), b->value, &st)) {
		snprintf(c->detail, sizeof(c->detail), "not served: no ublk server state for %s "
			 "in %s", b->value, run_dir());
		return;
	}
	service_filters(st.filters, have, sizeof(have));
	if (strcmp(have, want)) {
		snprintf(c->detail, sizeof(c->detail), "ublk%u attaches '%s', policy says '%s'",
			 st.id, have, want);
		return;
	}
	if (args_drift(st.filters, p, why, sizeof(why))) {
		snprintf(c->detail, sizeof(c->detail), "ublk%u's %s; serve it again to take the "
			 "applied chain", st.id, why);
		return;
	}
	c->state = CS_OK;
	snprintf(c->detail, sizeof(c->detail), "ublk%u attaches %s", st.id,
		 want[0] ? want : "no data-service filter");
}

static void check_limits(struct check *c, unsigned int bi, const struct policy_image *want,
			 const struct policy_set *set)
{
	static const char *const names[CGL_MAX] = { "read_iops", "write_iops", "read_bps",
						    "write_bps" };
	const struct policy_cg_limit *l;
	uint64_t have[CGL_MAX], w[CGL_MAX];
	size_t i, n = 0;
	int k, err;

	c->name = "limits";
	c->state = CS_NA;
	snprintf(c->detail, sizeof(c->detail), "no static cgroup limits");
	for (i = 0; i < want->nr_limits; i++) {
		l = &want->limits[i];
		if (l->binding != bi)
			continue;
		/* the ublk server holds these, and apply kept them out of io.max */
		if (policy_limit_held_by_server(run_dir(), set, l)) {
			c->state = CS_OK;
			snprintf(c->detail, sizeof(c->detail), "held by the ublk server's throttle "
				 "filter, not io.max");
			continue;
		}
		n++;
		w[CGL_RIOPS] = l->riops;
		w[CGL_WIOPS] = l->wiops;
		w[CGL_RBPS] = l->rbps;
		w[CGL_WBPS] = l->wbps;
		err = cglimit_read(l->dir, l->ver, l->major, l->minor, have);
		if (err) {
			c->state = CS_DRIFT;
			snprintf(c->detail, sizeof(c->detail), "%s: %s", l->dir, strerror(-err));
			return;
		}
		for (k = 0; k < CGL_MAX; k++) {
			if (have[k] == w[k])
				continue;
			c->state = CS_DRIFT;
			snprintf(c->detail, sizeof(c->detail), "class %s: %s %s is %" PRIu64
				 ", policy says %" PRIu64 " (0 = unlimited)", l->class_name, l->dir,
				 names[k], have[k], w[k]);
			return;
		}
	}
	if (n) {
		c->state = CS_OK;
		snprintf(c->detail, sizeof(c->detail), "%zu cgroup%s as declared", n,
			 n == 1 ? "" : "s");
	}
}

static void print_text(const struct brow *rows, size_t n, uint64_t gen, size_t ok)
{
	size_t i, j;

	printf("generation in force: %" PRIu64 "\n", gen);
	for (i = 0; i < n; i++) {
		printf("%s (policy %s)\n", rows[i].disk, rows[i].policy);
		for (j = 0; j < 3; j++)
			printf("  %-8s %-6s %s\n", rows[i].checks[j].name,
			       cstate_names[rows[i].checks[j].state], rows[i].checks[j].detail);
	}
	printf("compliant: %zu of %zu binding%s\n", ok, n, n == 1 ? "" : "s");
}

static void print_json(const struct brow *rows, size_t n, uint64_t gen, size_t ok)
{
	struct emit e;
	size_t i, j;
	bool bok;

	emit_init(&e, stdout, true);
	emit_map_open(&e);
	emit_kv_u64(&e, "generation", gen);
	emit_key(&e, "compliant");
	emit_bool(&e, ok == n);
	emit_key(&e, "bindings");
	emit_seq_open(&e);
	for (i = 0; i < n; i++) {
		emit_map_open(&e);
		emit_kv_str(&e, "disk", rows[i].disk);
		emit_kv_str(&e, "policy", rows[i].policy);
		bok = true;
		for (j = 0; j < 3; j++)
			bok &= rows[i].checks[j].state != CS_DRIFT;
		emit_key(&e, "compliant");
		emit_bool(&e, bok);
		emit_key(&e, "checks");
		emit_seq_open(&e);
		for (j = 0; j < 3; j++) {
			emit_map_open(&e);
			emit_kv_str(&e, "check", rows[i].checks[j].name);
			emit_kv_str(&e, "state", cstate_names[rows[i].checks[j].state]);
			emit_kv_str(&e, "detail", rows[i].checks[j].detail);
			emit_map_close(&e);
		}
		emit_seq_close(&e);
		emit_map_close(&e);
	}
	emit_seq_close(&e);
	emit_map_close(&e);
	emit_end(&e);
}

int policy_status(const char *const *files, size_t nr, bool json)
{
	struct policy_opts opts = { .resolve = true, .run_dir = run_dir() };
	struct policy_image want = {}, have = {};
	struct policy_diags d = {};
	struct policy_set set;
	struct brow *rows = NULL;
	char **applied = NULL;
	size_t napplied = 0, i, ok = 0;
	uint64_t gen = 0;
	int err, rc = 1;
	bool have_ok;

	if (!nr) {
		err = policy_state_sources(run_dir(), &applied, &napplied);
		if (err || !napplied) {
			log_err("no applied policy files in %s/policy; apply one with 'sluice "
				"policy apply FILE' or name FILEs", run_dir());
			return 1;
		}
		files = (const char *const *)applied;
		nr = napplied;
	}
	err = policy_check_files((char *const *)files, nr, &opts, &set, &d);
	if (err == -EINVAL) {
		/* a binding that no longer resolves is drift, not a broken file */
		size_t k;

		policy_diags_sort(&d);
		for (k = 0; k < d.n; k++)
			fprintf(stderr, "%s:%u:%u: %s\n", d.v[k].file, d.v[k].line, d.v[k].col,
				d.v[k].msg);
		log_err("the desired policy no longer checks on this machine: that is drift");
		goto out_free;
	}
	if (err) {
		log_err("out of memory");
		goto out_free;
	}
	err = policy_compile(&set, 0, &want);
	if (err) {
		log_err("cannot compile the policy: %s", strerror(-err));
		goto out_set;
	}
	have_ok = !policy_maps_read(&have);
	if (have_ok) {
		const struct policy_entry *m = find(&have, SLUICE_PK_META, 0);

		gen = m ? m->val.meta.generation : 0;
	}
	rows = calloc(set.nr_bindings + 1, sizeof(*rows));
	if (!rows)
		goto out_img;
	for (i = 0; i < set.nr_bindings; i++) {
		const struct pol_binding *b = &set.bindings[i];
		struct brow *r = &rows[i];

		snprintf(r->disk, sizeof(r->disk), "%s:%s", pol_sel_name(b->kind), b->value);
		snprintf(r->policy, sizeof(r->policy), "%s", b->policy_name);
		check_policy(&r->checks[0], b, &want, have_ok ? &have : NULL);
		check_filters(&r->checks[1], b, &set.policies[b->policy]);
		check_limits(&r->checks[2], (unsigned int)i, &want, &set);
		if (r->checks[0].state != CS_DRIFT && r->checks[1].state != CS_DRIFT &&
		    r->checks[2].state != CS_DRIFT)
			ok++;
	}
	if (json)
		print_json(rows, set.nr_bindings, gen, ok);
	else
		print_text(rows, set.nr_bindings, gen, ok);
	rc = ok == set.nr_bindings ? 0 : 1;
	free(rows);
out_img:
	policy_image_free(&want);
	policy_image_free(&have);
out_set:
	policy_set_free(&set);
out_free:
	policy_diags_free(&d);
	for (i = 0; i < napplied; i++)
		free(applied[i]);
	free(applied);
	return rc;
}
