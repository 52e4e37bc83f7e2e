// SPDX-License-Identifier: GPL-2.0
/*
 * state_write.c - see state_write.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "throttle/state_write.h"

void tstate_json_disk(struct json_writer *w, const struct tdaemon_disk *d)
{
	const struct throttle_disk *c = &d->ctl;
	char dev[32];
	unsigned int i;

	snprintf(dev, sizeof(dev), "%u:%u", d->maj, d->min);
	json_obj_open(w);
	json_kv_str(w, "disk", d->name);
	json_kv_str(w, "dev", dev);
	if (d->policy[0])
		json_kv_str(w, "policy", d->policy);
	json_kv_str(w, "enforced_by", d->server ? "server" : "kernel");
	json_kv_str(w, "state", throttle_state_name(c->state));
	json_kv_str(w, "mode", throttle_mode_name(c));
	json_kv_u64(w, "latency_ns", (uint64_t)c->last_lat_ns);
	json_kv_u64(w, "threshold_ns", c->threshold_ns);
	json_kv_str(w, "threshold_mode", c->cfg.mode == THROTTLE_MODE_PEAK ? "peak" : "latency");
	if (c->cfg.mode == THROTTLE_MODE_PEAK)
		json_kv_u64(w, "peak_pct", c->cfg.peak_pct);
	json_kv_u64(w, "peak_iops", (uint64_t)c->peak_iops);
	json_kv_u64(w, "peak_bps", (uint64_t)c->peak_bps);
	json_kv_u64(w, "iops", (uint64_t)c->last_iops);
	json_kv_u64(w, "bps", (uint64_t)c->last_bps);
	json_kv_u64(w, "window_iops", (uint64_t)c->window);
	json_kv_double(w, "elasticity", c->elasticity);
	json_kv_bool(w, "changed", c->changed);
	json_kv_str(w, "reason", c->reason ? c->reason : "");
	json_key(w, "classes");
	json_arr_open(w);
	for (i = 0; i < d->cfg.nr_classes; i++) {
		const struct throttle_allow *a = &c->allow[i];

		json_obj_open(w);
		json_kv_str(w, "name", d->cls[i].name);
		json_kv_u64(w, "class_id", d->cls[i].class_id);
		json_kv_str(w, "enforced_by", d->cls[i].server ? "server" : "kernel");
		json_kv_str(w, "cgroup", d->cls[i].path);
		json_kv_u64(w, "shares", d->cfg.cls[i].shares);
		json_kv_u64(w, "reserve_iops", c->eff[i].reserve_iops);
		json_kv_u64(w, "iops", (uint64_t)c->class_iops[i]);
		if (d->cfg.cls[i].latency_target_ns) {
			json_kv_u64(w, "latency_ns", d->last.cls[i].lat_avg_ns);
			json_kv_u64(w, "latency_target_ns", d->cfg.cls[i].latency_target_ns);
		}
		json_kv_bool(w, "dynamic", a->dynamic);
		json_kv_u64(w, "allow_iops", a->dynamic ? a->total_iops : 0);
		json_kv_u64(w, "riops", a->iops[THROTTLE_READ]);
		json_kv_u64(w, "wiops", a->iops[THROTTLE_WRITE]);
		json_kv_u64(w, "rbps", a->bps[THROTTLE_READ]);
		json_kv_u64(w, "wbps", a->bps[THROTTLE_WRITE]);
		json_obj_close(w);
	}
	json_arr_close(w);
	json_obj_close(w);
}

/*
 * Replaced whole (write_file_atomic): readers never see half. Not synced:
 * it is rewritten every interval under /run, and a state older than three
 * intervals is ignored by every reader (tstate_fresh()), so after a crash
 * or a reboot there is nothing in it worth an fsync per interval.
 */
int tstate_write(const struct tdaemon *o, bool running)
{
	struct json_writer w;
	char *buf = NULL;
	size_t len = 0;
	unsigned int i;
	FILE *f;
	int err;

	f = open_memstream(&buf, &len);
	if (!f)
		return -errno;
	json_init(&w, f);
	json_obj_open(&w);
	json_kv_u64(&w, "version", 1);
	json_kv_i64(&w, "time", (int64_t)time(NULL));
	json_kv_i64(&w, "pid", getpid());
	json_kv_bool(&w, "running", running);
	json_kv_double(&w, "interval_s", o->interval_ns / 1e9);
	json_kv_str(&w, "source", o->src ? o->src->name : "none");
	json_kv_str(&w, "latency", o->lat_kind == SLUICE_LAT_DEVICE ? "device" : "total");
	if (o->policy)
		json_kv_u64(&w, "policy_generation", o->generation);
	json_key(&w, "disks");
	json_arr_open(&w);
	for (i = 0; i < o->nr_disks; i++)
		tstate_json_disk(&w, &o->disks[i]);
	json_arr_close(&w);
	json_obj_close(&w);
	err = json_end(&w);
	if (fclose(f) && !err)
		err = -errno;
	if (!err)
		err = write_file_atomic(o->state_path, buf, len, 0644, 0);
	free(buf);
	return err;
}
