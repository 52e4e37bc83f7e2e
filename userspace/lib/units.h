/* SPDX-License-Identifier: GPL-2.0 */
/*
 * units.h - human formatting of latencies, rates and sizes for tables.
 * (Parsing units lives with the policy loader.) Each writes at most @len
 * bytes including the NUL and returns @buf.
 */
#ifndef SLUICE_LIB_UNITS_H
#define SLUICE_LIB_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* 850ns, 12.3us, 4.56ms, 1.20s */
char *units_fmt_ns(double ns, char *buf, size_t len);

/* 512B, 4.0KiB, 12.5MiB, 1.2GiB */
char *units_fmt_bytes(double bytes, char *buf, size_t len);

/* 999, 12.3k, 4.56M */
char *units_fmt_count(double n, char *buf, size_t len);

#endif /* SLUICE_LIB_UNITS_H */
