// SPDX-License-Identifier: GPL-2.0
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader/features.h"
#include "loader/ublk_stages.h"
#include "ublk.skel.h"

struct ublk_stages {
	struct ublk_bpf *skel;
	bool kprobe;
	int ncpus;
};

static int attach_usdt(struct bpf_program *prog, struct bpf_link **link, const char *server,
		       const char *name)
{
	*link = bpf_program__attach_usdt(prog, -1, server, "sluice", name, NULL);
	return *link ? 0 : -errno;
}

int ublk_stages_open(struct ublk_stages **out, const char *server)
{
	struct ublk_stages *s;
	struct ublk_bpf *skel;
	int err;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->ncpus = libbpf_num_possible_cpus();
	if (s->ncpus <= 0) {
		err = s->ncpus ?: -EINVAL;
		goto out_free;
	}
	skel = ublk_bpf__open();
	if (!skel) {
		err = -errno;
		goto out_free;
	}
	s->skel = skel;
	/*
	 * ublk_queue_rq is static in ublk_drv; its name is only trusted when
	 * BTF has it. A driver with batched commands (7.0) queues their disks
	 * through ublk_batch_queue_rq and, a plug's list at once,
	 * ublk_batch_queue_rqs: there block_rq_issue, which every path passes,
	 * stands in.
	 */
	s->kprobe = feat_func_in_btf("ublk_drv", "ublk_queue_rq") &&
		    !feat_func_in_btf("ublk_drv", "ublk_batch_queue_rqs");
	bpf_program__set_autoload(skel->progs.ublk_queue_rq_entry, s->kprobe);
	bpf_program__set_autoload(skel->progs.ublk_rq_issue, !s->kprobe);
	err = ublk_bpf__load(skel);
	if (err)
		goto out_destroy;
	if (s->kprobe) {
		skel->links.ublk_queue_rq_entry =
			bpf_program__attach(skel->progs.ublk_queue_rq_entry);
		if (!skel->links.ublk_queue_rq_entry) {
			err = -errno;
			goto out_destroy;
		}
	} else {
		skel->links.ublk_rq_issue = bpf_program__attach(skel->progs.ublk_rq_issue);
		if (!skel->links.ublk_rq_issue) {
			err = -errno;
			goto out_destroy;
		}
	}
	skel->links.ublk_rq_complete = bpf_program__attach(skel->progs.ublk_rq_complete);
	if (!skel->links.ublk_rq_complete) {
		err = -errno;
		goto out_destroy;
	}
	err = attach_usdt(skel->progs.usdt_req_fetched, &skel->links.usdt_req_fetched, server,
			  "req_fetched");
	if (!err)
		err = attach_usdt(skel->progs.usdt_backing_submit,
				  &skel->links.usdt_backing_submit, server, "backing_submit");
	if (!err)
		err = attach_usdt(skel->progs.usdt_backing_complete,
				  &skel->links.usdt_backing_complete, server, "backing_complete");
	if (!err)
		err = attach_usdt(skel->progs.usdt_commit, &skel->links.usdt_commit, server,
				  "commit");
	if (err)
		goto out_destroy;
	*out = s;
	return 0;

out_destroy:
	ublk_bpf__destroy(skel);
out_free:
	free(s);
	return err;
}

void ublk_stages_close(struct ublk_stages *s)
{
	if (!s)
		return;
	ublk_bpf__destroy(s->skel);
	free(s);
}

bool ublk_stages_uses_kprobe(const struct ublk_stages *s)
{
	return s->kprobe;
}

int ublk_stages_refresh(struct ublk_stages *s)
{
	int fd = bpf_map__fd(s->skel->maps.ublk_devs);
	struct dirent *de;
	unsigned int maj, min;
	char path[300];
	DIR *d;
	FILE *f;
	int n = 0;

	d = opendir("/sys/block");
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		unsigned long id;
		char *end;
		__u32 devt, v;

		if (strncmp(de->d_name, "ublkb", 5))
			continue;
		id = strtoul(de->d_name + 5, &end, 10);
		if (*end)
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/dev", de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fscanf(f, "%u:%u", &maj, &min) == 2) {
			devt = maj << 20 | min;
			v = id;
			if (!bpf_map_update_elem(fd, &devt, &v, BPF_ANY))
				n++;
		}
		fclose(f);
	}
	closedir(d);
	return n;
}

const char *ublk_stage_name(enum sluice_ublk_stage stage)
{
	/* Indexed by the enum, so a stage added to sluice.h has no name until given one. */
	static const char *const names[SLUICE_UBLK_STAGES] = {
		[SLUICE_UBLK_TO_SERVER]	= "to_server",
		[SLUICE_UBLK_DOWN]	= "filters_down",
		[SLUICE_UBLK_BACKING]	= "backing",
		[SLUICE_UBLK_UP]	= "filters_up",
		[SLUICE_UBLK_TO_KERNEL]	= "to_kernel",
		[SLUICE_UBLK_TOTAL]	= "total",
	};

	if ((unsigned int)stage >= SLUICE_UBLK_STAGES || !names[stage])
		return "?";
	return names[stage];
}

int ublk_stages_read(struct ublk_stages *s, uint32_t dev_id,
		     struct sluice_ublk_stage_val out[SLUICE_UBLK_STAGES])
{
	int fd = bpf_map__fd(s->skel->maps.stages);
	struct sluice_ublk_stage_val *per;
	struct sluice_ublk_stage_key key;
	int st, cpu, i, found = 0;

	per = calloc(s->ncpus, sizeof(*per));
	if (!per)
		return -ENOMEM;
	memset(out, 0, sizeof(*out) * SLUICE_UBLK_STAGES);
	for (st = 0; st < SLUICE_UBLK_STAGES; st++) {
		key = (struct sluice_ublk_stage_key){ .dev_id = dev_id, .stage = st };
		if (bpf_map_lookup_elem(fd, &key, per))
			continue;
		found++;
		for (cpu = 0; cpu < s->ncpus; cpu++) {
			out[st].count += per[cpu].count;
			out[st].sum_ns += per[cpu].sum_ns;
			for (i = 0; i < SLUICE_UBLK_SLOTS; i++)
				out[st].slots[i] += per[cpu].slots[i];
		}
	}
	free(per);
	return found ? 0 : -ENOENT;
}
