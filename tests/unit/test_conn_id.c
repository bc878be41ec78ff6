// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * test_conn_id.c - connection ids from initial sequence numbers, their text form, trace and
 * span ids, and the clock alignment of report --join.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "conn_id.h"
#include "report_join.h"

static void test_make(void **state)
{
	uint8_t msg[27] = "hstrace conn_id v1", d[SHA256_DIGEST_LENGTH];
	uint64_t id = conn_id_make(0x01020304, 0xa0b0c0d0), want = 0;
	int i;

	(void)state;
	/* the definition in docs/json.md: SHA-256("hstrace conn_id v1" || client ISN || server
	 * ISN || 0x00), first 8 bytes big-endian */
	memcpy(msg + 18, "\x01\x02\x03\x04\xa0\xb0\xc0\xd0\x00", 9);
	SHA256(msg, sizeof(msg), d);
	for (i = 0; i < 8; i++)
		want = want << 8 | d[i];
	assert_true(id == want);
	assert_true(conn_id_make(0x01020304, 0xa0b0c0d0) == id); /* deterministic */
	assert_true(conn_id_make(0xa0b0c0d0, 0x01020304) != id); /* the roles count */
	assert_true(conn_id_make(0x01020305, 0xa0b0c0d0) != id);
	assert_true(conn_id_make(0, 0) != 0);
}

static void test_text(void **state)
{
	char buf[CONN_ID_HEX_LEN];
	uint64_t id;

	(void)state;
	assert_string_equal(conn_id_format(0x00ab00cd00ef0012ULL, buf), "00ab00cd00ef0012");
	assert_int_equal(conn_id_parse("00AB00cd00ef0012", &id), 0);
	assert_true(id == 0x00ab00cd00ef0012ULL);
	assert_int_equal(conn_id_parse("00ab00cd00ef001", &id), -EINVAL);   /* 15 digits */
	assert_int_equal(conn_id_parse("00ab00cd00ef00123", &id), -EINVAL); /* 17 */
	assert_int_equal(conn_id_parse("00ab00cd00ef001g", &id), -EINVAL);
	assert_int_equal(conn_id_parse(NULL, &id), -EINVAL);
}

static void test_trace_span_ids(void **state)
{
	uint8_t t1[16], t2[16], c[8], s[8], zero[16] = {};
	uint64_t id = conn_id_make(1, 2);

	(void)state;
	conn_id_trace_id(id, t1);
	conn_id_trace_id(id, t2);
	assert_memory_equal(t1, t2, 16);	/* both hosts: one trace */
	assert_memory_not_equal(t1, zero, 16);
	conn_id_span_id(id, ROLE_CLIENT, c);
	conn_id_span_id(id, ROLE_SERVER, s);
	assert_memory_not_equal(c, s, 8);	/* two spans */
	assert_memory_not_equal(c, zero, 8);
	conn_id_trace_id(conn_id_make(1, 3), t2);
	assert_memory_not_equal(t1, t2, 16);
}

static void test_align(void **state)
{
	int64_t off, net;

	(void)state;
	/* server clock 1000 µs ahead; 20 µs each way; server holds the request 5 µs */
	assert_true(join_align(100, 1120, 1125, 145, &off, &net));
	assert_int_equal(off, 1000);
	assert_int_equal(net, 40);
	/* asymmetric: 30 out, 10 back: the offset is off by half the difference (10) */
	assert_true(join_align(100, 1130, 1130, 140, &off, &net));
	assert_int_equal(off, 1010);
	assert_int_equal(net, 40);
	/* an answer before its request, a server that held it longer than the round trip */
	assert_false(join_align(100, 1120, 1110, 145, &off, &net));
	assert_false(join_align(100, 1120, 1200, 145, &off, &net));
	assert_false(join_align(100, 1120, 1125, 90, &off, &net));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_make),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_trace_span_ids),
		cmocka_unit_test(test_align),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
