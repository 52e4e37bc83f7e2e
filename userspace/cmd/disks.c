// SPDX-License-Identifier: GPL-2.0
/*
 * sluice disks - the disks 'sluice serve' serves, from their state files
 * and what the ublk driver says about each (GET_DEV_INFO).
 *
 * JSON (--json): an array of {"id", "device", "backing", "size", "queues",
 * "depth", "block_size", "read_only", "policy", "filters": [...],
 * "copy", "copy_why", "batch", "filter_stats", "pid", "server": "running"|"dead",
 * "state"}. copy is the copy mode (ublk/copy.h: buffer, user, mmap, zero)
 * and copy_why its reason, both "" for a disk of an older server; batch
 * whether its queues use the driver's batched commands (UBLK_F_BATCH_IO).
 * filter_stats is what the running server last published (about every
 * second): {"time_ns", "filters": [{"index", "name", "counters": {...}}]},
 * null when its server is gone. state is the driver's: "live",
 * "quiesced" (server dead, recoverable with 'serve --recover ID'),
 * "fail_io", "dead", or "gone" when the device no longer exists, "unknown"
 * without the driver.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmd/args.h"
#include "cmd/cmds.h"
#include "cmd/filter_stats_cli.h"
#include "crypt/describe.h"
#include "lib/json.h"
#include "lib/log.h"
#include "ublk/ctrl.h"
#include "lib/disk_state.h"

#define DISKS_MAX	1024

struct disk_row {
	struct disk_state st;
	const char *state;
	bool running;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sluice disks [--json]\n"
		"\n"
		"List the disks served by 'sluice serve': id, device, size, queues, depth,\n"
		"policy and filters, backing, and state (the driver's view: live, quiesced\n"
		"when the server died and 'sluice serve --recover ID' can take over, gone\n"
		"when the device was deleted behind sluice's back). Below each disk: how\n"
		"its data moves (copy: zero-copy, buffer, user or mmap) and why, and how\n"
		"its queues talk to the driver (commands: batched on 7.0+, or per tag).\n"
		"\n"
		"Options:\n"
		"  --json       a JSON array, one object per disk, with the counters of\n"
		"               its filters (filter_stats) as its live server published them\n"
		"  -h, --help   this text\n"
		"\n"
		"Examples:\n"
		"  sluice disks\n"
		"  sluice disks --json | jq -r '.[] | select(.state == \"quiesced\") | .id'\n"
		"  sluice disks --json | jq '.[].filter_stats.filters[]?.counters'\n");
}

static void human_size(uint64_t v, char *buf, size_t len)
{
	static const char units[] = "BKMGTP";
	double d = v;
	int i = 0;

	while (d >= 1024 && i < 5) {
		d /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%" PRIu64 "B", v);
	else
		snprintf(buf, len, "%.1f%c", d, units[i]);
}

/* The crypt filter of the disk's spec described, or -ENOENT when it has none. */
static int disk_crypt(const struct disk_state *s, struct crypt_desc *d)
{
	char buf[STATE_FILTERS_MAX], *tok, *save;

	snprintf(buf, sizeof(buf), "%s", s->filters);
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
		if (!strncmp(tok, "crypt:", 6))
			return crypt_describe(tok + 6, s->backing, d);
	return -ENOENT;
}

/* The state file's copy mode as people read it: "zero" is zero-copy. */
static const char *copy_label(const char *copy)
{
	return strcmp(copy, "zero") ? copy : "zero-copy";
}

static void print_text(const struct disk_row *rows, int n)
{
	char size[16], pol[32];
	struct crypt_desc cd;
	const char *b;
	int i, room;

	printf("%-4s %-12s %7s %2s %5s %-14s %-9s %s\n", "ID", "DEVICE", "SIZE", "Q", "DEPTH",
	       "POLICY", "STATE", "BACKING");
	for (i = 0; i < n; i++) {
		const struct disk_state *s = &rows[i].st;
		char dev[24];

		snprintf(dev, sizeof(dev), "/dev/ublkb%u", s->id);
		human_size(s->size, size, sizeof(size));
		snprintf(pol, sizeof(pol), "%s%s", s->policy, s->read_only ? ",ro" : "");
		b = s->backing;
		/* 80 columns: keep the end of a long backing path, it is the telling part. */
		room = 80 - 60;
		if ((int)strlen(b) > room)
			b += strlen(b) - room + 3;
		printf("%-4u %-12s %7s %2u %5u %-14.14s %-9s %s%s\n", s->id, dev, size, s->queues,
		       s->depth, pol, rows[i].state, b == s->backing ? "" : "...", b);
		if (!disk_crypt(s, &cd))
			printf("     crypt: %s %s, %u-bit key, %u-byte sectors, %s\n", cd.format,
			       cd.cipher, cd.key_bits, cd.sector_size, cd.source);
		if (s->copy[0])
			printf("     copy: %s (%s)\n     commands: %s\n", copy_label(s->copy),
			       s->copy_why, s->flags & UBLK_F_BATCH_IO ? "batched" : "per tag");
	}
}

/* The disk's live filter counters, or NULL (no file, server gone). */
static const struct filter_stats *live_stats(const char *dir, uint32_t id)
{
	static struct filter_stats fs;
	int err = filter_stats_read(dir, id, &fs);

	if (err == -EINVAL)
		log_warn("%s/ublk%u.stats: malformed; its filter counters are not shown", dir, id);
	return err ? NULL : &fs;
}

static void print_json(const char *dir, const struct disk_row *rows, int n)
{
	struct json_writer w;
	char buf[STATE_FILTERS_MAX], *tok, *save;
	struct crypt_desc cd;
	int i;

	json_init(&w, stdout);
	json_arr_open(&w);
	for (i = 0; i < n; i++) {
		const struct disk_state *s = &rows[i].st;
		char dev[24];

		snprintf(dev, sizeof(dev), "/dev/ublkb%u", s->id);
		json_obj_open(&w);
		json_kv_u64(&w, "id", s->id);
		json_kv_str(&w, "device", dev);
		json_kv_str(&w, "backing", s->backing);
		json_kv_u64(&w, "size", s->size);
		json_kv_u64(&w, "queues", s->queues);
		json_kv_u64(&w, "depth", s->depth);
		json_kv_u64(&w, "block_size", s->block_size);
		json_kv_bool(&w, "read_only", s->read_only);
		json_kv_str(&w, "policy", s->policy);
		json_key(&w, "filters");
		json_arr_open(&w);
		snprintf(buf, sizeof(buf), "%s", s->filters);
		for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
			json_str(&w, tok);
		json_arr_close(&w);
		json_key(&w, "encryption");
		if (disk_crypt(s, &cd)) {
			json_null(&w);
		} else {
			json_obj_open(&w);
			json_kv_str(&w, "format", cd.format);
			json_kv_str(&w, "cipher", cd.cipher);
			json_kv_u64(&w, "key_size", cd.key_bits);
			json_kv_u64(&w, "sector_size", cd.sector_size);
			json_kv_str(&w, "key_source", cd.source);
			json_obj_close(&w);
		}
		json_kv_str(&w, "copy", s->copy);
		json_kv_str(&w, "copy_why", s->copy_why);
		json_kv_bool(&w, "batch", s->flags & UBLK_F_BATCH_IO);
		json_key(&w, "filter_stats");
		filter_stats_cli_json(&w, live_stats(dir, s->id));
		json_kv_i64(&w, "pid", s->pid);
		json_kv_str(&w, "server", rows[i].running ? "running" : "dead");
		json_kv_str(&w, "state", rows[i].state);
		json_obj_close(&w);
	}
	json_arr_close(&w);
	json_end(&w);
}

int cmd_disks(int argc, char **argv)
{
	static uint32_t ids[DISKS_MAX];
	static struct disk_row rows[DISKS_MAX];
	struct ublksrv_ctrl_dev_info info;
	const char *dir = state_dir();
	struct ublk_ctrl *ctrl = NULL;
	bool json = false;
	int n, i, nrows = 0, err;

	err = parse_json_only_argv(argc, argv, "disks", usage, &json);
	if (err <= 0)
		return args_exit_status(err);
	n = state_list(dir, ids, DISKS_MAX);
	if (n < 0) {
		log_err("%s: %s", dir, strerror(-n));
		return 1;
	}
	if (n)
		ublk_ctrl_open(&ctrl);
	for (i = 0; i < n; i++) {
		struct disk_row *r = &rows[nrows];

		err = state_read(dir, ids[i], &r->st);
		if (err) {
			log_warn("%s/ublk%u.state: %s; skipped", dir, ids[i],
				 err == -EINVAL ? "malformed" : strerror(-err));
			continue;
		}
		r->running = state_server_running(r->st.pid);
		if (!ctrl)
			r->state = "unknown";
		else if (ublk_ctrl_get_dev_info(ctrl, ids[i], &info))
			r->state = "gone";
		else
			r->state = ublk_dev_state_name(info.state);
		nrows++;
	}
	ublk_ctrl_close(ctrl);
	if (json)
		print_json(dir, rows, nrows);
	else
		print_text(rows, nrows);
	return 0;
}
