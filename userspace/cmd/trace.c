// SPDX-License-Identifier: GPL-2.0
/*
 * sluice trace - one line per completed I/O, filtered in the kernel by
 * disk, cgroup, operation and minimum latency, so unmatched I/O never
 * reaches the ring buffer. Lost events (full ring buffer) are counted and
 * reported on exit.
 *
 * JSON (--json), one object per line: {"ts_ns", "comm", "pid", "cgroup_id",
 * "cgroup", "disk", "dev", "op", "sector", "bytes", "queue_ns",
 * "device_ns", "status"}; on exit {"lost": N} if any were lost.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "cmd/args.h"
#include "cmd/cmds.h"
#include "cmd/meter_cli.h"
#include "lib/disks.h"
#include "lib/json.h"
#include "lib/log.h"

#define LABELS	64

struct label {
	uint64_t key;
	char text[64];
	bool used;
};

struct trace_ctx {
	bool json;
	bool wide;
	uint64_t t0;
	uint64_t count, max;
	struct label cg[LABELS], disk[LABELS];
};

/* Tiny direct-mapped caches: sysfs and cgroupfs walks are too slow per event. */
static const char *cached(struct label *tab, uint64_t key, bool is_cgroup)
{
	struct label *l = &tab[key % LABELS];

	if (!l->used || l->key != key) {
		l->key = key;
		l->used = true;
		if (is_cgroup)
			meter_cli_cgroup_label(key, l->text, sizeof(l->text));
		else
			disk_label(key, l->text, sizeof(l->text));
	}
	return l->text;
}

static int on_event(void *p, const struct sluice_event *e)
{
	static const char op_chr[SLUICE_OP_MAX] = { 'R', 'W', 'D', 'F', 'O' };
	struct trace_ctx *c = p;
	const char *cg = cached(c->cg, e->cgroup_id, true);
	const char *disk = cached(c->disk, e->dev, false);
	unsigned int op = e->op < SLUICE_OP_MAX ? e->op : SLUICE_OP_OTHER;
	char comm[SLUICE_COMM_LEN + 1], dev[24];
	struct json_writer w;

	if (c->max && c->count >= c->max)
		return 1;
	c->count++;
	memcpy(comm, e->comm, SLUICE_COMM_LEN);
	comm[SLUICE_COMM_LEN] = '\0';
	if (c->json) {
		json_init(&w, stdout);
		json_obj_open(&w);
		json_kv_u64(&w, "ts_ns", e->ts_ns);
		json_kv_str(&w, "comm", comm);
		json_kv_u64(&w, "pid", e->pid);
		json_kv_u64(&w, "cgroup_id", e->cgroup_id);
		json_kv_str(&w, "cgroup", cg);
		json_kv_str(&w, "disk", disk);
		snprintf(dev, sizeof(dev), "%u:%u", SLUICE_MAJOR(e->dev), SLUICE_MINOR(e->dev));
		json_kv_str(&w, "dev", dev);
		json_kv_str(&w, "op", meter_op_names[op]);
		json_kv_u64(&w, "sector", e->sector);
		json_kv_u64(&w, "bytes", e->bytes);
		json_kv_u64(&w, "queue_ns", e->queue_ns);
		json_kv_u64(&w, "device_ns", e->device_ns);
		json_kv_u64(&w, "status", e->status);
		json_obj_close(&w);
		json_end(&w);
	} else {
		printf("%-8.3f %-10.10s %7u %-10.10s %-7.7s %c %7u %7.1f %8.1f",
		       (e->ts_ns > c->t0 ? e->ts_ns - c->t0 : 0) / 1e9, comm, e->pid, cg, disk,
		       op_chr[op], e->bytes, e->queue_ns / 1e3, e->device_ns / 1e3);
		if (c->wide)
			printf(" %12llu%s", (unsigned long long)e->sector, e->status ? " ERR" : "");
		else if (e->status)
			printf(" ERR");
		putchar('\n');
	}
	return c->max && c->count >= c->max;
}

static pid_t spawn(char **cmd)
{
	pid_t pid;
	int err = meter_cli_spawn(cmd, &pid);

	return err ? err : pid;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sluice trace [OPTIONS] [-- COMMAND [ARGS...]]\n"
		"\n"
		"Print one line per completed block I/O until interrupted, --count or\n"
		"--duration, or while COMMAND runs (then exit with its status).\n"
		"Filters run in the kernel; unmatched I/O costs nothing here.\n"
		"\n"
		"Options:\n"
		"  -d, --disk DISK       only this disk (loop3, /dev/sda, 7:3, mapper name)\n"
		"  -c, --cgroup CGROUP   only I/O charged to this cgroup (path or id)\n"
		"      --op OPS          only these: read,write,discard,flush,other\n"
		"  -m, --min-lat D       only I/O slower than D in total (5ms, 200us)\n"
		"  -n, --count N         exit after N events\n"
		"      --duration D      exit after D (10s, 2m; a bare number is seconds)\n"
		"      --partitions      name partitions, not their disks\n"
		"  -w, --wide            also print the sector\n"
		"      --json            one JSON object per event\n"
		"  -h, --help            this help\n"
		"\n"
		"Columns: TIME(s) COMM PID CGROUP DISK OP BYTES QUEUE(us) DEVICE(us)\n"
		"\n"
		"Examples:\n"
		"  sluice trace --disk nvme0n1 --min-lat 10ms\n"
		"  sluice trace --op write -- dd if=/dev/zero of=/dev/loop3 count=8 oflag=direct\n"
		"  sluice trace --cgroup /sys/fs/cgroup/db.slice --op write --json | jq .\n");
}

/* >0 go on, 0 exit after --help, <0 usage error (logged); see cmd/args.h. */
static int parse_argv(int argc, char **argv, struct meter_opts *mo, struct trace_ctx *ctx,
		      uint64_t *duration_ns)
{
	static const struct option opts[] = {
		{ "disk", required_argument, NULL, 'd' },
		{ "cgroup", required_argument, NULL, 'c' },
		{ "op", required_argument, NULL, 'o' },
		{ "min-lat", required_argument, NULL, 'm' },
		{ "count", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 'D' },
		{ "partitions", no_argument, NULL, 'p' },
		{ "wide", no_argument, NULL, 'w' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *disk = NULL;
	uint64_t v;
	int c, err = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+d:c:m:n:wh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			disk = optarg;
			break;
		case 'c':
			if (meter_cli_cgroup(optarg, &v))
				return -EINVAL;
			mo->filter.cgroup_id = v;
			break;
		case 'o':
			if (meter_cli_ops(optarg, &mo->filter.op_mask))
				return -EINVAL;
			break;
		case 'm':
			err = parse_duration_argument("--min-lat", optarg, 0, 0, &v);
			if (!err)
				mo->filter.min_lat_ns = v;
			break;
		case 'n':
			err = parse_count_argument("--count", optarg, 1, UINT64_MAX, &v);
			if (!err)
				ctx->max = v;
			break;
		case 'D':
			err = parse_duration_argument("--duration", optarg, 1, 0, duration_ns);
			break;
		case 'p':
			mo->partitions = true;
			break;
		case 'w':
			ctx->wide = true;
			break;
		case 'j':
			ctx->json = true;
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
	if (disk && meter_cli_disk(disk, mo->partitions, &mo->filter.dev))
		return -EINVAL;
	return 1;
}

int cmd_trace(int argc, char **argv)
{
	struct meter_opts mo = { .trace = true };
	struct trace_ctx *ctx;
	struct meter *m = NULL;
	uint64_t lost, end = 0, duration_ns = 0;
	int ret = 0, n, ws, status = -1;
	pid_t child = 0;

	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return 1;
	ret = parse_argv(argc, argv, &mo, ctx, &duration_ns);
	if (ret <= 0) {
		ret = args_exit_status(ret);
		goto out_free;
	}
	ret = 0;
	if ((ret = meter_cli_open(&m, &mo)))
		goto out_free;
	setvbuf(stdout, NULL, _IOLBF, 0);
	ctx->t0 = meter_now_ns();
	if (duration_ns)
		end = ctx->t0 + duration_ns;
	if (!ctx->json)
		printf("%-8s %-10s %7s %-10s %-7s %s %7s %7s %8s%s\n", "TIME(s)", "COMM", "PID",
		       "CGROUP", "DISK", "T", "BYTES", "QUE(us)", "DEV(us)",
		       ctx->wide ? "       SECTOR" : "");
	if (optind < argc) {
		child = spawn(argv + optind);
		if (child < 0) {
			log_err("%s: cannot run: %s", argv[optind], strerror(-child));
			ret = 1;
			goto out_close;
		}
	}
	while (!meter_cli_stop) {
		if (child > 0 && waitpid(child, &ws, WNOHANG) == child) {
			child = 0;
			status = meter_cli_exit_status(ws);
			/* Drain what the command's I/O left in the buffer, then stop. */
			meter_trace_poll(m, 0, on_event, ctx);
			break;
		}
		n = meter_trace_poll(m, 100, on_event, ctx);
		if (n < 0 && n != -EINTR) {
			log_err("reading trace events failed: %s", strerror(-n));
			ret = 1;
			break;
		}
		if (ctx->max && ctx->count >= ctx->max)
			break;
		if (end && meter_now_ns() >= end)
			break;
	}
	lost = meter_trace_lost(m);
	if (lost) {
		log_warn("%llu events lost (trace buffer full); narrow the filters",
			 (unsigned long long)lost);
		if (ctx->json)
			printf("{\"lost\":%llu}\n", (unsigned long long)lost);
	}
	if (status >= 0)
		ret = status;
out_close:
	if (child > 0) {
		kill(child, SIGTERM);
		waitpid(child, NULL, 0);
	}
	meter_close(m);
out_free:
	free(ctx);
	return ret;
}
