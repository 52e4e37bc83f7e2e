// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader/policy_maps.h"
#include "loader/ublk_class.h"
#include "ublk_class.skel.h"

#define UCLASS_MAP_BYTES \
	((size_t)SLUICE_UCLASS_DEVS * SLUICE_UCLASS_QUEUES * sizeof(struct sluice_uclass_slots))

static void pin_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", SLUICE_PIN_DIR, name);
}

/* A map pinned by an earlier load whose link is gone is kept: servers may have it mapped. */
static int reuse_pinned_map(struct ublk_class_bpf *skel)
{
	char p[256];
	int fd, err;

	pin_path(p, sizeof(p), SLUICE_MAP_UCLASS);
	fd = bpf_obj_get(p);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	err = bpf_map__reuse_fd(skel->maps.ublk_class, fd);
	close(fd);
	return err;
}

static int ensure_once(bool *loaded)
{
	struct ublk_class_bpf *skel;
	char p[256];
	int err;

	*loaded = false;
	if (policy_maps_pinned(SLUICE_LINK_UCLASS))
		return 0;
	err = policy_maps_prepare();
	if (err)
		return err;
	skel = ublk_class_bpf__open();
	if (!skel)
		return -errno;
	err = policy_maps_reuse(skel->obj);
	if (!err)
		err = reuse_pinned_map(skel);
	if (!err)
		err = ublk_class_bpf__load(skel);
	if (!err)
		err = ublk_class_bpf__attach(skel);
	if (err)
		goto out_destroy;
	pin_path(p, sizeof(p), SLUICE_MAP_UCLASS);
	if (!policy_maps_pinned(SLUICE_MAP_UCLASS)) {
		err = bpf_map__pin(skel->maps.ublk_class, p);
		if (err)
			goto out_destroy;
	}
	pin_path(p, sizeof(p), SLUICE_LINK_UCLASS);
	err = bpf_link__pin(skel->links.ublk_class_issue, p);
	/* another server pinned its link first: that one serves us too */
	if (err == -EEXIST)
		err = 0;
	else if (!err)
		*loaded = true;
out_destroy:
	ublk_class_bpf__destroy(skel);
	return err;
}

int ublk_class_ensure(bool *loaded)
{
	int err = ensure_once(loaded);

	/* two servers started at once: the other pinned its map first; use that one */
	if (err == -EEXIST)
		err = ensure_once(loaded);
	return err;
}

int ublk_class_map_open(struct ublk_class_map *m)
{
	char p[256];
	void *addr;
	int fd, err = 0;

	memset(m, 0, sizeof(*m));
	pin_path(p, sizeof(p), SLUICE_MAP_UCLASS);
	fd = bpf_obj_get(p);
	if (fd < 0)
		return -errno;
	addr = mmap(NULL, UCLASS_MAP_BYTES, PROT_READ, MAP_SHARED, fd, 0);
	if (addr == MAP_FAILED)
		err = -errno;
	else {
		m->slots = addr;
		m->len = UCLASS_MAP_BYTES;
	}
	close(fd);
	return err;
}

void ublk_class_map_close(struct ublk_class_map *m)
{
	if (!m || !m->slots)
		return;
	munmap((void *)m->slots, m->len);
	m->slots = NULL;
	m->len = 0;
}
