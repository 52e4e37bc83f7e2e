// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/sluice.h"
#include "loader/policy_maps.h"
#include "classify_probe.skel.h"

static void pin_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", SLUICE_PIN_DIR, name);
}

bool policy_maps_pinned(const char *name)
{
	char p[256];

	pin_path(p, sizeof(p), name);
	return access(p, F_OK) == 0;
}

int policy_maps_prepare(void)
{
	struct statfs st;

	if (statfs("/sys/fs/bpf", &st) || st.f_type != BPF_FS_MAGIC) {
		if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700"))
			return -errno;
	}
	if (mkdir(SLUICE_PIN_DIR, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

static int get_pinned(const char *name, int *fd)
{
	char p[256];

	pin_path(p, sizeof(p), name);
	*fd = bpf_obj_get(p);
	return *fd < 0 ? -errno : 0;
}

static int inner_create(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);
	int fd;

	fd = bpf_map_create(BPF_MAP_TYPE_HASH, "sluice_policy", sizeof(struct sluice_policy_key),
			    sizeof(union sluice_policy_val), SLUICE_POLICY_MAX_ENTRIES, &opts);
	return fd < 0 ? -errno : fd;
}

int policy_maps_outer_fd(bool create, int *fd)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts);
	char p[256];
	int err, tmpl;

	err = get_pinned(SLUICE_MAP_POLICY, fd);
	if (err != -ENOENT || !create)
		return err;
	err = policy_maps_prepare();
	if (err)
		return err;
	tmpl = inner_create();
	if (tmpl < 0)
		return tmpl;
	opts.inner_map_fd = tmpl;
	*fd = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, SLUICE_MAP_POLICY, sizeof(__u32),
			     sizeof(__u32), 1, &opts);
	err = *fd < 0 ? -errno : 0;
	close(tmpl);
	if (err)
		return err;
	pin_path(p, sizeof(p), SLUICE_MAP_POLICY);
	if (bpf_obj_pin(*fd, p)) {
		err = -errno;
		close(*fd);
		*fd = -1;
	}
	return err;
}

int policy_maps_reuse(struct bpf_object *obj)
{
	struct bpf_map *map;
	int fd, err;

	/*
	 * The policy map is created and pinned here when absent: a program
	 * loaded before any apply must share the map a later apply fills.
	 */
	map = bpf_object__find_map_by_name(obj, SLUICE_MAP_POLICY);
	if (map) {
		err = policy_maps_outer_fd(true, &fd);
		if (err)
			return err;
		err = bpf_map__reuse_fd(map, fd);
		close(fd);	/* reuse_fd dups it */
		if (err)
			return err;
	}
	map = bpf_object__find_map_by_name(obj, SLUICE_MAP_PROBE);
	if (!map)
		return 0;
	err = get_pinned(SLUICE_MAP_PROBE, &fd);
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	err = bpf_map__reuse_fd(map, fd);
	close(fd);
	return err;
}

int policy_maps_clear(void)
{
	__u32 zero = 0;
	int fd, err;

	err = get_pinned(SLUICE_MAP_POLICY, &fd);
	if (err)
		return err == -ENOENT ? 0 : err;
	if (bpf_map_delete_elem(fd, &zero) && errno != ENOENT)
		err = -errno;
	close(fd);
	return err;
}

int policy_maps_build(const struct policy_image *img, int *inner_fd)
{
	size_t i;
	int fd, err;

	fd = inner_create();
	if (fd < 0)
		return fd;
	for (i = 0; i < img->nr_ents; i++) {
		if (bpf_map_update_elem(fd, &img->ents[i].key, &img->ents[i].val, BPF_ANY)) {
			err = -errno;
			close(fd);
			return err;
		}
	}
	*inner_fd = fd;
	return 0;
}

/* The inner map in the slot, as an fd; -ENOENT if the slot is empty. */
static int current_inner(int outer_fd, int *fd)
{
	__u32 zero = 0, id;

	if (bpf_map_lookup_elem(outer_fd, &zero, &id))
		return -errno;
	*fd = bpf_map_get_fd_by_id(id);
	return *fd < 0 ? -errno : 0;
}

int policy_maps_swap(int outer_fd, int inner_fd, int *old_fd)
{
	__u32 zero = 0;
	int err;

	if (old_fd) {
		err = current_inner(outer_fd, old_fd);
		if (err == -ENOENT)
			*old_fd = -1;
		else if (err)
			return err;
	}
	if (bpf_map_update_elem(outer_fd, &zero, &inner_fd, BPF_ANY)) {
		err = -errno;
		if (old_fd && *old_fd >= 0) {
			close(*old_fd);
			*old_fd = -1;
		}
		return err;
	}
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct policy_entry *x = a, *y = b;

	if (x->key.kind != y->key.kind)
		return x->key.kind < y->key.kind ? -1 : 1;
	return x->key.id < y->key.id ? -1 : x->key.id > y->key.id;
}

int policy_maps_read(struct policy_image *img)
{
	struct sluice_policy_key key, next, *prev = NULL;
	struct policy_entry *e;
	size_t cap = 0;
	int outer, fd, err;

	memset(img, 0, sizeof(*img));
	err = get_pinned(SLUICE_MAP_POLICY, &outer);
	if (err)
		return err;
	err = current_inner(outer, &fd);
	close(outer);
	if (err)
		return err;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		if (img->nr_ents == cap) {
			cap = cap ? cap * 2 : 64;
			e = realloc(img->ents, cap * sizeof(*e));
			if (!e) {
				err = -ENOMEM;
				goto out_close;
			}
			img->ents = e;
		}
		e = &img->ents[img->nr_ents];
		e->key = next;
		if (bpf_map_lookup_elem(fd, &next, &e->val))
			continue;	/* deleted meanwhile: generations are never edited, so unlikely */
		img->nr_ents++;
		key = next;
		prev = &key;
	}
	qsort(img->ents, img->nr_ents, sizeof(*img->ents), entry_cmp);
	err = 0;
out_close:
	close(fd);
	if (err)
		policy_image_free(img);
	return err;
}

uint64_t policy_maps_generation(void)
{
	struct policy_image img;
	uint64_t gen = 0;
	size_t i;

	if (policy_maps_read(&img))
		return 0;
	for (i = 0; i < img.nr_ents; i++)
		if (img.ents[i].key.kind == SLUICE_PK_META)
			gen = img.ents[i].val.meta.generation;
	policy_image_free(&img);
	return gen;
}

int policy_maps_unpin(const char *name)
{
	char p[256];

	pin_path(p, sizeof(p), name);
	if (unlink(p) && errno != ENOENT)
		return -errno;
	return 0;
}

int policy_probe_ensure(bool *loaded)
{
	struct classify_probe_bpf *skel;
	char p[256];
	int err;

	*loaded = false;
	if (policy_maps_pinned(SLUICE_LINK_PROBE))
		return 0;
	err = policy_maps_prepare();
	if (err)
		return err;
	skel = classify_probe_bpf__open();
	if (!skel)
		return -errno;
	err = policy_maps_reuse(skel->obj);
	if (err)
		goto out_destroy;
	err = classify_probe_bpf__load(skel);
	if (err)
		goto out_destroy;
	err = classify_probe_bpf__attach(skel);
	if (err)
		goto out_destroy;
	pin_path(p, sizeof(p), SLUICE_MAP_PROBE);
	if (!policy_maps_pinned(SLUICE_MAP_PROBE)) {
		err = bpf_map__pin(skel->maps.probe_counts, p);
		if (err)
			goto out_destroy;
	}
	pin_path(p, sizeof(p), SLUICE_LINK_PROBE);
	err = bpf_link__pin(skel->links.classify_probe_issue, p);
	if (err)
		goto out_destroy;
	*loaded = true;
out_destroy:
	classify_probe_bpf__destroy(skel);
	return err;
}

int policy_probe_count(unsigned int dev, unsigned int class_id, uint64_t *count)
{
	struct sluice_probe_key key = { .dev = dev, .class_id = class_id };
	int ncpu = libbpf_num_possible_cpus(), fd, err, i;
	uint64_t *vals;

	*count = 0;
	if (ncpu < 0)
		return ncpu;
	err = get_pinned(SLUICE_MAP_PROBE, &fd);
	if (err)
		return err;
	vals = calloc((size_t)ncpu, sizeof(*vals));
	if (!vals) {
		close(fd);
		return -ENOMEM;
	}
	if (!bpf_map_lookup_elem(fd, &key, vals))
		for (i = 0; i < ncpu; i++)
			*count += vals[i];
	free(vals);
	close(fd);
	return 0;
}

static int row_cmp(const void *a, const void *b)
{
	const struct policy_probe_row *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return x->class_id < y->class_id ? -1 : x->class_id > y->class_id;
}

int policy_probe_read(struct policy_probe_row **rows, size_t *nr)
{
	struct sluice_probe_key key, next, *prev = NULL;
	int ncpu = libbpf_num_possible_cpus(), fd, err = 0, i;
	struct policy_probe_row *v;
	uint64_t *vals;

	*rows = NULL;
	*nr = 0;
	if (ncpu < 0)
		return ncpu;
	err = get_pinned(SLUICE_MAP_PROBE, &fd);
	if (err)
		return err;
	vals = calloc((size_t)ncpu, sizeof(*vals));
	if (!vals) {
		close(fd);
		return -ENOMEM;
	}
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, vals))
			continue;
		v = realloc(*rows, (*nr + 1) * sizeof(*v));
		if (!v) {
			err = -ENOMEM;
			break;
		}
		*rows = v;
		v = &(*rows)[(*nr)++];
		v->dev = key.dev;
		v->class_id = key.class_id;
		v->count = 0;
		for (i = 0; i < ncpu; i++)
			v->count += vals[i];
	}
	free(vals);
	close(fd);
	if (err) {
		free(*rows);
		*rows = NULL;
		*nr = 0;
		return err;
	}
	if (*nr)
		qsort(*rows, *nr, sizeof(**rows), row_cmp);
	return 0;
}
