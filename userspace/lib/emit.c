// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "lib/emit.h"

static void yev(struct emit *e, yaml_event_t *ev, int ok)
{
	if (e->err)
		return;
	if (!ok || !yaml_emitter_emit(&e->y, ev))
		e->err = -EIO;
}

int emit_init(struct emit *e, FILE *f, bool json)
{
	yaml_event_t ev;

	memset(e, 0, sizeof(*e));
	e->json = json;
	if (json) {
		json_init(&e->w, f);
		return 0;
	}
	if (!yaml_emitter_initialize(&e->y))
		return -ENOMEM;
	yaml_emitter_set_output_file(&e->y, f);
	yaml_emitter_set_width(&e->y, 78);
	yaml_emitter_set_unicode(&e->y, 1);
	yev(e, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
	yev(e, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
	return e->err;
}

static void ymap(struct emit *e, yaml_mapping_style_t style)
{
	yaml_event_t ev;

	yev(e, &ev, yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, style));
}

static void yseq(struct emit *e, yaml_sequence_style_t style)
{
	yaml_event_t ev;

	yev(e, &ev, yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, style));
}

void emit_map_open(struct emit *e)
{
	if (e->json)
		json_obj_open(&e->w);
	else
		ymap(e, YAML_BLOCK_MAPPING_STYLE);
}

void emit_map_open_flow(struct emit *e)
{
	if (e->json)
		json_obj_open(&e->w);
	else
		ymap(e, YAML_FLOW_MAPPING_STYLE);
}

void emit_map_close(struct emit *e)
{
	yaml_event_t ev;

	if (e->json)
		json_obj_close(&e->w);
	else
		yev(e, &ev, yaml_mapping_end_event_initialize(&ev));
}

void emit_seq_open(struct emit *e)
{
	if (e->json)
		json_arr_open(&e->w);
	else
		yseq(e, YAML_BLOCK_SEQUENCE_STYLE);
}

void emit_seq_open_flow(struct emit *e)
{
	if (e->json)
		json_arr_open(&e->w);
	else
		yseq(e, YAML_FLOW_SEQUENCE_STYLE);
}

void emit_seq_close(struct emit *e)
{
	yaml_event_t ev;

	if (e->json)
		json_arr_close(&e->w);
	else
		yev(e, &ev, yaml_sequence_end_event_initialize(&ev));
}

static void yscalar(struct emit *e, const char *s, bool plain_ok)
{
	yaml_event_t ev;

	yev(e, &ev, yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s,
						 (int)strlen(s), plain_ok, 1,
						 YAML_ANY_SCALAR_STYLE));
}

void emit_key(struct emit *e, const char *k)
{
	if (e->json)
		json_key(&e->w, k);
	else
		yscalar(e, k, true);
}

void emit_str(struct emit *e, const char *s)
{
	if (e->json)
		json_str(&e->w, s);
	else
		yscalar(e, s, true);
}

void emit_u64(struct emit *e, uint64_t v)
{
	char buf[24];

	if (e->json) {
		json_u64(&e->w, v);
		return;
	}
	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	yscalar(e, buf, true);
}

void emit_bool(struct emit *e, bool v)
{
	if (e->json)
		json_bool(&e->w, v);
	else
		yscalar(e, v ? "true" : "false", true);
}

void emit_kv_str(struct emit *e, const char *k, const char *s)
{
	emit_key(e, k);
	emit_str(e, s);
}

void emit_kv_u64(struct emit *e, const char *k, uint64_t v)
{
	emit_key(e, k);
	emit_u64(e, v);
}

int emit_end(struct emit *e)
{
	yaml_event_t ev;

	if (e->json)
		return json_end(&e->w);
	yev(e, &ev, yaml_document_end_event_initialize(&ev, 1));
	yev(e, &ev, yaml_stream_end_event_initialize(&ev));
	yaml_emitter_flush(&e->y);
	yaml_emitter_delete(&e->y);
	return e->err;
}
