// SPDX-License-Identifier: GPL-2.0
#include <stdarg.h>
#include <stdio.h>

#include <bpf/libbpf.h>

#include "lib/log.h"

static bool verbose;

void log_set_verbose(bool v)
{
	verbose = v;
}

bool log_verbose(void)
{
	return verbose;
}

static void vlog(const char *prefix, const char *fmt, va_list ap)
{
	fprintf(stderr, "sluice: %s", prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

#define DEFINE_LOG(name, prefix, cond)			\
void name(const char *fmt, ...)				\
{							\
	va_list ap;					\
							\
	if (!(cond))					\
		return;					\
	va_start(ap, fmt);				\
	vlog(prefix, fmt, ap);				\
	va_end(ap);					\
}

DEFINE_LOG(log_err, "error: ", true)
DEFINE_LOG(log_warn, "warning: ", true)
DEFINE_LOG(log_info, "", true)
DEFINE_LOG(log_debug, "debug: ", verbose)

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !verbose)
		return 0;
	/*
	 * libbpf's info and warnings are verbose dumps (verifier logs, BTF
	 * probing); the command reports the failure itself, so only show
	 * them on request.
	 */
	if (!verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

void log_setup_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}
