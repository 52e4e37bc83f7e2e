// SPDX-License-Identifier: GPL-2.0
/* The JSON writer: commas, nesting, escaping and non-finite numbers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/json.h"

static char *render(void (*fn)(struct json_writer *))
{
	struct json_writer w;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	json_init(&w, f);
	fn(&w);
	assert_int_equal(json_end(&w), 0);
	fclose(f);
	return buf;
}

static void nested(struct json_writer *w)
{
	json_obj_open(w);
	json_kv_str(w, "a", "x");
	json_key(w, "b");
	json_arr_open(w);
	json_u64(w, 1);
	json_i64(w, -2);
	json_obj_open(w);
	json_obj_close(w);
	json_arr_close(w);
	json_kv_bool(w, "c", false);
	json_obj_close(w);
}

static void test_nesting_and_commas(void **state)
{
	char *s = render(nested);

	assert_string_equal(s, "{\"a\":\"x\",\"b\":[1,-2,{}],\"c\":false}\n");
	free(s);
}

static void escapes(struct json_writer *w)
{
	json_str(w, "q\"b\\n\n\x01");
}

static void test_escaping(void **state)
{
	char *s = render(escapes);

	assert_string_equal(s, "\"q\\\"b\\\\n\\n\\u0001\"\n");
	free(s);
}

static void non_finite(struct json_writer *w)
{
	json_arr_open(w);
	json_double(w, 1.5);
	json_double(w, 0.0 / 0.0);
	json_double(w, 1.0 / 0.0);
	json_str(w, NULL);
	json_arr_close(w);
}

static void test_non_finite_is_null(void **state)
{
	char *s = render(non_finite);

	assert_string_equal(s, "[1.5,null,null,null]\n");
	free(s);
}

static void too_deep(struct json_writer *w)
{
	int i;

	for (i = 0; i < JSON_MAX_DEPTH + 2; i++)
		json_arr_open(w);
}

static void test_depth_overflow_reported(void **state)
{
	struct json_writer w;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	json_init(&w, f);
	too_deep(&w);
	assert_int_not_equal(json_end(&w), 0);
	fclose(f);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nesting_and_commas),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_non_finite_is_null),
		cmocka_unit_test(test_depth_overflow_reported),
	};

	return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
