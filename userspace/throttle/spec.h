/* SPDX-License-Identifier: GPL-2.0 */
/*
 * spec.h - the throttle's command-line and config-file vocabulary:
 * durations ("30ms"), thresholds ("30ms" or "90%peak") and class specs
 * ("PATH:shares=N,riops=N,wiops=N,rbps=SIZE,wbps=SIZE,reserve=N").
 */
#ifndef SLUICE_THROTTLE_SPEC_H
#define SLUICE_THROTTLE_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "throttle/control.h"

/* "250us", "30ms", "1s", "1.5s", "1m" (lib/units.h); a unit is required, up to 1h. */
int throttle_parse_duration(const char *s, uint64_t *ns);

/* "1000", "4k", "10M", "1G" (k, M, G are powers of 1024 for sizes,
 * of 1000 for counts when decimal is true). */
int throttle_parse_number(const char *s, bool decimal, uint64_t *v);

/* A latency ("30ms": latency mode) or "N%peak" / "N%" (peak mode). */
int throttle_parse_threshold(const char *s, struct throttle_disk_cfg *cfg);

/* "PATH[:key=value,...]"; shares default to 100. */
int throttle_parse_class(const char *s, char *path, size_t len, struct throttle_class_cfg *cc);

#endif /* SLUICE_THROTTLE_SPEC_H */
