/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ublk_class.h - the class of each ublk request, as the ublk_class BPF
 * program recorded it (bpf/ublk_class.bpf.c), for the server's per-class
 * filters. The program and its map are pinned under SLUICE_PIN_DIR and
 * shared by every server; the server maps the array read-only and reads a
 * request's class with one load. Returns 0 or -errno; never prints.
 */
#ifndef SLUICE_LOADER_UBLK_CLASS_H
#define SLUICE_LOADER_UBLK_CLASS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf/sluice.h"

struct ublk_class_map {
	const volatile struct sluice_uclass_slots *slots;
	size_t len;		/* bytes mapped */
};

/*
 * Load and attach the program unless its link is pinned, pinning the link
 * and the map so they outlive the server. *loaded says whether it was
 * loaded now. Needs the policy map (created empty if absent).
 */
int ublk_class_ensure(bool *loaded);

/* Map the pinned class array read-only into @m. */
int ublk_class_map_open(struct ublk_class_map *m);
/* Unmap; takes a never-opened (zeroed) map. */
void ublk_class_map_close(struct ublk_class_map *m);

/* The class recorded for (dev_id, queue, tag); SLUICE_CLASS_DEFAULT out of range. */
static inline unsigned int ublk_class_get(const struct ublk_class_map *m, unsigned int dev_id,
					  unsigned int queue, unsigned int tag)
{
	if (!m->slots || dev_id >= SLUICE_UCLASS_DEVS || queue >= SLUICE_UCLASS_QUEUES ||
	    tag >= SLUICE_UCLASS_DEPTH)
		return SLUICE_CLASS_DEFAULT;
	return m->slots[dev_id * SLUICE_UCLASS_QUEUES + queue].class_id[tag];
}

#endif /* SLUICE_LOADER_UBLK_CLASS_H */
