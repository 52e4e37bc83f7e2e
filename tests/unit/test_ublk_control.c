// SPDX-License-Identifier: GPL-2.0
/*
 * A CLI command reaches a filter of a running server through the state
 * directory (ublk/control.h): the server's poll carries it out once and
 * answers; a filter without ops->control, or none of that name, says so;
 * nobody polling is a timeout that withdraws the command.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "filters/chain.h"
#include "filters/registry.h"
#include "ublk/control.h"
#include "tmpdir.h"

static struct filter_chain *chain;
static volatile int stop;

/* no request passes in this test */
static void sink(struct filter_req *req)
{
	(void)req;
}

static const struct chain_sinks sinks = { sink, sink };

static void *server(void *arg)
{
	struct timespec tick = { 0, 10 * 1000000L };

	(void)arg;
	while (!stop) {
		ublk_control_poll(dir, 3, chain);
		nanosleep(&tick, NULL);
	}
	return NULL;
}

static void test_control(void **state)
{
	const struct filter_ops *ops[] = { &count_filter_ops };
	struct filter_config cfg = { .name = "count", .args = "", .disk_size = 1 << 20,
				     .block_size = 512, .queues = 1, .depth = 4 };
	char path[256];
	pthread_t t;

	(void)state;
	assert_int_equal(chain_create(&chain, ops, &cfg, 1, &sinks), 0);
	assert_int_equal(ublk_control_send(dir, 3, "cache", "two words", 100), -EINVAL);
	/* nobody polls: withdrawn */
	assert_int_equal(ublk_control_send(dir, 3, "count", "x", 100), -ETIMEDOUT);
	snprintf(path, sizeof(path), "%s/ublk3.control", dir);
	assert_int_not_equal(access(path, F_OK), 0);
	assert_int_equal(pthread_create(&t, NULL, server, NULL), 0);
	assert_int_equal(ublk_control_send(dir, 3, "count", "hold", 2000), -EOPNOTSUPP);
	assert_int_equal(ublk_control_send(dir, 3, "cache", "hold", 2000), -ENOENT);
	stop = 1;
	pthread_join(t, NULL);
	assert_int_not_equal(access(path, F_OK), 0);
	chain_destroy(chain);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_control, make_dir, remove_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
