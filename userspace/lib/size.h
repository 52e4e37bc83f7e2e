/* SPDX-License-Identifier: GPL-2.0 */
/* size.h - byte sizes on the command line: "4096", "64K", "1.5G" (binary units). */
#ifndef SLUICE_SIZE_H
#define SLUICE_SIZE_H

#include <stdint.h>

/*
 * Parse a size: digits with an optional fraction and an optional K, M, G, T
 * or P suffix (powers of 1024, case-insensitive, "iB"/"B" allowed after it).
 * Returns 0 or -EINVAL (not a size, or a fraction of a byte), -ERANGE.
 */
int size_parse(const char *s, uint64_t *out);

#endif /* SLUICE_SIZE_H */
