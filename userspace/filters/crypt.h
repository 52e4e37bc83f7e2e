/* SPDX-License-Identifier: GPL-2.0 */
/*
 * crypt.h - the crypt filter's word on why its init refused a disk. The
 * filter does not log: its init leaves one sentence naming the object and
 * the fix here, and the CLI says it (a chain is built on the main thread,
 * before --daemon forks, so one buffer serves).
 */
#ifndef SLUICE_FILTERS_CRYPT_H
#define SLUICE_FILTERS_CRYPT_H

/* The reason of the last refused crypt init, or "" when none. */
const char *crypt_filter_error(void);

#endif /* SLUICE_FILTERS_CRYPT_H */
