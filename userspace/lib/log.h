/* SPDX-License-Identifier: GPL-2.0 */
/*
 * log.h - the CLI's and daemons' only voice. Libraries below userspace/
 * return -errno and never call these; commands log once per failure,
 * naming the object and the fix.
 */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include <stdbool.h>

void log_set_verbose(bool verbose);
bool log_verbose(void);

/* "sluice: error: ..." to stderr. */
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "sluice: warning: ..." to stderr. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "sluice: ..." to stderr. */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Only with -v. */
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Route libbpf's messages through log_*: warnings always, debug with -v. */
void log_setup_libbpf(void);

#endif /* SLUICE_LOG_H */
