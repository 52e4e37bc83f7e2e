// SPDX-License-Identifier: GPL-2.0
/*
 * sluice exporter - the meter as Prometheus metrics over HTTP (libmicrohttpd).
 * Every scrape of /metrics reads the BPF maps afresh: counters per disk,
 * class, cgroup and operation, latency as real Prometheus histograms (the
 * log-linear buckets folded at powers of two, which are bucket bounds, so
 * no count moves between buckets), the block layer's busy time, and the
 * BPF programs' own cost. With a live `sluice throttle`, its state file
 * adds gauges per policed disk and class (read afresh at every scrape too);
 * the disks `sluice serve` serves add their filters' counters.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "cmd/args.h"
#include "cmd/cmds.h"
#include "cmd/meter_cli.h"
#include "lib/disk_state.h"
#include "lib/disks.h"
#include "lib/hist.h"
#include "lib/log.h"
#include "throttle/state_read.h"
#include "ublk/filter_stats.h"

/* Prometheus buckets: le = 2^k ns for k in [LE_MIN, LE_MAX], then +Inf. */
#define LE_MIN	10	/* 1.024 us */
#define LE_MAX	35	/* 34.4 s */

static const char *const dir_names[SLUICE_DIR_MAX] = { "read", "write", "other" };
static const char *const lat_names[SLUICE_LAT_MAX] = { "queue", "device", "total" };

struct exporter {
	struct meter *m;
	const char *tstate_path;	/* --throttle-state */
	pthread_mutex_t lock;
	char *buf;
	size_t len;
	FILE *f;
};

/* Label values: escape backslash, quote and newline (exposition format). */
static void put_label(FILE *f, const char *name, const char *v, bool first)
{
	fprintf(f, "%s%s=\"", first ? "" : ",", name);
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
	fputc('"', f);
}

static void stream_labels(FILE *f, unsigned int dev, unsigned int class_id, uint64_t cg)
{
	char name[64], buf[256];

	disk_name(dev, name, sizeof(name));
	put_label(f, "disk", name, true);
	snprintf(buf, sizeof(buf), "%u:%u", SLUICE_MAJOR(dev), SLUICE_MINOR(dev));
	put_label(f, "dev", buf, false);
	snprintf(buf, sizeof(buf), "%u", class_id);
	put_label(f, "class", buf, false);
	meter_cli_cgroup_label(cg, buf, sizeof(buf));
	put_label(f, "cgroup", buf, false);
}

/*
 * One counter family over every stream: @field is the offset of an array of
 * @n counters in struct sluice_meter_val, labelled @label=@names[k].
 */
static void stream_family(FILE *f, const struct meter_snapshot *s, const char *name,
			  const char *help, size_t field, const char *label,
			  const char *const *names, int n)
{
	const unsigned long long *v;
	size_t i;
	int k;

	fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	for (i = 0; i < s->nr_streams; i++) {
		v = (const void *)((const char *)&s->streams[i].val + field);
		for (k = 0; k < n; k++) {
			fprintf(f, "%s{", name);
			stream_labels(f, s->streams[i].key.dev, s->streams[i].key.class_id,
				      s->streams[i].key.cgroup_id);
			put_label(f, label, names[k], false);
			fprintf(f, "} %llu\n", v[k]);
		}
	}
}

static void counters(FILE *f, const struct meter_snapshot *s)
{
	stream_family(f, s, "sluice_io_total", "Completed block I/O requests.",
		      offsetof(struct sluice_meter_val, ios), "op", meter_op_names,
		      SLUICE_OP_MAX);
	stream_family(f, s, "sluice_io_bytes_total", "Completed block I/O bytes.",
		      offsetof(struct sluice_meter_val, bytes), "op", meter_op_names,
		      SLUICE_OP_MAX);
	stream_family(f, s, "sluice_io_errors_total",
		      "Block I/O completions with an error, by kind.",
		      offsetof(struct sluice_meter_val, errors), "kind", meter_err_names,
		      SLUICE_ERR_MAX);
}

/* As bpf/meter.bpf.c folds operations into histogram directions. */
static unsigned int dir_of(int op)
{
	if (op == SLUICE_OP_READ)
		return SLUICE_DIR_READ;
	return op == SLUICE_OP_WRITE ? SLUICE_DIR_WRITE : SLUICE_DIR_OTHER;
}

/* The exact latency sum for a histogram, from the meter's counters. */
static double lat_sum_ns(const struct meter_snapshot *s, const struct sluice_hist_key *k,
			 int lat)
{
	struct sluice_meter_key mk = { .dev = k->dev, .class_id = k->class_id,
				       .cgroup_id = k->cgroup_id };
	const struct meter_stream *ms = meter_snapshot_find(s, &mk);
	double sum = 0;
	int op;

	if (!ms)
		return 0;
	for (op = 0; op < SLUICE_OP_MAX; op++) {
		if (dir_of(op) != k->dir)
			continue;
		sum += lat == SLUICE_LAT_QUEUE ? ms->val.queue_ns[op] :
		       lat == SLUICE_LAT_DEVICE ? ms->val.device_ns[op] : ms->val.lat_ns[op];
	}
	return sum;
}

static void histograms(FILE *f, const struct meter_snapshot *s, const struct meter_hist *h,
		       size_t nh)
{
	unsigned long long cum;
	unsigned int i, k, idx;
	size_t j;
	int lat;

	fputs("# HELP sluice_io_latency_seconds Block I/O latency: queue (start to issue), "
	      "device (issue to complete) and total.\n"
	      "# TYPE sluice_io_latency_seconds histogram\n", f);
	for (j = 0; j < nh; j++) {
		if (h[j].key.dir >= SLUICE_DIR_MAX)
			continue;
		for (lat = 0; lat < SLUICE_LAT_MAX; lat++) {
			const unsigned long long *b = h[j].val.buckets[lat];

			cum = 0;
			idx = 0;
			for (k = LE_MIN; k <= LE_MAX; k++) {
				/* 2^k is a bucket bound: buckets below it are all <= le. */
				while (idx < SLUICE_HIST_BUCKETS && hist_upper(idx) <= (1ull << k))
					cum += b[idx++];
				fputs("sluice_io_latency_seconds_bucket{", f);
				stream_labels(f, h[j].key.dev, h[j].key.class_id, h[j].key.cgroup_id);
				put_label(f, "dir", dir_names[h[j].key.dir], false);
				put_label(f, "lat", lat_names[lat], false);
				fprintf(f, ",le=\"%.9g\"} %llu\n", (double)(1ull << k) / 1e9, cum);
			}
			for (i = idx; i < SLUICE_HIST_BUCKETS; i++)
				cum += b[i];
			fputs("sluice_io_latency_seconds_bucket{", f);
			stream_labels(f, h[j].key.dev, h[j].key.class_id, h[j].key.cgroup_id);
			put_label(f, "dir", dir_names[h[j].key.dir], false);
			put_label(f, "lat", lat_names[lat], false);
			fprintf(f, ",le=\"+Inf\"} %llu\n", cum);
			fputs("sluice_io_latency_seconds_sum{", f);
			stream_labels(f, h[j].key.dev, h[j].key.class_id, h[j].key.cgroup_id);
			put_label(f, "dir", dir_names[h[j].key.dir], false);
			put_label(f, "lat", lat_names[lat], false);
			fprintf(f, "} %.9g\n", lat_sum_ns(s, &h[j].key, lat) / 1e9);
			fputs("sluice_io_latency_seconds_count{", f);
			stream_labels(f, h[j].key.dev, h[j].key.class_id, h[j].key.cgroup_id);
			put_label(f, "dir", dir_names[h[j].key.dir], false);
			put_label(f, "lat", lat_names[lat], false);
			fprintf(f, "} %llu\n", cum);
		}
	}
}

static void disks(FILE *f, const struct meter_snapshot *s)
{
	char name[64], dev[24];
	size_t i;

	fputs("# HELP sluice_disk_busy_seconds_total Time the disk had I/O in flight "
	      "(the block layer's io_ticks, as iostat's %util).\n"
	      "# TYPE sluice_disk_busy_seconds_total counter\n", f);
	for (i = 0; i < s->nr_disks; i++) {
		if (!meter_snapshot_has_dev(s, s->disks[i].dev))
			continue;
		disk_name(s->disks[i].dev, name, sizeof(name));
		snprintf(dev, sizeof(dev), "%u:%u", SLUICE_MAJOR(s->disks[i].dev),
			 SLUICE_MINOR(s->disks[i].dev));
		fputs("sluice_disk_busy_seconds_total{", f);
		put_label(f, "disk", name, true);
		put_label(f, "dev", dev, false);
		fprintf(f, "} %.3f\n", s->disks[i].busy_ns / 1e9);
	}
	fputs("# HELP sluice_disk_inflight Requests in flight on the disk.\n"
	      "# TYPE sluice_disk_inflight gauge\n", f);
	for (i = 0; i < s->nr_disks; i++) {
		if (!meter_snapshot_has_dev(s, s->disks[i].dev))
			continue;
		disk_name(s->disks[i].dev, name, sizeof(name));
		snprintf(dev, sizeof(dev), "%u:%u", SLUICE_MAJOR(s->disks[i].dev),
			 SLUICE_MINOR(s->disks[i].dev));
		fputs("sluice_disk_inflight{", f);
		put_label(f, "disk", name, true);
		put_label(f, "dev", dev, false);
		fprintf(f, "} %lld\n", s->disks[i].inflight);
	}
}

static void self_cost(FILE *f, struct meter *m)
{
	struct meter_self self;

	fprintf(f, "# HELP sluice_latency_samples_lost_total Latency samples the kernel "
		"had no memory to record (I/O counts stay exact).\n"
		"# TYPE sluice_latency_samples_lost_total counter\n"
		"sluice_latency_samples_lost_total %llu\n",
		(unsigned long long)meter_samples_lost(m));
	if (meter_read_self(m, &self) || !self.enabled)
		return;
	fprintf(f, "# HELP sluice_bpf_run_seconds_total Run time of sluice's BPF programs.\n"
		"# TYPE sluice_bpf_run_seconds_total counter\n"
		"sluice_bpf_run_seconds_total %.9f\n"
		"# HELP sluice_bpf_runs_total Invocations of sluice's BPF programs.\n"
		"# TYPE sluice_bpf_runs_total counter\n"
		"sluice_bpf_runs_total %llu\n",
		self.run_ns / 1e9, (unsigned long long)self.run_cnt);
}

static void throttle_disk_labels(FILE *f, const struct tstate_disk *d)
{
	char dev[24];

	snprintf(dev, sizeof(dev), "%u:%u", d->major, d->minor);
	put_label(f, "disk", d->name, true);
	put_label(f, "dev", dev, false);
}

/* One gauge family per disk from the throttle's state. */
static void throttle_gauge(FILE *f, const struct tstate *st, const char *name,
			   const char *help, int which)
{
	size_t i;
	double v;

	fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
	for (i = 0; i < st->nr_disks; i++) {
		const struct tstate_disk *d = &st->disks[i];

		v = which == 0 ? d->congested : which == 1 ? d->latency_ns / 1e9 :
		    which == 2 ? d->threshold_ns / 1e9 : which == 3 ? (double)d->peak_iops :
		    d->steering;
		fprintf(f, "%s{", name);
		throttle_disk_labels(f, d);
		fprintf(f, "} %.9g\n", v);
	}
}

/* Nothing when no throttle runs: a stale file is a dead throttle, no limits. */
static void throttle(FILE *f, const char *path)
{
	struct tstate st;
	size_t i, j;

	if (!path || tstate_load_fresh(path, &st))
		return;
	throttle_gauge(f, &st, "sluice_throttle_congested",
		       "1 while sluice throttle holds the disk congested, else 0.", 0);
	throttle_gauge(f, &st, "sluice_throttle_latency_seconds",
		       "The latency sluice throttle last measured on the disk.", 1);
	throttle_gauge(f, &st, "sluice_throttle_threshold_seconds",
		       "The latency above which sluice throttle tightens the disk.", 2);
	throttle_gauge(f, &st, "sluice_throttle_peak_iops",
		       "The disk's peak IOPS as sluice throttle learned it.", 3);
	throttle_gauge(f, &st, "sluice_throttle_steering",
		       "1 while sluice throttle caps every class of the congested disk, "
		       "0 while it holds the shares (the busiest class free) or is calm.", 4);
	fputs("# HELP sluice_throttle_allowance_iops IOPS sluice throttle allows the class "
	      "on the disk now; absent while the class is not limited.\n"
	      "# TYPE sluice_throttle_allowance_iops gauge\n", f);
	for (i = 0; i < st.nr_disks; i++)
		for (j = 0; j < st.disks[i].nr_cls; j++) {
			const struct tstate_class *c = &st.disks[i].cls[j];

			if (!c->dynamic)
				continue;
			fputs("sluice_throttle_allowance_iops{", f);
			throttle_disk_labels(f, &st.disks[i]);
			put_label(f, "class", c->name, false);
			put_label(f, "cgroup", c->cgroup, false);
			/* a class of no policy class is io.max's even on a server's disk */
			put_label(f, "enforced_by", st.disks[i].server && c->server ?
				  "server" : "kernel", false);
			fprintf(f, "} %llu\n", (unsigned long long)c->allow_iops);
		}
	tstate_free(&st);
}

/*
 * One counter family for the filters of every disk `sluice serve` serves,
 * as each live server last published them (about every second); a dead
 * server's disk has none.
 */
static void filters(FILE *f)
{
	struct filter_stats *all;
	char disk[32], idx[16];
	size_t i, n;
	unsigned int j, k;

	fputs("# HELP sluice_filter_stat_total A counter of a filter in a served disk's "
	      "chain (index 0 nearest the application), since its server started.\n"
	      "# TYPE sluice_filter_stat_total counter\n", f);
	if (filter_stats_read_all(state_dir(), &all, &n))
		return;
	for (i = 0; i < n; i++) {
		snprintf(disk, sizeof(disk), "ublkb%u", all[i].id);
		for (j = 0; j < all[i].n; j++) {
			const struct filter_stats_filter *fl = &all[i].f[j];

			snprintf(idx, sizeof(idx), "%u", fl->index);
			for (k = 0; k < fl->n; k++) {
				fputs("sluice_filter_stat_total{", f);
				put_label(f, "disk", disk, true);
				put_label(f, "filter", fl->name, false);
				put_label(f, "index", idx, false);
				put_label(f, "counter", fl->c[k].name, false);
				fprintf(f, "} %llu\n", (unsigned long long)fl->c[k].value);
			}
		}
	}
	free(all);
}

/* The metrics text, malloc'ed; NULL on failure. */
static char *render(struct exporter *e, size_t *len)
{
	struct meter_snapshot snap;
	struct meter_hist *h = NULL;
	size_t nh = 0;
	char *buf = NULL;
	FILE *f;

	if (meter_snapshot(e->m, &snap))
		return NULL;
	if (meter_read_hists(e->m, &h, &nh))
		goto out_snap;
	f = open_memstream(&buf, len);
	if (!f)
		goto out_hist;
	counters(f, &snap);
	histograms(f, &snap, h, nh);
	disks(f, &snap);
	self_cost(f, e->m);
	throttle(f, e->tstate_path);
	filters(f);
	if (fclose(f)) {
		free(buf);
		buf = NULL;
	}
out_hist:
	free(h);
out_snap:
	meter_snapshot_free(&snap);
	return buf;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int code, const char *type,
			     char *body, size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **state)
{
	struct exporter *e = cls;
	size_t len = 0;
	char *body;

	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
			     strdup("GET only\n"), 9);
	if (!strcmp(url, "/"))
		return reply(c, MHD_HTTP_OK, "text/html",
			     strdup("<html><body><a href=\"/metrics\">/metrics</a></body></html>\n"),
			     58);
	if (strcmp(url, "/metrics"))
		return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", strdup("not found\n"), 10);
	pthread_mutex_lock(&e->lock);
	body = render(e, &len);
	pthread_mutex_unlock(&e->lock);
	if (!body)
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain",
			     strdup("reading the meter failed\n"), 25);
	return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body, len);
}

static int parse_listen(const char *spec, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(spec, ':');
	char *end;
	long port;

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	if (!colon || (size_t)(colon - spec) >= sizeof(host))
		return -EINVAL;
	memcpy(host, spec, colon - spec);
	host[colon - spec] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end || port <= 0 || port > 65535)
		return -EINVAL;
	sa->sin_port = htons(port);
	if (!host[0])
		sa->sin_addr.s_addr = htonl(INADDR_ANY);
	else if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return -EINVAL;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sluice exporter [OPTIONS]\n"
		"\n"
		"Serve the meter as Prometheus metrics on http://ADDR:PORT/metrics until\n"
		"interrupted: sluice_io_total, sluice_io_bytes_total, sluice_io_errors_total\n"
		"(per disk, class, cgroup, op), sluice_io_latency_seconds (histogram per\n"
		"dir and lat = queue|device|total), sluice_disk_busy_seconds_total,\n"
		"sluice_disk_inflight, the BPF self-cost sluice_bpf_run_seconds_total, and\n"
		"the filters of served ublk disks: sluice_filter_stat_total (per disk,\n"
		"filter, index in the chain, counter).\n"
		"\n"
		"Options:\n"
		"  -l, --listen ADDR:PORT   IPv4 address and port (default 127.0.0.1:9435)\n"
		"      --throttle-state FILE  a running 'sluice throttle's state, for the\n"
		"                           sluice_throttle_* gauges (congested, steering,\n"
		"                           latency/threshold seconds, peak and allowance\n"
		"                           iops); default " TSTATE_DEFAULT_PATH "\n"
		"      --partitions         meter partitions separately\n"
		"  -h, --help               this help\n"
		"\n"
		"Examples:\n"
		"  sluice exporter\n"
		"  sluice exporter --listen 0.0.0.0:9435\n"
		"  curl -s http://127.0.0.1:9435/metrics | promtool check metrics\n");
}

/* >0 go on, 0 exit after --help, <0 usage error (logged); see cmd/args.h. */
static int parse_argv(int argc, char **argv, struct exporter *e, struct meter_opts *mo,
		      const char **listen, struct sockaddr_in *sa)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "partitions", no_argument, NULL, 'p' },
		{ "throttle-state", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "l:h", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			*listen = optarg;
			break;
		case 'p':
			mo->partitions = true;
			break;
		case 'T':
			e->tstate_path = optarg;
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
		return args_unexpected("exporter", argv[optind]);
	if (parse_listen(*listen, sa)) {
		log_err("--listen '%s': expected IPV4:PORT (127.0.0.1:9435, :9435)", *listen);
		return -EINVAL;
	}
	return 1;
}

int cmd_exporter(int argc, char **argv)
{
	struct meter_opts mo = { .self_stats = true };
	const char *listen = "127.0.0.1:9435";
	struct exporter e = { .lock = PTHREAD_MUTEX_INITIALIZER,
			      .tstate_path = TSTATE_DEFAULT_PATH };
	struct MHD_Daemon *d;
	struct sockaddr_in sa;
	sigset_t mask;
	int ret;

	ret = parse_argv(argc, argv, &e, &mo, &listen, &sa);
	if (ret <= 0)
		return args_exit_status(ret);
	if ((ret = meter_cli_open(&e.m, &mo)))
		return ret;
	/* The server thread inherits a mask without SIGINT/SIGTERM: they wake pause() here. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
			     handle, &e, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
			     MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	pthread_sigmask(SIG_UNBLOCK, &mask, NULL);
	if (!d) {
		log_err("%s: cannot listen (address in use or not local?); pick another with "
			"--listen", listen);
		meter_close(e.m);
		return 1;
	}
	log_info("serving http://%s/metrics", listen);
	while (!meter_cli_stop)
		pause();
	MHD_stop_daemon(d);
	meter_close(e.m);
	return 0;
}
