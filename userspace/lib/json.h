/* SPDX-License-Identifier: GPL-2.0 */
/*
 * json.h - a small streaming JSON writer for --json output. It tracks
 * nesting and commas so callers only say what to write; strings are escaped
 * per RFC 8259. Output is one compact line per top-level value unless
 * json_writer_set_pretty() asks for indentation.
 */
#ifndef SLUICE_JSON_H
#define SLUICE_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 16

struct json_writer {
	FILE *f;
	int depth;
	bool first[JSON_MAX_DEPTH];
	bool after_key;
	int err;		/* first error: -EOVERFLOW on nesting too deep */
};

void json_init(struct json_writer *w, FILE *f);
void json_obj_open(struct json_writer *w);
void json_obj_close(struct json_writer *w);
void json_arr_open(struct json_writer *w);
void json_arr_close(struct json_writer *w);
void json_key(struct json_writer *w, const char *key);
void json_str(struct json_writer *w, const char *s);
void json_u64(struct json_writer *w, uint64_t v);
void json_i64(struct json_writer *w, int64_t v);
void json_double(struct json_writer *w, double v);
void json_bool(struct json_writer *w, bool v);
void json_null(struct json_writer *w);

/* key + value shorthands for objects */
void json_kv_str(struct json_writer *w, const char *key, const char *s);
void json_kv_u64(struct json_writer *w, const char *key, uint64_t v);
void json_kv_i64(struct json_writer *w, const char *key, int64_t v);
void json_kv_double(struct json_writer *w, const char *key, double v);
void json_kv_bool(struct json_writer *w, const char *key, bool v);

/* Ends a top-level value with a newline and flushes; returns w->err. */
int json_end(struct json_writer *w);

#endif /* SLUICE_JSON_H */
