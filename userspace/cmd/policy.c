// SPDX-License-Identifier: GPL-2.0
/*
 * sluice policy - check, apply, show, remove policies and report compliance.
 *
 *   check FILE...     validate; every error as file:line:col: message
 *   apply FILE...     compile, swap the generation in, load the programs
 *   show [--json]     what is in force, read back from the kernel
 *   remove            unpin and undo everything policies set up
 *   status [--json]   compliance per binding; drift exits 1
 *   counts [--json]   the classify probe's per-disk, per-class counters
 *
 * Exit status: 0 ok, 1 errors or drift, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/macro.h"
#include "cmd/args.h"
#include "cmd/cmds.h"
#include "bpf/sluice.h"
#include "loader/policy.h"
#include "loader/policy_apply.h"
#include "loader/policy_chain.h"
#include "loader/policy_cglimits.h"
#include "loader/policy_compile.h"
#include "loader/policy_maps.h"
#include "lib/units.h"
#include "loader/service.h"
#include "lib/emit.h"
#include "lib/log.h"

static const char *run_dir(void)
{
	const char *d = getenv("SLUICE_RUN_DIR");

	return d && d[0] ? d : POLICY_RUN_DIR;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sluice policy check [--no-resolve] FILE...\n"
		"       sluice policy apply FILE...\n"
		"       sluice policy show [--json]\n"
		"       sluice policy remove\n"
		"       sluice policy status [--json] [FILE...]\n"
		"       sluice policy counts [--json]\n"
		"\n"
		"Policies say, per disk and per workload, how I/O is classified, metered,\n"
		"throttled and filtered (docs/policy.md). 'check' reports every error as\n"
		"file:line:col: message; 'apply' swaps the compiled policy into the kernel\n"
		"atomically (a failed apply leaves the previous one in force); 'show' reads\n"
		"it back from the maps; 'status' compares the kernel, the served disks'\n"
		"filters and the cgroup limit files with the applied files (or FILE...),\n"
		"exiting 1 on drift; 'counts' shows requests per disk and class.\n"
		"\n"
		"Options:\n"
		"  --no-resolve  check the schema only: do not look up disks, cgroups or\n"
		"                key files on this machine\n"
		"  --json        one JSON object instead of text\n"
		"  -h, --help    this text\n"
		"\n"
		"Environment: SLUICE_RUN_DIR (default /run/sluice) holds the filter chains\n"
		"for the ublk server and the applied files.\n"
		"\n"
		"Examples:\n"
		"  sluice policy check policies/*.yaml\n"
		"  sluice policy apply policies/shares.yaml\n"
		"  sluice policy show --json | jq '.bindings'\n"
		"  sluice policy status || echo drift\n"
		"  sluice policy remove\n");
}

static void print_diags(struct policy_diags *d)
{
	size_t i;

	policy_diags_sort(d);
	for (i = 0; i < d->n; i++)
		fprintf(stderr, "%s:%u:%u: %s\n", d->v[i].file, d->v[i].line, d->v[i].col,
			d->v[i].msg);
}

/* Parse and check; on errors print them all and return non-zero. */
static int load_set(char *const *files, size_t nr, bool resolve, struct policy_set *set)
{
	struct policy_opts opts = { .resolve = resolve, .run_dir = run_dir() };
	struct policy_diags d = {};
	int err;

	err = policy_check_files(files, nr, &opts, set, &d);
	print_diags(&d);
	if (err == -ENOMEM)
		log_err("out of memory checking policies");
	else if (err)
		log_err("%zu error%s; nothing was applied", d.n, d.n == 1 ? "" : "s");
	policy_diags_free(&d);
	if (err)
		policy_set_free(set);
	return err;
}

/* ---------------------------------------------------------------- check -- */

static int do_check(int argc, char **argv, bool resolve)
{
	struct policy_set set;
	size_t i;

	if (argc < 1) {
		log_err("policy check needs at least one FILE; see 'sluice policy --help'");
		return 2;
	}
	if (load_set(argv, (size_t)argc, resolve, &set))
		return 1;
	for (i = 0; i < (size_t)argc; i++)
		printf("%s: ok\n", argv[i]);
	printf("%zu polic%s, %zu binding%s%s\n", set.nr_policies,
	       set.nr_policies == 1 ? "y" : "ies", set.nr_bindings,
	       set.nr_bindings == 1 ? "" : "s", resolve ? "" : " (selectors not resolved)");
	policy_set_free(&set);
	return 0;
}

/* ---------------------------------------------------------------- apply -- */

static const char *const stage_fix[] = {
	[PS_NONE] = "",
	[PS_COMPILE] = "split the policy: it compiles to more map entries than one generation holds",
	[PS_BPFFS] = "run as root; mount -t bpf bpf /sys/fs/bpf",
	[PS_MAPS] = "run as root (CAP_BPF); check 'sluice doctor'",
	[PS_STATE] = "check that SLUICE_RUN_DIR (default /run/sluice) is a writable directory",
	[PS_LIMITS] = "check the cgroup and its limit files (io.max or blkio.throttle.*)",
	[PS_SWAP] = "run as root; 'sluice policy remove' resets the pinned maps",
	[PS_PROGS] = "run 'sluice doctor' to see what this kernel lacks; -v shows libbpf's log",
};

static int do_apply(int argc, char **argv)
{
	struct policy_apply_result res;
	struct policy_set set;
	int err;

	if (argc < 1) {
		log_err("policy apply needs at least one FILE; see 'sluice policy --help'");
		return 2;
	}
	if (load_set(argv, (size_t)argc, true, &set))
		return 1;
	log_setup_libbpf();
	err = policy_apply(&set, argv, (size_t)argc, run_dir(), &res);
	if (err && res.stage != PS_PROGS) {
		log_err("%s: %s; the previous policy is still in force; %s", res.what,
			strerror(-err), stage_fix[res.stage]);
		policy_set_free(&set);
		return 1;
	}
	printf("applied generation %" PRIu64 ": %zu polic%s, %zu binding%s, %zu cgroup "
	       "limit%s\n", res.generation, set.nr_policies, set.nr_policies == 1 ? "y" : "ies",
	       set.nr_bindings, set.nr_bindings == 1 ? "" : "s", res.nr_limits,
	       res.nr_limits == 1 ? "" : "s");
	/* Not silent: a limit the YAML states but io.max will not show. */
	if (res.nr_limits_served)
		printf("%zu cgroup limit%s held by sluice's ublk server instead of io.max\n",
		       res.nr_limits_served, res.nr_limits_served == 1 ? "" : "s");
	if (res.progs_loaded)
		printf("loaded the classify probe (pinned in %s)\n", SLUICE_PIN_DIR);
	policy_set_free(&set);
	if (err) {
		log_err("%s: %s; the policy is in force but not metered; %s", res.what,
			strerror(-err), stage_fix[res.stage]);
		return 1;
	}
	return 0;
}

/* ----------------------------------------------------------------- show -- */

static const struct policy_entry *find(const struct policy_image *img, unsigned int kind,
				       uint64_t id)
{
	size_t i;

	for (i = 0; i < img->nr_ents; i++)
		if (img->ents[i].key.kind == kind && img->ents[i].key.id == id)
			return &img->ents[i];
	return NULL;
}

static void emit_unit(struct emit *e, const char *key, enum unit_kind k, uint64_t v, bool pct)
{
	char buf[48];

	if (pct)
		snprintf(buf, sizeof(buf), "%" PRIu64 "%% peak", v);
	else
		units_format(k, v, buf, sizeof(buf));
	emit_kv_str(e, key, buf);
}

static const char *const op_names[] = { "read", "write", "discard", "flush", "other" };

static void show_match(struct emit *e, const struct policy_image *img, unsigned int cid)
{
	const struct sluice_class_rule *r = NULL;
	const struct policy_entry *p;
	bool opened = false;
	size_t i, n = 0;
	unsigned int b;

	for (i = 0; i < img->nr_ents; i++) {
		if (img->ents[i].key.kind != SLUICE_PK_RULE ||
		    img->ents[i].val.rule.class_id != cid)
			continue;
		if (!r)
			r = &img->ents[i].val.rule;
		p = find(img, SLUICE_PK_RULE_CGROUP, img->ents[i].key.id);
		if (!p)
			continue;
		if (!opened) {
			emit_key(e, "match");
			emit_map_open(e);
			emit_key(e, "cgroup");
			emit_seq_open(e);
			opened = true;
		}
		emit_str(e, p->val.path.path);
		n++;
	}
	if (!r || (!opened && !r->op_mask && !r->min_bytes && !r->max_bytes))
		return;
	if (opened) {
		emit_seq_close(e);
	} else {
		emit_key(e, "match");
		emit_map_open(e);
	}
	if (r->op_mask) {
		emit_key(e, "op");
		emit_seq_open_flow(e);
		for (b = 0; b < ARRAY_SIZE(op_names); b++)
			if (r->op_mask & SLUICE_OPMASK(b))
				emit_str(e, op_names[b]);
		emit_seq_close(e);
	}
	if (r->min_bytes || r->max_bytes) {
		emit_key(e, "size");
		emit_map_open_flow(e);
		if (r->min_bytes)
			emit_unit(e, "min", UNIT_SIZE, r->min_bytes, false);
		if (r->max_bytes)
			emit_unit(e, "max", UNIT_SIZE, r->max_bytes, false);
		emit_map_close(e);
	}
	emit_map_close(e);
}

static void show_class(struct emit *e, const struct policy_image *img,
		       const struct policy_entry *ce)
{
	const struct sluice_class_limits *l = &ce->val.limits;

	emit_map_open(e);
	emit_kv_str(e, "name", l->name);
	show_match(e, img, (unsigned int)ce->key.id);
	emit_kv_u64(e, "shares", l->shares);
	if (l->reserve_iops)
		emit_unit(e, "reserve", UNIT_IOPS, l->reserve_iops,
			  l->pct_mask & SLUICE_LIM_PCT_RESERVE);
	if (l->latency_target_us)
		emit_unit(e, "latency_target", UNIT_DURATION, l->latency_target_us * 1000ULL, false);
	if (l->riops || l->wiops || l->rbps || l->wbps) {
		emit_key(e, "limits");
		emit_map_open(e);
		if (l->riops)
			emit_unit(e, "read_iops", UNIT_IOPS, l->riops, l->pct_mask & SLUICE_LIM_PCT_RIOPS);
		if (l->wiops)
			emit_unit(e, "write_iops", UNIT_IOPS, l->wiops, l->pct_mask & SLUICE_LIM_PCT_WIOPS);
		if (l->rbps)
			emit_unit(e, "read_bps", UNIT_RATE, l->rbps, l->pct_mask & SLUICE_LIM_PCT_RBPS);
		if (l->wbps)
			emit_unit(e, "write_bps", UNIT_RATE, l->wbps, l->pct_mask & SLUICE_LIM_PCT_WBPS);
		emit_map_close(e);
	}
	emit_map_close(e);
}

/* Chain files of the generation in force, indexed by binding. */
struct chains {
	struct policy_chain_desc c[SLUICE_MAX_DISKS];
	bool have[SLUICE_MAX_DISKS];
};

static void load_chains(struct chains *ch)
{
	char dir[4096], p[4200];
	unsigned int i;

	memset(ch, 0, sizeof(*ch));
	if (policy_state_dir(run_dir(), dir, sizeof(dir)))
		return;
	for (i = 0; i < SLUICE_MAX_DISKS; i++) {
		snprintf(p, sizeof(p), "%s/chains/b%03u.chain", dir, i);
		ch->have[i] = !policy_chain_load(p, &ch->c[i]);
	}
}

static void free_chains(struct chains *ch)
{
	unsigned int i;

	for (i = 0; i < SLUICE_MAX_DISKS; i++)
		if (ch->have[i])
			policy_chain_free(&ch->c[i]);
}

/* A class list as the policy wrote it: the chain keeps it "a+b". */
static void show_classes(struct emit *e, const char *key, const char *v)
{
	size_t n;

	emit_key(e, key);
	emit_seq_open_flow(e);
	for (; *v; v += n + !!v[n]) {
		char name[SLUICE_CLASS_NAME_LEN];

		n = strcspn(v, "+");
		snprintf(name, sizeof(name), "%.*s", (int)n, v);
		emit_str(e, name);
	}
	emit_seq_close(e);
}

/* A chain filter's parameters of the service's mapping @group ("" for its own). */
static void show_params(struct emit *e, const struct service_ops *ops,
			const struct chain_filter *f, const char *group)
{
	const struct svc_param *p;
	const char *key, *v;
	bool open = !group[0];
	size_t i;

	for (i = 0; i < ops->nr_params; i++) {
		p = &ops->params[i];
		key = svc_param_key(p, group);
		if (key && p->kind == SVC_GROUP) {
			show_params(e, ops, f, p->name);
			continue;
		}
		v = key ? chain_param(f, p->name) : NULL;
		if (!v)
			continue;
		/* a group is shown when any of its parameters is set */
		if (!open) {
			emit_key(e, group);
			emit_map_open(e);
			open = true;
		}
		if (p->kind == SVC_CLASSES)
			show_classes(e, key, v);
		else
			emit_kv_str(e, key, v);
	}
	if (open && group[0])
		emit_map_close(e);
}

/*
 * A chain's filter= line as its service's YAML mapping: the chain has the
 * YAML names and spellings already, in the service table's order.
 */
static void show_filter(struct emit *e, const struct chain_filter *f)
{
	const struct service_ops *ops = service_by_filter(f->type);

	if (!ops)
		return;
	emit_key(e, ops->key);
	emit_map_open(e);
	show_params(e, ops, f, "");
	emit_map_close(e);
}

static void show_services(struct emit *e, const struct policy_image *img,
			  const struct chains *ch, unsigned int pid)
{
	const struct policy_chain_desc *c = NULL;
	const struct service_ops *ops;
	const struct policy_entry *b;
	size_t i;

	for (i = 0; i < SLUICE_MAX_DISKS && !c; i++) {
		b = find(img, SLUICE_PK_BINDING, i);
		if (b && b->val.binding.policy_id == pid && ch->have[i])
			c = &ch->c[i];
	}
	if (!c || (!c->nr_filters && !c->nr_nofilters))
		return;
	emit_key(e, "services");
	emit_map_open(e);
	for (i = 0; i < c->nr_filters; i++)
		show_filter(e, &c->filters[i]);
	for (i = 0; i < c->nr_nofilters; i++) {
		ops = service_by_filter(c->nofilters[i]);
		if (ops) {
			emit_key(e, ops->key);
			emit_bool(e, false);
		}
	}
	emit_map_close(e);
}

static void show_binding(struct emit *e, const struct policy_image *img,
			 const struct sluice_binding *b)
{
	const struct policy_entry *p = find(img, SLUICE_PK_POLICY, b->policy_id);
	const char *colon = strchr(b->selector, ':');
	char kind[32];

	snprintf(kind, sizeof(kind), "%.*s", colon ? (int)(colon - b->selector) : 0,
		 b->selector);
	emit_map_open(e);
	emit_key(e, "disk");
	emit_map_open_flow(e);
	if (!strcmp(kind, "served")) {
		emit_key(e, "served");
		emit_map_open_flow(e);
		emit_kv_str(e, "backing", colon + 1);
		emit_map_close(e);
	} else {
		emit_kv_str(e, kind, colon ? colon + 1 : b->selector);
	}
	emit_map_close(e);
	emit_kv_str(e, "policy", p ? p->val.policy.name : "?");
	emit_map_close(e);
}

static int do_show(bool json)
{
	const struct policy_entry *meta, *pe, *te;
	struct policy_image img;
	struct chains *ch;
	struct emit e;
	size_t i, j;
	int err;

	err = policy_maps_read(&img);
	if (err == -ENOENT) {
		log_err("no policy is in force; apply one with 'sluice policy apply FILE'");
		return 1;
	}
	if (err) {
		log_err("%s/%s: %s; run as root", SLUICE_PIN_DIR, SLUICE_MAP_POLICY, strerror(-err));
		return 1;
	}
	ch = malloc(sizeof(*ch));
	if (!ch) {
		policy_image_free(&img);
		return 1;
	}
	load_chains(ch);
	meta = find(&img, SLUICE_PK_META, 0);
	if (!json && meta) {
		char when[32];
		time_t t = (time_t)meta->val.meta.applied_at;

		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
		printf("# in force: generation %llu, applied %s\n",
		       (unsigned long long)meta->val.meta.generation, when);
	}
	emit_init(&e, stdout, json);
	emit_map_open(&e);
	emit_kv_u64(&e, "version", 1);
	if (json && meta)
		emit_kv_u64(&e, "generation", meta->val.meta.generation);
	emit_key(&e, "policies");
	emit_seq_open(&e);
	for (i = 0; i < img.nr_ents; i++) {
		pe = &img.ents[i];
		if (pe->key.kind != SLUICE_PK_POLICY)
			continue;
		emit_map_open(&e);
		emit_kv_str(&e, "name", pe->val.policy.name);
		te = find(&img, SLUICE_PK_POLICY_TEXT, pe->key.id);
		if (te)
			emit_kv_str(&e, "description", te->val.path.path);
		if (pe->val.policy.latency_target_ns)
			emit_unit(&e, "latency_target", UNIT_DURATION,
				  pe->val.policy.latency_target_ns, false);
		if (!(pe->val.policy.flags & SLUICE_DISK_F_METER)) {
			emit_key(&e, "meter");
			emit_bool(&e, false);
		}
		if (pe->val.policy.flags & SLUICE_DISK_F_THROTTLE) {
			emit_key(&e, "throttle");
			emit_bool(&e, true);
		}
		if (pe->val.policy.throttle_interval_ms)
			emit_unit(&e, "throttle_interval", UNIT_DURATION,
				  pe->val.policy.throttle_interval_ms * 1000000ULL, false);
		emit_key(&e, "classes");
		emit_seq_open(&e);
		for (j = 0; j < pe->val.policy.nr_classes; j++) {
			const struct policy_entry *ce =
				find(&img, SLUICE_PK_CLASS, pe->val.policy.first_class + j);

			if (ce)
				show_class(&e, &img, ce);
		}
		emit_seq_close(&e);
		show_services(&e, &img, ch, (unsigned int)pe->key.id);
		emit_map_close(&e);
	}
	emit_seq_close(&e);
	emit_key(&e, "bindings");
	emit_seq_open(&e);
	for (i = 0; i < img.nr_ents; i++)
		if (img.ents[i].key.kind == SLUICE_PK_BINDING)
			show_binding(&e, &img, &img.ents[i].val.binding);
	emit_seq_close(&e);
	emit_map_close(&e);
	err = emit_end(&e);
	free_chains(ch);
	free(ch);
	policy_image_free(&img);
	return err ? 1 : 0;
}

/* --------------------------------------------------------------- remove -- */

static int do_remove(void)
{
	struct policy_apply_result res;
	int err;

	err = policy_remove(run_dir(), &res);
	if (err) {
		log_err("%s/%s: %s; run as root", SLUICE_PIN_DIR, res.what, strerror(-err));
		return 1;
	}
	printf("removed: policy maps and probe unpinned, %zu cgroup limit%s cleared\n",
	       res.nr_limits, res.nr_limits == 1 ? "" : "s");
	return 0;
}

/* --------------------------------------------------------------- counts -- */

static int do_counts(bool json)
{
	struct policy_image img = {};
	struct policy_probe_row *rows;
	const struct policy_entry *c;
	struct emit e;
	char devs[24];
	size_t i, n;
	int err;

	err = policy_probe_read(&rows, &n);
	if (err == -ENOENT) {
		log_err("the classify probe is not loaded; 'sluice policy apply FILE' loads it");
		return 1;
	}
	if (err) {
		log_err("%s/%s: %s; run as root", SLUICE_PIN_DIR, SLUICE_MAP_PROBE, strerror(-err));
		return 1;
	}
	policy_maps_read(&img);	/* class names, if a policy is in force */
	emit_init(&e, stdout, json);
	emit_map_open(&e);
	emit_key(&e, "counts");
	emit_seq_open(&e);
	for (i = 0; i < n; i++) {
		c = rows[i].class_id ? find(&img, SLUICE_PK_CLASS, rows[i].class_id) : NULL;
		snprintf(devs, sizeof(devs), "%u:%u", rows[i].dev >> 20, rows[i].dev & 0xfffff);
		emit_map_open_flow(&e);
		emit_kv_str(&e, "disk", devs);
		emit_kv_str(&e, "class", c ? c->val.limits.name : rows[i].class_id ? "?" : "default");
		emit_kv_u64(&e, "class_id", rows[i].class_id);
		emit_kv_u64(&e, "requests", rows[i].count);
		emit_map_close(&e);
	}
	emit_seq_close(&e);
	emit_map_close(&e);
	err = emit_end(&e);
	free(rows);
	policy_image_free(&img);
	return err ? 1 : 0;
}

/* --------------------------------------------------------------- status -- */

int policy_status(const char *const *files, size_t nr, bool json);

/* ------------------------------------------------------------------ main -- */

struct policy_args {
	const char *verb;
	bool json, resolve;
	int argc;			/* the verb's operands */
	char **argv;
};

/* >0 go on, 0 exit after --help, <0 usage error (logged); see cmd/args.h. */
static int parse_argv(int argc, char **argv, struct policy_args *a)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "no-resolve", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *verb;
	int c;

	a->resolve = true;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return -EINVAL;
	}
	verb = argv[optind];
	argc -= optind;
	argv += optind;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			a->json = true;
			break;
		case 'n':
			a->resolve = false;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	a->verb = verb;
	a->argc = argc - optind;
	a->argv = argv + optind;
	if (!a->resolve && strcmp(verb, "check")) {
		log_err("--no-resolve is only for 'policy check'");
		return -EINVAL;
	}
	if (a->json && (!strcmp(verb, "check") || !strcmp(verb, "apply") ||
			!strcmp(verb, "remove"))) {
		log_err("--json is for show, status and counts");
		return -EINVAL;
	}
	return 1;
}

int cmd_policy(int argc, char **argv)
{
	struct policy_args a = {};
	const char *verb;
	bool json, resolve;
	int err;

	err = parse_argv(argc, argv, &a);
	if (err <= 0)
		return args_exit_status(err);
	verb = a.verb;
	json = a.json;
	resolve = a.resolve;
	argc = a.argc;
	argv = a.argv;
	if (!strcmp(verb, "check"))
		return do_check(argc, argv, resolve);
	if (!strcmp(verb, "apply"))
		return do_apply(argc, argv);
	if (argc && strcmp(verb, "status")) {
		log_err("policy %s takes no arguments ('%s'); see 'sluice policy --help'", verb,
			argv[0]);
		return 2;
	}
	if (!strcmp(verb, "show"))
		return do_show(json);
	if (!strcmp(verb, "remove"))
		return do_remove();
	if (!strcmp(verb, "counts"))
		return do_counts(json);
	if (!strcmp(verb, "status"))
		return policy_status((const char *const *)argv, (size_t)argc, json);
	log_err("unknown policy command '%s'; use check, apply, show, remove, status or counts",
		verb);
	return 2;
}
