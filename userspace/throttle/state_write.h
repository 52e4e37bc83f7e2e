/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Writing the state file the throttle daemon publishes (docs/throttle.md,
 * "State file"); throttle/state_read.h reads it back for 'sluice top', the
 * exporter and the ublk server's limiter.
 */
#ifndef SLUICE_THROTTLE_STATE_WRITE_H
#define SLUICE_THROTTLE_STATE_WRITE_H

#include <stdbool.h>

#include "lib/json.h"
#include "throttle/daemon.h"

/* One disk's object, as in the file's "disks" array (and in --json). */
void tstate_json_disk(struct json_writer *w, const struct tdaemon_disk *d);

/* Replace o->state_path with the whole state. 0 or -errno. */
int tstate_write(const struct tdaemon *o, bool running);

#endif /* SLUICE_THROTTLE_STATE_WRITE_H */
