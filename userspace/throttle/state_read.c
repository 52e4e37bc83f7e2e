// SPDX-License-Identifier: GPL-2.0
/*
 * The throttle's state file into plain structs, with json-c: the file is
 * another process's output, so every field is type-checked and a missing
 * or mistyped one makes the whole file -EINVAL rather than half-read.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>

#include "throttle/state_read.h"

#define STATE_MAX_BYTES	(4u << 20)
/* A state older than this many intervals belongs to a dead throttle. */
#define STALE_INTERVALS	3

static int get(struct json_object *o, const char *key, enum json_type type,
	       struct json_object **out)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return -EINVAL;
	/* json-c gives whole numbers as int even where a double is meant */
	if (type == json_type_double && json_object_is_type(v, json_type_int)) {
		*out = v;
		return 0;
	}
	if (!json_object_is_type(v, type))
		return -EINVAL;
	*out = v;
	return 0;
}

static int get_u64(struct json_object *o, const char *key, uint64_t *out)
{
	struct json_object *v;
	int64_t i;

	if (get(o, key, json_type_int, &v))
		return -EINVAL;
	/* the writer prints u64 that never exceed INT64_MAX in practice */
	i = json_object_get_int64(v);
	if (i < 0)
		return -EINVAL;
	*out = (uint64_t)i;
	return 0;
}

static int get_str(struct json_object *o, const char *key, char *buf, size_t size)
{
	struct json_object *v;

	if (get(o, key, json_type_string, &v))
		return -EINVAL;
	snprintf(buf, size, "%s", json_object_get_string(v));
	return 0;
}

static int get_bool(struct json_object *o, const char *key, bool *out)
{
	struct json_object *v;

	if (get(o, key, json_type_boolean, &v))
		return -EINVAL;
	*out = json_object_get_boolean(v);
	return 0;
}

static int parse_class(struct json_object *o, struct tstate_class *c)
{
	char by[16];
	uint64_t id;

	if (!json_object_is_type(o, json_type_object) ||
	    get_str(o, "name", c->name, sizeof(c->name)) ||
	    get_u64(o, "class_id", &id) || id > 0xffff ||
	    get_str(o, "cgroup", c->cgroup, sizeof(c->cgroup)) ||
	    get_u64(o, "shares", &c->shares) ||
	    get_bool(o, "dynamic", &c->dynamic) ||
	    get_u64(o, "allow_iops", &c->allow_iops) ||
	    get_u64(o, "riops", &c->riops) || get_u64(o, "wiops", &c->wiops) ||
	    get_u64(o, "rbps", &c->rbps) || get_u64(o, "wbps", &c->wbps))
		return -EINVAL;
	c->class_id = id;
	/* absent (an older throttle): the server may hold it, as before */
	c->server = get_str(o, "enforced_by", by, sizeof(by)) || strcmp(by, "kernel");
	return 0;
}

static int parse_disk(struct json_object *o, struct tstate_disk *d)
{
	struct json_object *arr;
	char dev[32], state[16], by[16], mode[16], tail;
	size_t i, n;
	int err;

	if (!json_object_is_type(o, json_type_object) ||
	    get_str(o, "disk", d->name, sizeof(d->name)) ||
	    get_str(o, "dev", dev, sizeof(dev)) ||
	    sscanf(dev, "%u:%u%c", &d->major, &d->minor, &tail) != 2 ||
	    get_str(o, "state", state, sizeof(state)) ||
	    get_u64(o, "latency_ns", &d->latency_ns) ||
	    get_u64(o, "threshold_ns", &d->threshold_ns) ||
	    get_str(o, "threshold_mode", d->threshold_mode, sizeof(d->threshold_mode)) ||
	    get_u64(o, "peak_iops", &d->peak_iops) ||
	    get(o, "classes", json_type_array, &arr))
		return -EINVAL;
	/* absent (an older throttle): io.max, as then */
	d->server = !get_str(o, "enforced_by", by, sizeof(by)) && !strcmp(by, "server");
	/* absent (an older throttle): holding or calm */
	d->steering = !get_str(o, "mode", mode, sizeof(mode)) && !strcmp(mode, "steering");
	if (!strcmp(state, "congested"))
		d->congested = true;
	else if (strcmp(state, "calm"))
		return -EINVAL;
	n = json_object_array_length(arr);
	if (!n)
		return 0;
	d->cls = calloc(n, sizeof(*d->cls));
	if (!d->cls)
		return -ENOMEM;
	d->nr_cls = n;
	for (i = 0; i < n; i++) {
		err = parse_class(json_object_array_get_idx(arr, i), &d->cls[i]);
		if (err)
			return err;
	}
	return 0;
}

static int parse_root(struct json_object *root, struct tstate *st)
{
	struct json_object *v, *arr;
	size_t i, n;
	int err;

	if (!json_object_is_type(root, json_type_object) ||
	    get(root, "time", json_type_int, &v))
		return -EINVAL;
	st->time = json_object_get_int64(v);
	if (get(root, "pid", json_type_int, &v))
		return -EINVAL;
	st->pid = json_object_get_int(v);
	if (get_bool(root, "running", &st->running) ||
	    get(root, "interval_s", json_type_double, &v))
		return -EINVAL;
	st->interval_s = json_object_get_double(v);
	if (!(st->interval_s > 0) || st->pid <= 0 ||
	    get(root, "disks", json_type_array, &arr))
		return -EINVAL;
	n = json_object_array_length(arr);
	if (!n)
		return 0;
	st->disks = calloc(n, sizeof(*st->disks));
	if (!st->disks)
		return -ENOMEM;
	st->nr_disks = n;
	for (i = 0; i < n; i++) {
		err = parse_disk(json_object_array_get_idx(arr, i), &st->disks[i]);
		if (err)
			return err;
	}
	return 0;
}

int tstate_parse(const char *text, size_t len, struct tstate *st)
{
	struct json_tokener *tok;
	struct json_object *root;
	size_t end;
	int err;

	memset(st, 0, sizeof(*st));
	if (len > STATE_MAX_BYTES)
		return -EINVAL;
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	root = json_tokener_parse_ex(tok, text, (int)len);
	/* a truncated file leaves the tokener wanting more: not a state */
	if (!root || json_tokener_get_error(tok) != json_tokener_success) {
		err = -EINVAL;
		goto out_root;
	}
	for (end = json_tokener_get_parse_end(tok); end < len; end++)
		if (!strchr(" \t\r\n", text[end]) || !text[end]) {
			err = -EINVAL;
			goto out_root;
		}
	err = parse_root(root, st);
	if (err)
		tstate_free(st);
out_root:
	json_object_put(root);
	json_tokener_free(tok);
	return err;
}

int tstate_load(const char *path, struct tstate *st)
{
	char *buf;
	size_t len;
	FILE *f;
	int err = 0;

	memset(st, 0, sizeof(*st));
	f = fopen(path, "re");
	if (!f)
		return -errno;
	buf = malloc(STATE_MAX_BYTES + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out_file;
	}
	len = fread(buf, 1, STATE_MAX_BYTES + 1, f);
	if (ferror(f))
		err = -EIO;
	else
		err = tstate_parse(buf, len, st);
	free(buf);
out_file:
	fclose(f);
	return err;
}

static bool pid_alive(int pid)
{
	return !kill(pid, 0) || errno == EPERM;
}

bool tstate_fresh(const struct tstate *st, int64_t now)
{
	if (!st->running || !pid_alive(st->pid))
		return false;
	/* whole seconds on both sides: allow one second of rounding */
	return now - st->time <= (int64_t)(STALE_INTERVALS * st->interval_s) + 1;
}

int tstate_load_fresh(const char *path, struct tstate *st)
{
	int err = tstate_load(path, st);

	if (err)
		return err;
	if (!tstate_fresh(st, time(NULL))) {
		tstate_free(st);
		return -ESTALE;
	}
	return 0;
}

const struct tstate_disk *tstate_find(const struct tstate *st, unsigned int major,
				      unsigned int minor)
{
	size_t i;

	for (i = 0; st && i < st->nr_disks; i++)
		if (st->disks[i].major == major && st->disks[i].minor == minor)
			return &st->disks[i];
	return NULL;
}

void tstate_free(struct tstate *st)
{
	size_t i;

	if (!st)
		return;
	for (i = 0; i < st->nr_disks; i++)
		free(st->disks[i].cls);
	free(st->disks);
	st->disks = NULL;
	st->nr_disks = 0;
}
