// SPDX-License-Identifier: GPL-2.0
/*
 * sluice throttle - the command line of the throttle daemon
 * (throttle/daemon.h): its options, --help, and everything it says. The
 * daemon reports events; this file words them (tests/host/throttle*.bats
 * assert the words). SIGTERM/SIGINT take back every dynamic limit and keep
 * the static ones; after a kill -9 the guardian (throttle/guardian.h) does
 * it (or, if it was killed too, 'sluice throttle --cleanup').
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/args.h"
#include "cmd/cmds.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/macro.h"
#include "lib/units.h"
#include "throttle/control.h"
#include "throttle/daemon.h"
#include "throttle/policy.h"
#include "throttle/spec.h"
#include "throttle/state_write.h"

#define DEF_STATE		"/run/sluice/throttle.json"
#define DEF_RECORD		"/run/sluice/throttle.iomax"

/* What the CLI keeps beside the daemon's settings. */
struct topts {
	struct tdaemon d;
	bool json, cleanup;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = sig;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sluice throttle [OPTIONS] --disk DISK --threshold T --cgroup SPEC...\n"
		"       sluice throttle --config FILE [OPTIONS]\n"
		"       sluice throttle [--policy] [OPTIONS]\n"
		"       sluice throttle --cleanup\n"
		"\n"
		"Latency-based throttling (Storage I/O Control): when a disk's latency\n"
		"crosses its threshold, the cgroups bound to it get IOPS in proportion to\n"
		"their shares (reservations first, static limits always), through io.max;\n"
		"when it is calm, the limits relax step by step until none is left. Runs\n"
		"in the foreground; SIGTERM or SIGINT removes the dynamic limits.\n"
		"\n"
		"Options:\n"
		"  --disk DISK         /dev/NAME, NAME or MAJ:MIN; the next options apply to it\n"
		"  --threshold T       a latency (30ms, 500us) or N%%peak (SIOC's mode: the\n"
		"                      latency at which the disk gave N%% of its learned peak)\n"
		"  --cgroup SPEC       PATH[:shares=N,riops=N,wiops=N,rbps=S,wbps=S,reserve=N]\n"
		"                      PATH relative to /sys/fs/cgroup; shares default 100;\n"
		"                      riops.. are static limits; reserve a minimum IOPS\n"
		"  --p99               compare the p99 latency, not the average (meter only)\n"
		"  --latency KIND      total (from the block layer's start, the default) or\n"
		"                      device (issue to completion)\n"
		"  --source SRC        auto (the default: the BPF meter if it loads), meter,\n"
		"                      or sysfs (the kernel's counters: average only)\n"
		"  --interval D        control interval (default: the smallest\n"
		"                      throttle_interval of the policies, else 1s)\n"
		"  --config FILE       read the options above from FILE, one per line\n"
		"                      ('disk /dev/sdb', 'cgroup db:shares=200', '# ...')\n"
		"  --policy            disks, thresholds and classes from the applied policy\n"
		"                      (the default without --disk/--config); a new\n"
		"                      'sluice policy apply' is taken at the next interval\n"
		"  --cgroup-root DIR   the policy's relative cgroup paths resolve under DIR\n"
		"                      (default: the cgroup v2 mount)\n"
		"  --once              one step: measure one interval, set io.max, exit\n"
		"                      (limits stay; remove them with --cleanup)\n"
		"  --cleanup           remove the dynamic limits a killed throttle left\n"
		"  --state FILE        state for 'sluice top' (default " DEF_STATE ")\n"
		"  --record FILE       for --cleanup (default " DEF_RECORD ")\n"
		"  --json              one JSON object per disk and interval on stdout\n"
		"  -h, --help          this text\n"
		"\n"
		"Per-class I/O counts come from each cgroup's io.stat; see docs/throttle.md.\n"
		"\n"
		"Examples:\n"
		"  sluice throttle --disk /dev/sdb --threshold 30ms \\\n"
		"      --cgroup db:shares=200,reserve=500 --cgroup batch:shares=100\n"
		"  sluice throttle --disk nvme0n1 --threshold 90%%peak --cgroup a --cgroup b\n"
		"  sluice policy apply policies/shares.yaml && sluice throttle\n"
		"  sluice throttle --cleanup\n");
}

static int add_cgroup(struct tdaemon_disk *d, const char *spec)
{
	struct throttle_class_cfg cc;
	char path[PATH_MAX - 32], *p;
	struct tdaemon_class *c;
	int err;

	if (d->cfg.nr_classes >= THROTTLE_MAX_CLASSES) {
		log_err("%s: at most %d cgroups per disk", d->name, THROTTLE_MAX_CLASSES);
		return -E2BIG;
	}
	err = throttle_parse_class(spec, path, sizeof(path), &cc);
	if (err) {
		log_err("--cgroup '%s': %s; expected PATH[:shares=N,riops=N,wiops=N,"
			"rbps=S,wbps=S,reserve=N]", spec,
			err == -ENOENT ? "unknown key" : "malformed");
		return err;
	}
	c = &d->cls[d->cfg.nr_classes];
	/* Keep room for "/io.max" after the directory. */
	if (path[0] == '/')
		snprintf(c->path, sizeof(c->path), "%s", path);
	else
		snprintf(c->path, sizeof(c->path), TDAEMON_CGROUP_ROOT "/%s", path);
	for (p = c->path + strlen(c->path) - 1; p > c->path && *p == '/'; p--)
		*p = '\0';
	snprintf(c->name, sizeof(c->name), "%s", strrchr(c->path, '/') + 1);
	c->class_id = d->cfg.nr_classes + 1;
	d->cfg.cls[d->cfg.nr_classes++] = cc;
	return 0;
}

static int set_option(struct tdaemon *o, const char *key, const char *val)
{
	struct tdaemon_disk *d = o->nr_disks ? &o->disks[o->nr_disks - 1] : NULL;
	int err;

	if (!strcmp(key, "disk")) {
		if (o->nr_disks >= TDAEMON_MAX_DISKS) {
			log_err("at most %d disks", TDAEMON_MAX_DISKS);
			return -E2BIG;
		}
		d = &o->disks[o->nr_disks];
		err = tdaemon_resolve_disk(val, d);
		if (err) {
			log_err("%s: %s; list disks with lsblk", val,
				err == -EISDIR ? "a partition; io.max takes the whole disk" :
				"no such disk");
			return err;
		}
		o->nr_disks++;
		return 0;
	}
	if (!d) {
		log_err("--%s %s: give --disk first; the settings that follow apply to it",
			key, val);
		return -EINVAL;
	}
	if (!strcmp(key, "threshold")) {
		err = throttle_parse_threshold(val, &d->cfg);
		if (err)
			log_err("--threshold '%s': expected a latency (30ms) or N%%peak", val);
		return err;
	}
	if (!strcmp(key, "cgroup"))
		return add_cgroup(d, val);
	log_err("unknown setting '%s'; see 'sluice throttle --help'", key);
	return -EINVAL;
}

static int read_config(struct tdaemon *o, const char *file)
{
	char line[1024], *key, *val, *end;
	unsigned int lineno = 0;
	int err = 0;
	FILE *f;

	f = fopen(file, "re");
	if (!f) {
		err = -errno;
		log_err("%s: %s", file, strerror(-err));
		return err;
	}
	while (!err && fgets(line, sizeof(line), f)) {
		lineno++;
		key = line + strspn(line, " \t");
		if (*key == '#' || *key == '\n' || !*key)
			continue;
		end = key + strlen(key);
		while (end > key && (end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (!strncmp(key, "--", 2))
			key += 2;
		val = key + strcspn(key, " \t=");
		if (!*val) {
			log_err("%s:%u: '%s' needs a value", file, lineno, key);
			err = -EINVAL;
			break;
		}
		*val++ = '\0';
		val += strspn(val, " \t=");
		err = set_option(o, key, val);
		if (err)
			log_err("%s:%u: in this line", file, lineno);
	}
	fclose(f);
	return err;
}

static void fmt_iops(char *buf, size_t len, double v)
{
	if (v >= 10000)
		snprintf(buf, len, "%.0fk", v / 1000);
	else if (v >= 1000)
		snprintf(buf, len, "%.1fk", v / 1000);
	else
		snprintf(buf, len, "%.0f", v);
}

static void fmt_lat(char *buf, size_t len, double ns)
{
	if (ns >= 1e6)
		snprintf(buf, len, "%.2fms", ns / 1e6);
	else
		snprintf(buf, len, "%.0fus", ns / 1e3);
}

/* One line per change: disk, state, latency vs threshold, allowances, why. */
static void log_change(const struct tdaemon_disk *d)
{
	const struct throttle_disk *c = &d->ctl;
	char lat[16], thr[16], v[16], line[512];
	size_t off;
	unsigned int i;
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	fmt_lat(lat, sizeof(lat), c->last_lat_ns);
	if (c->threshold_ns)
		fmt_lat(thr, sizeof(thr), c->threshold_ns);
	else
		snprintf(thr, sizeof(thr), "(learning)");
	off = snprintf(line, sizeof(line), "%02d:%02d:%02d %s %s %s/%s", tm.tm_hour, tm.tm_min,
		       tm.tm_sec, d->name, throttle_state_name(c->state), lat, thr);
	for (i = 0; i < d->cfg.nr_classes && off < sizeof(line); i++) {
		if (c->allow[i].dynamic)
			fmt_iops(v, sizeof(v), c->allow[i].total_iops);
		else
			snprintf(v, sizeof(v), "max");
		off += snprintf(line + off, sizeof(line) - off, " %s=%s", d->cls[i].name, v);
	}
	if (c->lagging >= 0 && c->state == THROTTLE_CONGESTED)
		printf("%s: %s (%s over its target)\n", line, c->reason ? c->reason : "",
		       d->cls[c->lagging].name);
	else
		printf("%s: %s\n", line, c->reason ? c->reason : "");
	fflush(stdout);
}

/* The io.max hint every cgroup failure carries. */
#define IO_CONTROLLER_FIX	"create the cgroup and enable the io controller (echo +io > " \
				"its parent's cgroup.subtree_control)"

static void say_interval(const struct tdaemon_event *ev)
{
	char now_s[24], was_s[24], ask_s[24];

	units_format(UNIT_DURATION, ev->interval, now_s, sizeof(now_s));
	units_format(UNIT_DURATION, ev->was, was_s, sizeof(was_s));
	units_format(UNIT_DURATION, ev->asked, ask_s, sizeof(ask_s));
	if (ev->cli) {
		if (ev->policy && ev->asked != ev->interval)
			log_info("control interval %s from --interval; policy '%s' asks for %s",
				 now_s, ev->policy, ask_s);
	} else if (!ev->was) {
		if (ev->policy)
			log_info("control interval %s: policy '%s' asks for it", now_s,
				 ev->policy);
	} else if (ev->was != ev->interval) {
		if (ev->policy)
			log_info("control interval %s (was %s) from the next one on: policy "
				 "'%s' asks for it", now_s, was_s, ev->policy);
		else
			log_info("control interval %s (was %s) from the next one on: no "
				 "policy in force sets throttle_interval", now_s, was_s);
	}
}

static void say_sample(const struct topts *t, const struct tdaemon_disk *d)
{
	struct json_writer w;

	if (t->json) {
		json_init(&w, stdout);
		tstate_json_disk(&w, d);
		json_end(&w);
	} else if (d->ctl.changed) {
		log_change(d);
	}
}

/* Every word the daemon's events turn into. */
static void say(const struct tdaemon *o, const struct tdaemon_event *ev)
{
	const char *name = ev->disk ? ev->disk->name : ev->name;
	const char *e = strerror(ev->err < 0 ? -ev->err : ev->err);

	switch (ev->kind) {
	case TDAEMON_EV_SAMPLE:
		say_sample(o->ctx, ev->disk);
		break;
	case TDAEMON_EV_NO_CGROUP:
		log_err("%s: no --cgroup bound to it", name);
		break;
	case TDAEMON_EV_NO_THRESHOLD:
		log_err("%s: no --threshold (a latency such as 30ms, or 90%%peak)", name);
		break;
	case TDAEMON_EV_BAD_SETTINGS:
		log_err("%s: invalid throttle settings", name);
		break;
	case TDAEMON_EV_IOMAX_OPEN:
		log_err("%s/io.max: %s; " IO_CONTROLLER_FIX, ev->path, e);
		break;
	case TDAEMON_EV_POLICY_CGROUP:
		log_err("%s/io.max: %s; " IO_CONTROLLER_FIX ", or give --cgroup-root",
			ev->path, e);
		break;
	case TDAEMON_EV_IOMAX_WRITE:
		log_err("%s/io.max: cannot write: %s", ev->path, e);
		break;
	case TDAEMON_EV_COUNTERS:
		log_err("%s: cannot read its counters: %s", name, e);
		break;
	case TDAEMON_EV_MKDIR:
		log_err("%s: cannot create its directory: %s", ev->path, e);
		break;
	case TDAEMON_EV_GUARDIAN:
		log_err("cannot fork the guardian that removes the limits if this throttle "
			"is killed: %s", e);
		break;
	case TDAEMON_EV_METER:
		log_err("cannot load the BPF meter: %s; see 'sluice doctor', or use "
			"--source sysfs", e);
		break;
	case TDAEMON_EV_POLICY_READ:
		log_err("cannot read the applied policy: %s; see 'sluice policy status'", e);
		break;
	case TDAEMON_EV_POLICY_TOO_BIG:
		log_err("the applied policy needs more than %d cgroups on one disk or %d "
			"policed disks; split its classes", THROTTLE_MAX_CLASSES,
			THROTTLE_POLICY_MAX_DISKS);
		break;
	case TDAEMON_EV_POLICY_MAPS:
		log_err("the applied policy's maps do not refer to each other (%s); "
			"re-apply it with 'sluice policy apply'", e);
		break;
	case TDAEMON_EV_RECORD_RESTORE:
		log_err("%s: cannot restore every limit it lists: %s", ev->path, e);
		break;
	case TDAEMON_EV_RESTORE:
		log_err("cannot remove every dynamic limit (%s); run 'sluice throttle --cleanup'",
			e);
		break;
	case TDAEMON_EV_METER_FALLBACK:
		log_warn("BPF meter unavailable (%s): latency from the kernel's counters "
			 "(average only); see 'sluice doctor'", e);
		break;
	case TDAEMON_EV_DISK_GONE:
		log_warn("%s: bound to policy '%s' but no such disk now; not policed", name,
			 ev->policy);
		break;
	case TDAEMON_EV_DISK_NO_CLASS:
		log_warn("%s: policy '%s' has no class matching a cgroup; nothing to police",
			 name, ev->policy);
		break;
	case TDAEMON_EV_SERVER_UNREADABLE:
		log_warn("%s: cannot read its ublk server's state in %s (%s); io.max holds its "
			 "limits", name, ev->path, e);
		break;
	case TDAEMON_EV_SERVER_OTHER_STATE:
		log_warn("%s: its ublk server reads limits from %s, not %s; io.max holds them "
			 "(drop --state)", name, ev->path, ev->path2);
		break;
	case TDAEMON_EV_SERVER_NO_CLASS:
		log_warn("%s: %s is in no class of policy '%s' on this disk: its limits cannot "
			 "reach the ublk server, io.max holds them (give the cgroups the "
			 "policy's classes name)", name, ev->path, ev->policy);
		break;
	case TDAEMON_EV_GEN_UNUSABLE:
		log_warn("policy generation %" PRIu64 " cannot be used; generation %" PRIu64
			 " stays in force", ev->gen, ev->was);
		break;
	case TDAEMON_EV_GEN_RELEASE:
		log_warn("cannot remove every dynamic limit of generation %" PRIu64 " (%s)",
			 ev->was, e);
		break;
	case TDAEMON_EV_STATE_WRITE:
		log_warn("%s: cannot write the state: %s", ev->path, e);
		break;
	case TDAEMON_EV_SERVER_ENFORCES:
		log_info("%s: enforced by its ublk server (/dev/ublkb%u's throttle filter); "
			 "io.max left alone", name, ev->n);
		break;
	case TDAEMON_EV_RECORD_CLEANED:
		log_info("removed the dynamic limits of a previous throttle (%u cgroup/disk "
			 "pairs)", ev->n);
		break;
	case TDAEMON_EV_GEN_SWITCHED:
		log_info("policy generation %" PRIu64 " in force (was %" PRIu64 "): %u disk%s "
			 "policed%s", ev->gen, ev->was, ev->n, ev->n == 1 ? "" : "s",
			 ev->kept ? "; limits rewritten by the apply kept" : "");
		break;
	case TDAEMON_EV_INTERVAL:
		say_interval(ev);
		break;
	case TDAEMON_EV_SIGNAL:
		log_info("signal %u: removing dynamic limits", ev->n);
		break;
	}
}

/* In the guardian, after the daemon died. */
static void say_guardian(pid_t parent, const char *record, int err, unsigned int n)
{
	if (!err)
		log_info("throttle %d died without removing its dynamic limits: removed them "
			 "(%u cgroup/disk pairs)", (int)parent, n);
	else if (err != -ENOENT)
		log_err("%s: throttle %d died and its limits cannot all be restored: %s; run "
			"'sluice throttle --cleanup'", record, (int)parent, strerror(-err));
}

/* --latency's words, and the meter's latency each one means. */
static const char *const lat_names[] = { "total", "device" };
static const unsigned int lat_kinds[] = { SLUICE_LAT_TOTAL, SLUICE_LAT_DEVICE };
static const char *const sources[] = { "auto", "meter", "sysfs" };

/* >0 go on, 0 exit after --help, <0 usage error (logged); see cmd/args.h. */
static int parse_argv(int argc, char **argv, struct topts *t)
{
	static const struct option opts[] = {
		{ "disk", required_argument, NULL, 'd' },
		{ "threshold", required_argument, NULL, 't' },
		{ "cgroup", required_argument, NULL, 'g' },
		{ "interval", required_argument, NULL, 'i' },
		{ "config", required_argument, NULL, 'c' },
		{ "once", no_argument, NULL, '1' },
		{ "cleanup", no_argument, NULL, 'C' },
		{ "p99", no_argument, NULL, 'p' },
		{ "latency", required_argument, NULL, 'L' },
		{ "source", required_argument, NULL, 'S' },
		{ "state", required_argument, NULL, 's' },
		{ "record", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "policy", no_argument, NULL, 'P' },
		{ "cgroup-root", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct tdaemon *o = &t->d;
	unsigned int k;
	int c, err = 0;

	o->state_path = DEF_STATE;
	o->record_path = DEF_RECORD;
	o->source = "auto";
	o->lat_kind = SLUICE_LAT_TOTAL;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			err = set_option(o, "disk", optarg);
			break;
		case 't':
			err = set_option(o, "threshold", optarg);
			break;
		case 'g':
			err = set_option(o, "cgroup", optarg);
			break;
		case 'c':
			err = read_config(o, optarg);
			break;
		case 'i':
			err = parse_duration_argument("--interval", optarg, 10 * NSEC_PER_MSEC, 0,
						      &o->cli_interval_ns);
			break;
		case '1':
			o->once = true;
			break;
		case 'C':
			t->cleanup = true;
			break;
		case 'p':
			o->p99 = true;
			break;
		case 'L':
			err = parse_enum_argument("--latency", optarg, lat_names,
						  ARRAY_SIZE(lat_names), &k);
			if (!err)
				o->lat_kind = lat_kinds[k];
			break;
		case 'S':
			err = parse_enum_argument("--source", optarg, sources, ARRAY_SIZE(sources),
						  &k);
			if (!err)
				o->source = sources[k];
			break;
		case 's':
			o->state_path = optarg;
			break;
		case 'r':
			o->record_path = optarg;
			break;
		case 'j':
			t->json = true;
			break;
		case 'P':
			o->policy = true;
			break;
		case 'R':
			o->cgroup_root = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return -EINVAL;
		}
		if (err)
			return err;
	}
	if (optind < argc)
		return args_unexpected("throttle", argv[optind]);
	if (t->cleanup)
		return 1;
	if (o->policy && o->nr_disks) {
		log_err("--policy takes the disks from the applied policy; drop --disk and "
			"--config");
		return -EINVAL;
	}
	if ((o->p99 || o->lat_kind == SLUICE_LAT_DEVICE) && !strcmp(o->source, "sysfs")) {
		/* The kernel's counters carry one sum from start to completion. */
		log_err("--p99 and --latency device need the BPF meter; drop --source sysfs");
		return -EINVAL;
	}
	return 1;
}

int cmd_throttle(int argc, char **argv)
{
	static struct topts t;
	struct tdaemon *o = &t.d;
	struct sigaction sa = { .sa_handler = on_signal };
	int err;

	memset(&t, 0, sizeof(t));
	o->report = say;
	o->guardian_report = say_guardian;
	o->ctx = &t;
	err = parse_argv(argc, argv, &t);
	if (err <= 0)
		return args_exit_status(err);
	if (t.cleanup)
		return tdaemon_cleanup_record(o, o->record_path) ? 1 : 0;
	if (!o->cgroup_root)
		o->cgroup_root = tdaemon_default_cgroup_root();
	if (!o->nr_disks) {
		uint64_t gen;
		unsigned int nr;

		err = tdaemon_policy_disks(o, o->disks, &nr, &gen);
		if (err == -ENOENT && o->policy) {
			log_err("no policy is in force; apply one with 'sluice policy apply FILE'");
			return 2;
		}
		if (err == -ENOENT) {
			log_err("no disk to police; give --disk DISK --threshold T --cgroup PATH, "
				"or apply a policy (see 'sluice throttle --help')");
			return 2;
		}
		if (err)
			return 1;
		if (!nr) {
			log_err("the policy in force (generation %" PRIu64 ") polices no disk; "
				"set 'throttle: true' on a policy bound to a disk", gen);
			return 2;
		}
		o->policy = true;
		o->generation = gen;
		o->failed_generation = UINT64_MAX;
		o->nr_disks = nr;
		log_info("policy generation %" PRIu64 ": %u disk%s policed", gen, nr,
			 nr == 1 ? "" : "s");
	}
	if (o->p99 || o->lat_kind == SLUICE_LAT_DEVICE)
		o->source = "meter";
	tdaemon_pick_interval(o);
	if (!o->policy)
		tdaemon_cgroup_class_ids(o);
	if (strcmp(o->source, "sysfs"))
		log_setup_libbpf();
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	return tdaemon_run(o, &stop) ? 1 : 0;
}
