// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <linux/magic.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "loader/features.h"

bool feat_path_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

bool feat_bpffs_mounted(const char *path)
{
	struct statfs st;

	return statfs(path, &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

/*
 * One parse per process: the kernel hands /sys/kernel/btf/vmlinux out 4 KiB a
 * read() (5 MiB on 6.12), and meter_open() alone asked six times, about a
 * second of every start under the test VM's TCG. Freed at exit so leak
 * checkers stay quiet.
 */
static struct btf *vmlinux_btf;
static pthread_once_t vmlinux_once = PTHREAD_ONCE_INIT;

static void load_vmlinux_btf(void)
{
	vmlinux_btf = btf__load_vmlinux_btf();
}

__attribute__((destructor)) static void free_vmlinux_btf(void)
{
	btf__free(vmlinux_btf);
	vmlinux_btf = NULL;
}

const struct btf *feat_vmlinux_btf(void)
{
	pthread_once(&vmlinux_once, load_vmlinux_btf);
	return vmlinux_btf;
}

bool feat_has_vmlinux_btf(void)
{
	return feat_vmlinux_btf() != NULL;
}

bool feat_bpf_prog_type_ok(int prog_type)
{
	return libbpf_probe_bpf_prog_type(prog_type, NULL) == 1;
}

static bool btf_has(const struct btf *btf, const char *name, int kind)
{
	return btf && btf__find_by_name_kind(btf, name, kind) > 0;
}

bool feat_tp_btf_exists(const char *name)
{
	char type[128];

	snprintf(type, sizeof(type), "btf_trace_%s", name);
	return btf_has(feat_vmlinux_btf(), type, BTF_KIND_TYPEDEF);
}

const char *feat_tracefs_dir(void)
{
	if (feat_path_exists("/sys/kernel/tracing/events"))
		return "/sys/kernel/tracing";
	if (feat_path_exists("/sys/kernel/debug/tracing/events"))
		return "/sys/kernel/debug/tracing";
	return NULL;
}

bool feat_tracepoint_exists(const char *category, const char *name)
{
	const char *dir = feat_tracefs_dir();
	char path[256];

	if (!dir)
		return false;
	snprintf(path, sizeof(path), "%s/events/%s/%s", dir, category, name);
	return feat_path_exists(path);
}

bool feat_func_in_btf(const char *module, const char *func)
{
	const struct btf *vmlinux = feat_vmlinux_btf();
	struct btf *btf;
	char path[128];
	bool ok;

	if (!vmlinux)
		return false;
	if (!module)
		return btf_has(vmlinux, func, BTF_KIND_FUNC);
	snprintf(path, sizeof(path), "/sys/kernel/btf/%s", module);
	/* libbpf 1.1 takes a non-const base but only reads it */
	btf = btf__parse_split(path, (struct btf *)vmlinux);
	ok = btf_has(btf, func, BTF_KIND_FUNC);
	btf__free(btf);
	return ok;
}

int feat_fentry_attach_probe(const char *func)
{
	/* r0 = 0; exit */
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts,
		.expected_attach_type = BPF_TRACE_FENTRY);
	const struct btf *btf = feat_vmlinux_btf();
	int id, prog_fd, link_fd, err;

	if (!btf)
		return -ENOENT;
	id = btf__find_by_name_kind(btf, func, BTF_KIND_FUNC);
	if (id <= 0)
		return -ENOENT;
	opts.attach_btf_id = id;
	prog_fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "sluice_probe", "GPL",
				insns, 2, &opts);
	if (prog_fd < 0)
		return prog_fd;
	link_fd = bpf_link_create(prog_fd, 0, BPF_TRACE_FENTRY, NULL);
	err = link_fd < 0 ? link_fd : 0;
	if (link_fd >= 0)
		close(link_fd);
	close(prog_fd);
	return err;
}

bool feat_has_cap(int cap)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {};

	if (syscall(SYS_capget, &hdr, data))
		return false;
	return data[cap / 32].effective & (1u << (cap % 32));
}
