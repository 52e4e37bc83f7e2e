/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cache_attach.h - 'sluice cache attach' and 'cache detach' (cache_attach.c),
 * and the flush both share with 'cache flush' (cache.c).
 */
#ifndef SLUICE_CMD_CACHE_ATTACH_H
#define SLUICE_CMD_CACHE_ATTACH_H

#include <stdint.h>

#include "cmd/serve_cache.h"

/*
 * Hold disk @id's cache (no new dirty data) and wait until it has none,
 * showing progress; then release it unless @keep_hold. 0, or 1 after
 * logging why not (no cache, no server, @timeout_ns passed; 0: none).
 */
int cache_flush_wait(uint32_t id, uint64_t timeout_ns, bool keep_hold);

/* Exit codes, after one message each. */
int cache_attach(uint32_t id, const struct serve_cache *o);
int cache_detach(uint32_t id, uint64_t timeout_ns);

#endif /* SLUICE_CMD_CACHE_ATTACH_H */
