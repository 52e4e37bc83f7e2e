// SPDX-License-Identifier: GPL-2.0
/*
 * The filter counters file a ublk server publishes (ublk/filter_stats.h):
 * a snapshot of a real chain written and read back, the text format, the
 * malformed files a reader refuses, a dead server's file, the server's
 * once-a-period publishing, and snapshots taken while other threads run
 * requests through the count filter (as queue threads do).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/unit/tmpdir.h"

#include "filters/chain.h"
#include "filters/registry.h"
#include "lib/disk_state.h"
#include "ublk/filter_stats.h"

static atomic_int dones;

/* The backing answers at once with the full length. */
static void sink_bottom(struct filter_req *req)
{
	chain_backing_done(req, req->len);
}

static void sink_done(struct filter_req *req)
{
	atomic_fetch_add(&dones, 1);
}

static const struct chain_sinks sinks = { sink_bottom, sink_done };

/* A filter whose counters the format must sift: a bad name, a repeat. */
static int odd_stats(struct filter *f, struct filter_stat *st, int max)
{
	static const struct filter_stat mine[] = {
		{ "hits", 7 }, { "bad name", 1 }, { "hits", 9 }, { "misses_total", 0 },
		{ "a_name_that_is_far_too_long_to_be_kept", 3 },
	};
	int i;

	for (i = 0; i < (int)(sizeof(mine) / sizeof(mine[0])) && i < max; i++)
		st[i] = mine[i];
	return i;
}

static const struct filter_ops odd_ops = { .name = "odd", .stats = odd_stats };
static const struct filter_ops quiet_ops = { .name = "quiet" };

static struct filter_chain *make_chain(void)
{
	const struct filter_ops *ops[] = { &count_filter_ops, &odd_ops, &quiet_ops };
	struct filter_config cfgs[3] = {};
	struct filter_chain *c;
	int i;

	for (i = 0; i < 3; i++)
		cfgs[i] = (struct filter_config){ .name = ops[i]->name, .args = "",
						  .disk_size = 1 << 20, .block_size = 512,
						  .queues = 2, .depth = 4 };
	assert_int_equal(chain_create(&c, ops, cfgs, 3, &sinks), 0);
	return c;
}

static void run(struct filter_req *req, enum filter_op op, uint32_t len)
{
	static char buf[4096] __attribute__((aligned(4096)));

	req->op = op;
	req->offset = 0;
	req->len = len;
	req->buf = buf;
	chain_submit(req);
}

static uint64_t counter(const struct filter_stats *fs, unsigned int i, const char *name)
{
	unsigned int k;

	for (k = 0; k < fs->f[i].n; k++)
		if (!strcmp(fs->f[i].c[k].name, name))
			return fs->f[i].c[k].value;
	fail_msg("filter %u has no counter %s", i, name);
	return 0;
}

static pid_t dead_pid(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (!pid)
		_exit(0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	return pid;
}

static void test_chain_round_trip(void **state)
{
	struct filter_chain *c = make_chain();
	struct filter_stats *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	struct filter_req req;
	int i;

	assert_int_equal(chain_req_init(c, &req, 0, 0, NULL, NULL), 0);
	for (i = 0; i < 3; i++)
		run(&req, FILTER_OP_READ, 4096);
	run(&req, FILTER_OP_WRITE, 512);
	run(&req, FILTER_OP_FLUSH, 0);
	assert_int_equal(filter_stats_take(a, c, 5, getpid()), 0);
	assert_int_equal(a->n, 3);
	assert_string_equal(a->f[0].name, "count");
	assert_int_equal(counter(a, 0, "reads"), 3);
	assert_int_equal(counter(a, 0, "writes"), 1);
	assert_int_equal(counter(a, 0, "flushes"), 1);
	assert_int_equal(counter(a, 0, "bytes_read"), 3 * 4096);
	assert_int_equal(counter(a, 0, "bytes_written"), 512);
	/* the bad name, the repeat and the overlong name are left out */
	assert_string_equal(a->f[1].name, "odd");
	assert_int_equal(a->f[1].n, 2);
	assert_int_equal(counter(a, 1, "hits"), 7);
	assert_int_equal(counter(a, 1, "misses_total"), 0);
	/* a filter without stats still has its place in the chain */
	assert_string_equal(a->f[2].name, "quiet");
	assert_int_equal(a->f[2].index, 2);
	assert_int_equal(a->f[2].n, 0);

	assert_int_equal(filter_stats_write(dir, a), 0);
	assert_int_equal(filter_stats_read(dir, 5, b), 0);
	assert_int_equal(memcmp(a, b, sizeof(*a)), 0);
	/* the stats file lives beside the state files without being one */
	{
		uint32_t ids[4];

		assert_int_equal(state_list(dir, ids, 4), 0);
	}
	assert_int_equal(filter_stats_read(dir, 6, b), -ENOENT);
	assert_int_equal(filter_stats_remove(dir, 5), 0);
	assert_int_equal(filter_stats_read(dir, 5, b), -ENOENT);
	assert_int_equal(filter_stats_remove(dir, 5), 0);
	chain_req_fini(&req);
	chain_destroy(c);
	free(a);
	free(b);
}

static void test_format(void **state)
{
	struct filter_stats *fs = calloc(1, sizeof(*fs));
	char buf[512];
	int n;

	fs->id = 3;
	fs->pid = 4242;
	fs->time_ns = 1733461234000000001ull;
	fs->n = 2;
	fs->f[0] = (struct filter_stats_filter){ .index = 0, .name = "throttle" };
	fs->f[1] = (struct filter_stats_filter){ .index = 1, .name = "count", .n = 2,
		.c = { { "reads", 12 }, { "bytes_read", UINT64_MAX } } };
	n = filter_stats_format(fs, buf, sizeof(buf));
	assert_int_equal(n, strlen(buf));
	assert_string_equal(buf, "id=3\npid=4242\ntime_ns=1733461234000000001\n"
			    "filter=0 throttle\n"
			    "filter=1 count reads=12 bytes_read=18446744073709551615\n");
	assert_int_equal(filter_stats_format(fs, buf, 40), -ENAMETOOLONG);
	/* a chain without filters (passthrough) is a valid file too */
	assert_int_equal(filter_stats_parse("id=1\npid=2\ntime_ns=3\n", fs), 0);
	assert_int_equal(fs->n, 0);
	free(fs);
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"pid=2\ntime_ns=3\n",					/* no id */
		"id=1\ntime_ns=3\n",					/* no pid */
		"id=1\npid=2\n",					/* no time */
		"id=1\npid=0\ntime_ns=3\n",				/* no server */
		"id=1\npid=2\ntime_ns=3\nbogus\n",			/* no '=' */
		"id=-1\npid=2\ntime_ns=3\n",				/* sign */
		"id=0x1\npid=2\ntime_ns=3\n",				/* not decimal */
		"id=1\npid=2\ntime_ns=3\nfilter=1 count\n",		/* index not 0 */
		"id=1\npid=2\ntime_ns=3\nfilter=0 a\nfilter=0 b\n",	/* index twice */
		"id=1\npid=2\ntime_ns=3\nfilter=0\n",			/* no name */
		"id=1\npid=2\ntime_ns=3\nfilter=0 co-unt\n",		/* name */
		"id=1\npid=2\ntime_ns=3\nfilter=0 count reads\n",	/* no value */
		"id=1\npid=2\ntime_ns=3\nfilter=0 count reads=x\n",
		"id=1\npid=2\ntime_ns=3\nfilter=0 count reads=-1\n",
		"id=1\npid=2\ntime_ns=3\nfilter=0 count reads=99999999999999999999\n",
		"id=1\npid=2\ntime_ns=3\nfilter=0 count reads=1 reads=2\n",
		"id=1\npid=2\ntime_ns=3\nfilter=0 count r\xc3\xa9\x61\x64s=1\n",
	};
	struct filter_stats *fs = malloc(sizeof(*fs));
	char text[2048];
	size_t off;
	int i;

	for (i = 0; i < (int)(sizeof(bad) / sizeof(bad[0])); i++)
		if (filter_stats_parse(bad[i], fs) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
	/* more filters than a chain has */
	off = snprintf(text, sizeof(text), "id=1\npid=2\ntime_ns=3\n");
	for (i = 0; i <= CHAIN_MAX_FILTERS; i++)
		off += snprintf(text + off, sizeof(text) - off, "filter=%d f\n", i);
	assert_int_equal(filter_stats_parse(text, fs), -EINVAL);
	/* more counters than a filter may publish */
	off = snprintf(text, sizeof(text), "id=1\npid=2\ntime_ns=3\nfilter=0 f");
	for (i = 0; i <= FILTER_STATS_COUNTERS_MAX; i++)
		off += snprintf(text + off, sizeof(text) - off, " c%d=%d", i, i);
	assert_int_equal(filter_stats_parse(text, fs), -EINVAL);
	/* keys of a newer server are skipped */
	assert_int_equal(filter_stats_parse("id=1\npid=2\ntime_ns=3\nfuture=yes\n"
					    "filter=0 count reads=5\n", fs), 0);
	assert_int_equal(fs->n, 1);
	assert_int_equal(counter(fs, 0, "reads"), 5);
	free(fs);
}

static void write_text(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

static void test_read_refuses(void **state)
{
	struct filter_stats *fs = malloc(sizeof(*fs));
	char text[128];

	/* malformed, and another disk's content under this disk's name */
	write_text("ublk1.stats", "id=1\npid=1\n");
	assert_int_equal(filter_stats_read(dir, 1, fs), -EINVAL);
	snprintf(text, sizeof(text), "id=9\npid=%d\ntime_ns=3\n", (int)getpid());
	write_text("ublk2.stats", text);
	assert_int_equal(filter_stats_read(dir, 2, fs), -EINVAL);
	snprintf(text, sizeof(text), "id=2\npid=%d\ntime_ns=3\n", (int)getpid());
	write_text("ublk2.stats", text);
	assert_int_equal(filter_stats_read(dir, 2, fs), 0);
	free(fs);
}

/* A server killed with -9 leaves its file; its pid says it is not live. */
static void test_dead_server(void **state)
{
	struct filter_stats *fs = malloc(sizeof(*fs)), *all;
	struct disk_state st = { .backing = "/x", .size = 512, .queues = 1, .depth = 1,
				 .block_size = 512 };
	size_t n;

	for (st.id = 0; st.id < 3; st.id++)
		assert_int_equal(state_write(dir, &st), 0);
	assert_int_equal(filter_stats_take(fs, NULL, 0, dead_pid()), 0);
	assert_int_equal(filter_stats_write(dir, fs), 0);
	assert_int_equal(filter_stats_read(dir, 0, fs), -ESRCH);
	assert_int_equal(filter_stats_take(fs, NULL, 2, getpid()), 0);
	assert_int_equal(filter_stats_write(dir, fs), 0);
	/* disk 1 has no stats file: left out too */
	assert_int_equal(filter_stats_read_all(dir, &all, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(all[0].id, 2);
	assert_int_equal(all[0].pid, getpid());
	free(all);
	assert_int_equal(filter_stats_read_all("/nonexistent/sluice", &all, &n), 0);
	assert_int_equal(n, 0);
	assert_null(all);
	free(fs);
}

static void count_seen(const struct filter_stats *fs, void *arg)
{
	assert_int_equal(fs->n, 3);
	(*(int *)arg)++;
}

/* Once at start, then not again before the period is up; the caller sees each snapshot. */
static void test_publish(void **state)
{
	struct filter_chain *c = make_chain();
	struct filter_stats *fs = malloc(sizeof(*fs));
	uint64_t due = 0;
	int seen = 0;

	assert_int_equal(filter_stats_publish(dir, 4, c, &due, count_seen, &seen), 0);
	assert_int_equal(seen, 1);
	assert_true(due > 0);
	assert_int_equal(filter_stats_read(dir, 4, fs), 0);
	assert_int_equal(fs->pid, getpid());
	assert_int_equal(fs->n, 3);
	assert_int_equal(filter_stats_remove(dir, 4), 0);
	assert_int_equal(filter_stats_publish(dir, 4, c, &due, count_seen, &seen), 0);
	assert_int_equal(filter_stats_read(dir, 4, fs), -ENOENT);
	assert_int_equal(seen, 1);
	due = 0;
	assert_int_equal(filter_stats_publish(dir, 4, c, &due, NULL, NULL), 0);
	assert_int_equal(filter_stats_read(dir, 4, fs), 0);
	/* a directory it cannot write to: the error comes back, the caller still sees it */
	due = 0;
	assert_int_equal(filter_stats_publish("/nonexistent/a/b", 4, c, &due, count_seen, &seen),
			 -ENOENT);
	assert_int_equal(seen, 2);
	chain_destroy(c);
	free(fs);
}

#define RACE_REQS	20000

struct racer {
	struct filter_chain *c;
	uint16_t queue;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	struct filter_req req;
	int i;

	assert_int_equal(chain_req_init(r->c, &req, r->queue, 0, NULL, NULL), 0);
	for (i = 0; i < RACE_REQS; i++)
		run(&req, i % 2 ? FILTER_OP_WRITE : FILTER_OP_READ, 512);
	chain_req_fini(&req);
	return NULL;
}

/* Snapshots taken while two "queues" run requests: never going back, exact at the end. */
static void test_snapshot_while_serving(void **state)
{
	struct filter_chain *c = make_chain();
	struct filter_stats *fs = malloc(sizeof(*fs));
	struct racer r[2] = { { c, 0 }, { c, 1 } };
	pthread_t th[2];
	uint64_t last = 0, now;
	int i;

	atomic_store(&dones, 0);
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
	while (atomic_load(&dones) < 2 * RACE_REQS) {
		assert_int_equal(filter_stats_take(fs, c, 0, getpid()), 0);
		now = counter(fs, 0, "reads") + counter(fs, 0, "writes");
		assert_true(now >= last);
		last = now;
	}
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(filter_stats_take(fs, c, 0, getpid()), 0);
	assert_int_equal(counter(fs, 0, "reads"), RACE_REQS);
	assert_int_equal(counter(fs, 0, "writes"), RACE_REQS);
	assert_int_equal(counter(fs, 0, "bytes_written"), RACE_REQS * 512);
	chain_destroy(c);
	free(fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_chain_round_trip, make_dir, remove_dir),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test_setup_teardown(test_read_refuses, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_dead_server, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_publish, make_dir, remove_dir),
		cmocka_unit_test(test_snapshot_while_serving),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
