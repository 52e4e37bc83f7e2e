// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>
#include <string.h>

#include "cmd/filter_stats_cli.h"
#include "lib/units.h"

void filter_stats_cli_json(struct json_writer *w, const struct filter_stats *fs)
{
	unsigned int i, k;

	if (!fs) {
		json_null(w);
		return;
	}
	json_obj_open(w);
	json_kv_u64(w, "time_ns", fs->time_ns);
	json_key(w, "filters");
	json_arr_open(w);
	for (i = 0; i < fs->n; i++) {
		const struct filter_stats_filter *f = &fs->f[i];

		json_obj_open(w);
		json_kv_u64(w, "index", f->index);
		json_kv_str(w, "name", f->name);
		json_key(w, "counters");
		json_obj_open(w);
		for (k = 0; k < f->n; k++)
			json_kv_u64(w, f->c[k].name, f->c[k].value);
		json_obj_close(w);
		json_obj_close(w);
	}
	json_arr_close(w);
	json_obj_close(w);
}

void filter_stats_cli_line(FILE *out, const struct filter_stats *fs)
{
	char line[256], v[16];
	size_t off = 0;
	unsigned int i, k;

	off += snprintf(line, sizeof(line), "  filters:");
	for (i = 0; i < fs->n && off < sizeof(line); i++) {
		const struct filter_stats_filter *f = &fs->f[i];

		off += snprintf(line + off, sizeof(line) - off, "%s %s", i ? ";" : "", f->name);
		for (k = 0; k < f->n && off < sizeof(line); k++) {
			if (!f->c[k].value)
				continue;
			/* a byte count reads better in KiB, MiB, ... */
			if (strstr(f->c[k].name, "bytes"))
				units_fmt_bytes(f->c[k].value, v, sizeof(v));
			else
				units_fmt_count(f->c[k].value, v, sizeof(v));
			off += snprintf(line + off, sizeof(line) - off, " %s %s", f->c[k].name, v);
		}
	}
	if (!fs->n)
		snprintf(line + off, sizeof(line) - off, " none (passthrough)");
	fprintf(out, "%.79s\n", line);
}
