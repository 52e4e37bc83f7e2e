// SPDX-License-Identifier: GPL-2.0
/*
 * count.c - a filter that only counts what passes through it, per op and in
 * bytes. Harmless on any disk; tests use it to see the chain at work.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "filters/filter.h"
#include "filters/registry.h"

struct count_state {
	atomic_uint_fast64_t ops[FILTER_OP_WRITE_ZEROES + 1];
	atomic_uint_fast64_t bytes_read;
	atomic_uint_fast64_t bytes_written;
	atomic_uint_fast64_t errors;
};

static int count_init(struct filter *f, const struct filter_config *cfg)
{
	f->priv = calloc(1, sizeof(struct count_state));
	return f->priv ? 0 : -ENOMEM;
}

static int count_down(struct filter *f, struct filter_req *req)
{
	struct count_state *s = f->priv;

	atomic_fetch_add(&s->ops[req->op], 1);
	return FILTER_CONTINUE;
}

static int count_completion(struct filter *f, struct filter_req *req)
{
	struct count_state *s = f->priv;

	if (req->result < 0)
		atomic_fetch_add(&s->errors, 1);
	else if (req->op == FILTER_OP_READ)
		atomic_fetch_add(&s->bytes_read, req->result);
	else if (req->op == FILTER_OP_WRITE)
		atomic_fetch_add(&s->bytes_written, req->result);
	return FILTER_CONTINUE;
}

static int count_stats(struct filter *f, struct filter_stat *st, int max)
{
	static const char *const names[] = { "reads", "writes", "flushes", "discards",
					     "write_zeroes" };
	struct count_state *s = f->priv;
	int i, n = 0;

	for (i = 0; i <= FILTER_OP_WRITE_ZEROES && n < max; i++)
		st[n++] = (struct filter_stat){ names[i], atomic_load(&s->ops[i]) };
	if (n < max)
		st[n++] = (struct filter_stat){ "bytes_read", atomic_load(&s->bytes_read) };
	if (n < max)
		st[n++] = (struct filter_stat){ "bytes_written", atomic_load(&s->bytes_written) };
	if (n < max)
		st[n++] = (struct filter_stat){ "errors", atomic_load(&s->errors) };
	return n;
}

static void count_teardown(struct filter *f)
{
	free(f->priv);
	f->priv = NULL;
}

const struct filter_ops count_filter_ops = {
	.name = "count",
	.data_blind = true,
	.init = count_init,
	.read = count_down,
	.write = count_down,
	.flush = count_down,
	.discard = count_down,
	.completion = count_completion,
	.stats = count_stats,
	.teardown = count_teardown,
};
