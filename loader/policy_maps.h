/* SPDX-License-Identifier: GPL-2.0 */
/*
 * policy_maps.h - the compiled policy in the kernel: the pinned outer map
 * SLUICE_PIN_DIR/policy_gen, one inner hash map per generation, and the
 * programs that read it. Returns 0 or -errno throughout; never prints.
 */
#ifndef SLUICE_POLICY_MAPS_H
#define SLUICE_POLICY_MAPS_H

#include <stdbool.h>
#include <stdint.h>

#include "loader/policy_compile.h"

struct bpf_object;

/* Mount bpffs on /sys/fs/bpf if needed and create SLUICE_PIN_DIR. */
int policy_maps_prepare(void);

/*
 * Give @obj the pinned policy maps with bpf_map__reuse_fd, so a skeleton
 * loaded now shares them: policy_gen (created empty and pinned if absent,
 * so a later apply reaches this program too) and probe_counts (only if
 * pinned). Call between __open() and __load(). 0 or -errno.
 */
int policy_maps_reuse(struct bpf_object *obj);

/*
 * Empty the policy slot: every loaded program falls back to
 * SLUICE_CLASS_DEFAULT at its next request. 0 also when nothing is pinned.
 */
int policy_maps_clear(void);

/* The pinned outer map, created and pinned if @create and absent. */
int policy_maps_outer_fd(bool create, int *fd);

/*
 * A new inner map holding @img; the caller swaps it in with
 * policy_maps_swap() and closes it. On failure nothing is changed.
 */
int policy_maps_build(const struct policy_image *img, int *inner_fd);

/*
 * Put @inner_fd in the outer slot. If @old_fd is non-NULL it receives an
 * fd of the generation that was in force (-1 if none) so the caller can
 * roll back.
 */
int policy_maps_swap(int outer_fd, int inner_fd, int *old_fd);

/*
 * The generation in force, read back from the kernel into @img (entries
 * only). -ENOENT when no policy is applied.
 */
int policy_maps_read(struct policy_image *img);

/* Generation number in force, 0 if none. */
uint64_t policy_maps_generation(void);

/* Is something pinned at SLUICE_PIN_DIR/@name? */
bool policy_maps_pinned(const char *name);

/* Unpin a name under SLUICE_PIN_DIR; 0 if it was not there. */
int policy_maps_unpin(const char *name);

/*
 * Load and attach the classify probe unless its link is pinned, pinning
 * its link and counters so they outlive the CLI. *loaded says whether it
 * was loaded now.
 */
int policy_probe_ensure(bool *loaded);

/* Sum of the probe's per-CPU counter for (dev, class), or 0. */
int policy_probe_count(unsigned int dev, unsigned int class_id, uint64_t *count);

struct policy_probe_row {
	unsigned int dev;
	unsigned int class_id;
	uint64_t count;		/* summed over CPUs */
};

/* Every probe counter, sorted by dev then class; free *rows with free(). */
int policy_probe_read(struct policy_probe_row **rows, size_t *nr);

#endif /* SLUICE_POLICY_MAPS_H */
