// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * test_timeline.c - the timeline model: phases built by tl_phase_add() from their start and
 * end events, estimates, and the lookups renderers and exporters use.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <linux/types.h>

#include "hstrace.h"
#include "timeline.h"

#define EV(ts, app, kind, d) \
	((struct tl_event){ .ts_ns = (ts), .app_ns = (app), .event = (kind), .dir = (d) })

static void server(struct timeline *tl, struct tl_event ev[5])
{
	memset(tl, 0, sizeof(*tl));
	ev[0] = EV(1000, 0, HS_EV_SYN_RECV, DIR_IN);
	ev[1] = EV(1300, 0, HS_EV_ESTABLISHED, DIR_IN);
	ev[2] = EV(2000, 2500, TL_EV_CLIENT_HELLO, DIR_IN); /* read 500 ns after arrival */
	ev[3] = EV(3100, 3000, TL_EV_SERVER_HELLO, DIR_OUT); /* written 100 ns before sent */
	ev[4] = EV(4000, 0, TL_EV_APP_DATA, DIR_IN);
	tl->events = ev;
	tl->n_events = 5;
}

static void test_phase_add_wire(void **state)
{
	const struct tl_phase *ph;
	struct tl_event ev[5];
	struct timeline tl;

	(void)state;
	server(&tl, ev);
	assert_true(tl_phase_add(&tl, "server_think", 2, TL_AT_WIRE, 3, TL_AT_WIRE));
	ph = tl_phase_find(&tl, "server_think");
	assert_non_null(ph);
	assert_int_equal(ph->start_ns, 2000);
	assert_int_equal(ph->end_ns, 3100);
	assert_int_equal(ph->dur_ns, 1100);
	assert_int_equal(ph->from_ev, 2);
	assert_int_equal(ph->to_ev, 3);
	assert_false(ph->estimated);
}

static void test_phase_add_app(void **state)
{
	const struct tl_phase *ph;
	struct tl_event ev[5];
	struct timeline tl;
	uint64_t d;

	(void)state;
	server(&tl, ev);
	/* the application read the ClientHello at 2500, wrote its ServerHello at 3000 */
	assert_true(tl_phase_add(&tl, "app_think", 2, TL_AT_APP, 3, TL_AT_APP));
	/* the ClientHello arrived at 2000, read at 2500 */
	assert_true(tl_phase_add(&tl, "hello_read_wait", 2, TL_AT_WIRE, 2, TL_AT_APP));
	assert_true(tl_phase_get(&tl, "app_think", &d));
	assert_int_equal(d, 500);
	ph = tl_phase_find(&tl, "hello_read_wait");
	assert_int_equal(ph->start_ns, 2000);
	assert_int_equal(ph->end_ns, 2500);
	assert_int_equal(ph->from_at, TL_AT_WIRE);
	assert_int_equal(ph->to_at, TL_AT_APP);
	assert_int_equal(ph->from_ev, ph->to_ev);
}

static void test_phase_add_refused(void **state)
{
	struct tl_event ev[5];
	struct timeline tl;
	size_t i;

	(void)state;
	server(&tl, ev);
	assert_false(tl_phase_add(&tl, "x", -1, TL_AT_WIRE, 3, TL_AT_WIRE));  /* no start event */
	assert_false(tl_phase_add(&tl, "x", 1, TL_AT_WIRE, 5, TL_AT_WIRE));   /* out of range */
	assert_false(tl_phase_add(&tl, "x", 3, TL_AT_WIRE, 2, TL_AT_WIRE));   /* ends before */
	assert_false(tl_phase_add(&tl, "x", 2, TL_AT_APP, 4, TL_AT_APP));     /* no app time */
	assert_false(tl_phase_add(&tl, "x", 3, TL_AT_WIRE, 3, TL_AT_APP));    /* written before sent */
	assert_int_equal(tl.n_phases, 0);
	assert_false(tl_phase_get(&tl, "x", NULL));
	for (i = 0; i < TL_MAX_PHASES; i++)
		assert_true(tl_phase_add(&tl, "y", 0, TL_AT_WIRE, 1, TL_AT_WIRE));
	assert_false(tl_phase_add(&tl, "z", 0, TL_AT_WIRE, 1, TL_AT_WIRE)); /* table full */
	assert_false(tl_phase_add_estimate(&tl, "z", 1, 2));
	assert_int_equal(tl.n_phases, TL_MAX_PHASES);
}

static void test_phase_estimate(void **state)
{
	const struct tl_phase *ph;
	struct tl_event ev[5];
	struct timeline tl;

	(void)state;
	server(&tl, ev);
	assert_false(tl_phase_add_estimate(&tl, "peer_think", 20, 10));
	assert_true(tl_phase_add_estimate(&tl, "peer_think", 10, 20));
	ph = tl_phase_find(&tl, "peer_think");
	assert_true(ph->estimated);
	assert_int_equal(ph->from_ev, -1);
	assert_int_equal(ph->to_ev, -1);
	assert_int_equal(ph->dur_ns, 10);
}

static void test_event_find(void **state)
{
	struct tl_event ev[5];
	struct timeline tl;

	(void)state;
	server(&tl, ev);
	assert_int_equal(tl_event_find(&tl, TL_EV_SERVER_HELLO, DIR_NONE), 3);
	assert_int_equal(tl_event_find(&tl, TL_EV_SERVER_HELLO, DIR_OUT), 3);
	assert_int_equal(tl_event_find(&tl, TL_EV_SERVER_HELLO, DIR_IN), -1);
	assert_int_equal(tl_event_find(&tl, HS_EV_CLOSED, DIR_NONE), -1);
	assert_int_equal(tl_event_time(&tl, 2, TL_AT_APP), 2500);
	assert_int_equal(tl_event_time(&tl, 2, TL_AT_WIRE), 2000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_phase_add_wire),
		cmocka_unit_test(test_phase_add_app),
		cmocka_unit_test(test_phase_add_refused),
		cmocka_unit_test(test_phase_estimate),
		cmocka_unit_test(test_event_find),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
