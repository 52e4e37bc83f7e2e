/* SPDX-License-Identifier: GPL-2.0 */
/*
 * emit.h - write one tree of mappings, lists and scalars either as block
 * YAML (libyaml's emitter) or as JSON (lib/json.h), so a command prints the
 * same structure in both forms from one walk.
 */
#ifndef SLUICE_EMIT_H
#define SLUICE_EMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <yaml.h>

#include "lib/json.h"

struct emit {
	bool json;
	struct json_writer w;
	yaml_emitter_t y;
	int err;
};

int emit_init(struct emit *e, FILE *f, bool json);
void emit_map_open(struct emit *e);
void emit_map_close(struct emit *e);
void emit_seq_open(struct emit *e);
void emit_seq_close(struct emit *e);
/* YAML flow style ({a: 1}) for short mappings; JSON ignores it. */
void emit_map_open_flow(struct emit *e);
void emit_seq_open_flow(struct emit *e);
void emit_key(struct emit *e, const char *k);
void emit_str(struct emit *e, const char *s);
void emit_u64(struct emit *e, uint64_t v);
void emit_bool(struct emit *e, bool v);
void emit_kv_str(struct emit *e, const char *k, const char *s);
void emit_kv_u64(struct emit *e, const char *k, uint64_t v);
/* Finish the document; returns 0 or -EIO. */
int emit_end(struct emit *e);

#endif /* SLUICE_EMIT_H */
