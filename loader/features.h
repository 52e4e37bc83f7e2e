/* SPDX-License-Identifier: GPL-2.0 */
/*
 * features.h - what the running kernel offers, probed from BTF, tracefs and
 * the bpf() syscall, never from version numbers. The loaders use these to
 * pick programs (bpf_program__set_autoload) and `sluice doctor` reports them.
 * Predicates return bool; anything that can fail for a reason the caller
 * must report returns 0 or -errno.
 */
#ifndef SLUICE_FEATURES_H
#define SLUICE_FEATURES_H

#include <stdbool.h>

struct btf;

/*
 * The running kernel's vmlinux BTF, parsed once per process and owned by
 * this file (never freed by the caller), or NULL without one.
 */
const struct btf *feat_vmlinux_btf(void);

/* vmlinux BTF is loadable (/sys/kernel/btf/vmlinux). */
bool feat_has_vmlinux_btf(void);

/* BPF program type can be loaded (needs privileges). */
bool feat_bpf_prog_type_ok(int prog_type);

/*
 * A BTF-typed raw tracepoint exists: the kernel defines btf_trace_<name>,
 * which tp_btf programs attach to.
 */
bool feat_tp_btf_exists(const char *name);

/* A classic tracepoint exists in tracefs (events/<category>/<name>). */
bool feat_tracepoint_exists(const char *category, const char *name);

/*
 * A kernel function is in vmlinux BTF, or in the BTF of module @module if
 * non-NULL (found under /sys/kernel/btf/<module>).
 */
bool feat_func_in_btf(const char *module, const char *func);

/*
 * fentry can really attach to @func (vmlinux): loads a trivial tracing
 * program and attaches it, then detaches. Returns 0 or -errno.
 */
int feat_fentry_attach_probe(const char *func);

/* A bpf filesystem is mounted at @path. */
bool feat_bpffs_mounted(const char *path);

/* Where tracefs is mounted, or NULL. */
const char *feat_tracefs_dir(void);

/* A block device or character device node or sysfs path exists. */
bool feat_path_exists(const char *path);

/* Effective capability bit @cap (CAP_* number) is set. */
bool feat_has_cap(int cap);

#endif /* SLUICE_FEATURES_H */
