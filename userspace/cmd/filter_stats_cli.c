// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "cmd/filter_stats_cli.h"
#include "lib/units.h"

void filter_stats_cli_json(struct json_writer *w, const struct filter_stats *fs)
{
	unsigned int i, k;

	if (!fs) {
		json_null(w);
		return;
	}
	json_obj_open(w);
	json_kv_u64(w, "time_ns", fs->time_ns);
	json_key(w, "filters");
	json_arr_open(w);
	for (i = 0; i < fs->n; i++) {
		const struct filter_stats_filter *f = &fs->f[i];

		json_obj_open(w);
		json_kv_u64(w, "index", f->index);
		json_kv_str(w, "name", f->name);
		json_key(w, "counters");
		json_obj_open(w);
		for (k = 0; k < f->n; k++)
			json_kv_u64(w, f->c[k].name, f->c[k].value);
		json_obj_close(w);
		json_obj_close(w);
	}
	json_arr_close(w);
	json_obj_close(w);
}

void filter_stats_cli_line(FILE *out, const struct filter_stats *fs)
{
	char line[256], v[16];
	size_t off = 0;
	unsigned int i, k;

	off += snprintf(line, sizeof(line), "  filters:");
	for (i = 0; i < fs->n && off < sizeof(line); i++) {
		const struct filter_stats_filter *f = &fs->f[i];

		off += snprintf(line + off, sizeof(line) - off, "%s %s", i ? ";" : "", f->name);
		for (k = 0; k < f->n && off < sizeof(line); k++) {
			if (!f->c[k].value)
				continue;
			/* a byte count reads better in KiB, MiB, ... */
			if (strstr(f->c[k].name, "bytes"))
				units_fmt_bytes(f->c[k].value, v, sizeof(v));
			else
				units_fmt_count(f->c[k].value, v, sizeof(v));
			off += snprintf(line + off, sizeof(line) - off, " %s %s", f->c[k].name, v);
		}
	}
	if (!fs->n)
		snprintf(line + off, sizeof(line) - off, " none (passthrough)");
	fprintf(out, "%.79s\n", line);
}

/* The first filter that has counter @name, its value in @v. */
static bool counter(const struct filter_stats *fs, const char *name, uint64_t *v)
{
	const struct filter_stats_counter *c;
	unsigned int i;

	for (i = 0; i < fs->n; i++) {
		c = filter_stats_counter(&fs->f[i], name);
		if (c) {
			*v = c->value;
			return true;
		}
	}
	return false;
}

unsigned int filter_stats_alerts(const struct filter_stats *fs)
{
	uint64_t state, over, err = 0;
	unsigned int a = 0;

	/*
	 * replica_state: 0 down, 1 streaming, 2 degraded, 3 failed
	 * (replica/sender.h); down is news once a connect failed, not while
	 * the first one is under way.
	 */
	counter(fs, "replica_last_errno", &err);
	if (counter(fs, "replica_state", &state)) {
		if (state == 0 && err)
			a |= FILTER_ALERT_REPLICA_DOWN;
		else if (state == 2)
			a |= FILTER_ALERT_REPLICA_DEGRADED;
		else if (state == 3)
			a |= FILTER_ALERT_REPLICA_FAILED;
	}
	if (counter(fs, "replica_rpo_exceeded", &over) && over)
		a |= FILTER_ALERT_RPO;
	if (counter(fs, "replica_fenced", &over) && over)
		a |= FILTER_ALERT_REPLICA_FENCED;
	return a;
}

void filter_stats_alert_text(const struct filter_stats *fs, unsigned int alert, bool raised,
			     char *buf, size_t len)
{
	uint64_t lag = 0, rpo = 0, err = 0, failing = 0, acked = 0, lease = 0, state = 0;

	counter(fs, "replica_lag_ms", &lag);
	counter(fs, "replica_rpo_ms", &rpo);
	counter(fs, "replica_last_errno", &err);
	counter(fs, "replica_writes_failing", &failing);
	counter(fs, "replica_acked_seq", &acked);
	counter(fs, "replica_lease_ms", &lease);
	counter(fs, "replica_state", &state);
	switch (alert) {
	case FILTER_ALERT_RPO:
		if (raised)
			snprintf(buf, len, "replica %.1fs behind, over the RPO target of %.1fs",
				 lag / 1000.0, rpo / 1000.0);
		else
			snprintf(buf, len, "replica back within the RPO target of %.1fs",
				 rpo / 1000.0);
		break;
	case FILTER_ALERT_REPLICA_DOWN:
		if (raised)
			snprintf(buf, len, "replica not connected (%s); retrying, writes pile up in "
				 "the journal", strerror((int)err));
		else
			snprintf(buf, len, "replica connected, acknowledged up to seq %llu",
				 (unsigned long long)acked);
		break;
	case FILTER_ALERT_REPLICA_DEGRADED:
		if (raised)
			snprintf(buf, len, "sync replica unreachable past its timeout: %s",
				 failing ? "writes fail with EIO (when_down: fail)" :
				 "writes go on as async (when_down: async)");
		else
			snprintf(buf, len, "sync replication no longer degraded");
		break;
	case FILTER_ALERT_REPLICA_FAILED:
		/* fenced first by the silence, the fence's own line is not news again */
		if (raised && lease && err == ESTALE)
			snprintf(buf, len, "the replica was promoted: this disk lost the "
				 "failover and stays fenced (writes fail with EIO) until its "
				 "server restarts");
		else if (raised)
			snprintf(buf, len, "the replica refused this disk (%s): no retry until the "
				 "disk's server restarts", err ? strerror((int)err) : "?");
		else
			snprintf(buf, len, "the replica accepts this disk again");
		break;
	case FILTER_ALERT_REPLICA_FENCED:
		if (raised && state == 3 && err == ESTALE)
			snprintf(buf, len, "fenced: the replica was promoted: this disk lost the "
				 "failover; writes fail with EIO (failback: run 'sluice replica' "
				 "on it)");
		else if (raised)
			snprintf(buf, len, "fenced: no word from the replica for %.1fs; it may "
				 "promote itself; writes fail with EIO", lease / 1000.0);
		else
			snprintf(buf, len, "fence lifted: the replica answers again, writes go on");
		break;
	default:
		snprintf(buf, len, "?");
	}
}

void filter_stats_cli_alerts(FILE *f, const struct filter_stats *fs)
{
	unsigned int a = filter_stats_alerts(fs), bit;
	char text[160];

	for (bit = 1; bit & FILTER_ALERTS_ALL; bit <<= 1)
		if (a & bit) {
			filter_stats_alert_text(fs, bit, true, text, sizeof(text));
			fprintf(f, "  ! %s\n", text);
		}
}
