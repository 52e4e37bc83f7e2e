/* SPDX-License-Identifier: GPL-2.0 */
/*
 * macro.h - the few macros every room uses, defined once.
 */
#ifndef SLUICE_LIB_MACRO_H
#define SLUICE_LIB_MACRO_H

#include <stddef.h>

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* @v rounded up to a multiple of @a (not only powers of two). */
static inline size_t round_up(size_t v, size_t a)
{
	return (v + a - 1) / a * a;
}

#endif /* SLUICE_LIB_MACRO_H */
