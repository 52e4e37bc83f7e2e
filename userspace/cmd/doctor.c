// SPDX-License-Identifier: GPL-2.0
/*
 * sluice doctor - what this kernel offers sluice, one line per feature,
 * with the fix for anything missing. Exit 0 when the core (BPF, BTF and the
 * block tracepoints) works, 1 otherwise.
 *
 * JSON (--json): {"kernel": "...", "core_ok": bool, "features": [{"name",
 * "state" ("ok"|"missing"|"partial"), "core" (bool), "detail", "fix"}]}.
 * Feature names are stable; tests and scripts key on them.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <linux/capability.h>

#include <bpf/libbpf.h>
#include <liburing.h>

#include "cmd/args.h"
#include "cmd/cmds.h"
#include "loader/features.h"
#include "lib/json.h"
#include "lib/log.h"

enum state { ST_OK, ST_PARTIAL, ST_MISSING };

static const char *const state_names[] = { "ok", "partial", "missing" };

struct feature {
	const char *name;
	bool core;
	enum state state;
	char detail[160];
	char fix[200];
};

#define MAX_FEATURES 32

struct report {
	struct feature f[MAX_FEATURES];
	int n;
};

static struct feature *add(struct report *r, const char *name, bool core, bool ok,
			   const char *fix)
{
	struct feature *f = &r->f[r->n++];

	f->name = name;
	f->core = core;
	f->state = ok ? ST_OK : ST_MISSING;
	f->detail[0] = '\0';
	snprintf(f->fix, sizeof(f->fix), "%s", ok ? "" : fix);
	return f;
}

static void check_bpf(struct report *r)
{
	struct feature *f;
	bool tp;
	int err;

	f = add(r, "bpf", true, feat_bpf_prog_type_ok(BPF_PROG_TYPE_RAW_TRACEPOINT),
		"run as root (CAP_BPF + CAP_PERFMON) on a kernel built with CONFIG_BPF_SYSCALL=y");
	snprintf(f->detail, sizeof(f->detail), "bpf() syscall, raw tracepoint programs");

	f = add(r, "btf", true, feat_has_vmlinux_btf(),
		"use a kernel built with CONFIG_DEBUG_INFO_BTF=y (/sys/kernel/btf/vmlinux)");
	snprintf(f->detail, sizeof(f->detail), "/sys/kernel/btf/vmlinux");

	f = add(r, "bpffs", false, feat_bpffs_mounted("/sys/fs/bpf"),
		"mount -t bpf bpf /sys/fs/bpf (sluice mounts it itself when it pins policy maps)");
	snprintf(f->detail, sizeof(f->detail), "/sys/fs/bpf for pinned maps");

	f = add(r, "tracefs", false, feat_tracefs_dir() != NULL,
		"mount -t tracefs tracefs /sys/kernel/tracing");
	snprintf(f->detail, sizeof(f->detail), "%s", feat_tracefs_dir() ?: "not mounted");

	tp = feat_tp_btf_exists("block_rq_issue") && feat_tp_btf_exists("block_rq_complete");
	f = add(r, "tp-block-rq", true, tp,
		"use a kernel with CONFIG_BLK_DEV_IO_TRACE / block tracepoints (CONFIG_TRACEPOINTS=y)");
	snprintf(f->detail, sizeof(f->detail), "block_rq_insert/issue/complete%s",
		 feat_tp_btf_exists("block_rq_insert") ? "" : " (no insert)");
	if (tp && !feat_tp_btf_exists("block_rq_insert"))
		f->state = ST_PARTIAL;

	/* Informational: 6.5+ adds these; sluice works without them. */
	f = add(r, "tp-block-io", false,
		feat_tp_btf_exists("block_io_start") && feat_tp_btf_exists("block_io_done"), "");
	snprintf(f->detail, sizeof(f->detail), "block_io_start/done (kernel 6.5+; optional)");
	f->fix[0] = '\0';

	f = add(r, "tp-block-bio", false, feat_tp_btf_exists("block_bio_queue"),
		"needed to meter bio-based devices (device-mapper, md)");
	snprintf(f->detail, sizeof(f->detail), "block_bio_queue, block_bio_complete");

	err = feat_fentry_attach_probe("blk_mq_start_request");
	f = add(r, "fentry", false, err == 0,
		"needs CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS and no lockdown; "
		"sluice falls back to kprobes");
	snprintf(f->detail, sizeof(f->detail), "fentry/fexit trampolines (ublk stage hooks)%s%s",
		 err ? ": " : "", err ? strerror(-err) : "");

	f = add(r, "kprobe", false, feat_bpf_prog_type_ok(BPF_PROG_TYPE_KPROBE),
		"use a kernel with CONFIG_KPROBES=y");
	snprintf(f->detail, sizeof(f->detail), "kprobe programs");

	f = add(r, "bpf-stats", false, feat_path_exists("/proc/sys/kernel/bpf_stats_enabled"),
		"kernel lacks BPF run-time statistics; --self shows nothing");
	snprintf(f->detail, sizeof(f->detail), "per-program run time (top --self)");
}

static bool uring_cmd_ok(void)
{
	struct io_uring_probe *probe = io_uring_get_probe();
	bool ok;

	if (!probe)
		return false;
	ok = io_uring_opcode_supported(probe, IORING_OP_URING_CMD);
	io_uring_free_probe(probe);
	return ok;
}

static bool cgroup2_has(const char *ctrl)
{
	char buf[256] = "";
	FILE *fp = fopen("/sys/fs/cgroup/cgroup.controllers", "r");
	char *tok, *save;

	if (!fp)
		return false;
	if (!fgets(buf, sizeof(buf), fp))
		buf[0] = '\0';
	fclose(fp);
	for (tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save))
		if (!strcmp(tok, ctrl))
			return true;
	return false;
}

static void check_storage(struct report *r)
{
	struct feature *f;
	bool ctl, mod;

	f = add(r, "io-uring", false, uring_cmd_ok(),
		"the ublk server needs io_uring with IORING_OP_URING_CMD (kernel 5.19+, "
		"kernel.io_uring_disabled=0)");
	snprintf(f->detail, sizeof(f->detail), "io_uring with URING_CMD");

	ctl = feat_path_exists("/dev/ublk-control");
	mod = feat_path_exists("/sys/module/ublk_drv");
	f = add(r, "ublk", false, ctl,
		"modprobe ublk_drv (CONFIG_BLK_DEV_UBLK); without it 'sluice serve' cannot "
		"run here: use the test VM, tests/vm/run -- sluice serve ...");
	snprintf(f->detail, sizeof(f->detail), "/dev/ublk-control %s, ublk_drv %s",
		 ctl ? "present" : "absent", mod ? "loaded" : "not loaded");

	f = add(r, "cgroup2-io", false, cgroup2_has("io"),
		"mount cgroup2 on /sys/fs/cgroup and enable the io controller "
		"(echo +io > /sys/fs/cgroup/cgroup.subtree_control); throttling needs it");
	snprintf(f->detail, sizeof(f->detail), "cgroup v2 io controller (io.max, io.stat)");

	f = add(r, "cgroup1-blkio", false,
		feat_path_exists("/sys/fs/cgroup/blkio") ||
		feat_path_exists("/sys/fs/cgroup/blkio/blkio.throttle.read_iops_device"),
		"informational: legacy blkio hierarchy");
	snprintf(f->detail, sizeof(f->detail), "cgroup v1 blkio (metering attribution only)");
	if (f->state == ST_MISSING)
		f->fix[0] = '\0';

	f = add(r, "device-mapper", false,
		feat_path_exists("/dev/mapper/control") || feat_path_exists("/sys/module/dm_mod"),
		"modprobe dm_mod (CONFIG_BLK_DEV_DM); needed for dm-crypt comparisons");
	snprintf(f->detail, sizeof(f->detail), "/dev/mapper/control");

	f = add(r, "null-blk", false, feat_path_exists("/sys/module/null_blk"),
		"modprobe null_blk (tests and benchmarks only)");
	snprintf(f->detail, sizeof(f->detail), "null_blk test devices");
}

static void check_privileges(struct report *r)
{
	struct feature *f;

	f = add(r, "cap-bpf", true, feat_has_cap(CAP_BPF) || feat_has_cap(CAP_SYS_ADMIN),
		"run as root, or grant CAP_BPF and CAP_PERFMON");
	snprintf(f->detail, sizeof(f->detail), "CAP_BPF (or CAP_SYS_ADMIN)");

	f = add(r, "cap-sys-admin", false, feat_has_cap(CAP_SYS_ADMIN),
		"run as root: ublk devices, cgroup io.max and pinning need CAP_SYS_ADMIN");
	snprintf(f->detail, sizeof(f->detail), "CAP_SYS_ADMIN");
}

static bool core_ok(const struct report *r)
{
	int i;

	for (i = 0; i < r->n; i++)
		if (r->f[i].core && r->f[i].state == ST_MISSING)
			return false;
	return true;
}

static void print_text(const struct report *r, const struct utsname *u)
{
	int i;

	printf("kernel %s %s\n", u->release, u->machine);
	for (i = 0; i < r->n; i++) {
		const struct feature *f = &r->f[i];

		printf("%-8s %-14s %s\n", state_names[f->state], f->name, f->detail);
		if (f->state != ST_OK && f->fix[0])
			printf("%-8s %-14s fix: %s\n", "", "", f->fix);
	}
	printf("core: %s\n", core_ok(r) ? "ok (metering will work)" :
	       "MISSING (sluice cannot meter here; see the fixes above)");
}

static void print_json(const struct report *r, const struct utsname *u)
{
	struct json_writer w;
	int i;

	json_init(&w, stdout);
	json_obj_open(&w);
	json_kv_str(&w, "kernel", u->release);
	json_kv_bool(&w, "core_ok", core_ok(r));
	json_key(&w, "features");
	json_arr_open(&w);
	for (i = 0; i < r->n; i++) {
		const struct feature *f = &r->f[i];

		json_obj_open(&w);
		json_kv_str(&w, "name", f->name);
		json_kv_str(&w, "state", state_names[f->state]);
		json_kv_bool(&w, "core", f->core);
		json_kv_str(&w, "detail", f->detail);
		json_kv_str(&w, "fix", f->fix);
		json_obj_close(&w);
	}
	json_arr_close(&w);
	json_obj_close(&w);
	json_end(&w);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sluice doctor [--json]\n"
		"\n"
		"Probe what this kernel offers sluice: BPF and BTF, block tracepoints and\n"
		"which variant, fentry/kprobe, io_uring, the ublk driver, cgroup v2 io,\n"
		"device-mapper and privileges. One line per feature; a missing one is\n"
		"followed by its fix. Exits 0 when the core (BPF, BTF, block tracepoints,\n"
		"CAP_BPF) works.\n"
		"\n"
		"Options:\n"
		"  --json       one JSON object (keys: kernel, core_ok, features[])\n"
		"  -h, --help   this text\n"
		"\n"
		"Examples:\n"
		"  sluice doctor\n"
		"  sluice doctor --json | jq -r '.features[] | select(.state != \"ok\") | .name'\n");
}

int cmd_doctor(int argc, char **argv)
{
	struct report r = {};
	struct utsname u;
	bool json = false;
	int err;

	err = parse_json_only_argv(argc, argv, "doctor", usage, &json);
	if (err <= 0)
		return args_exit_status(err);
	log_setup_libbpf();
	uname(&u);
	check_bpf(&r);
	check_storage(&r);
	check_privileges(&r);

	if (json)
		print_json(&r, &u);
	else
		print_text(&r, &u);
	return core_ok(&r) ? 0 : 1;
}
