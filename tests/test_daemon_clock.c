/* test_daemon_clock.c: the clock watch (smtpwatchd.c).  A wall clock that
 * moves more than 600 s away from the monotonic one between two checks (an
 * NTP step, a resume) pauses the sign-in event rules for one sign-ins run,
 * and after a step back moves queued deliveries back with it.  The suite
 * hands the check its readings (what its timer reads from CLOCK_REALTIME
 * and CLOCK_MONOTONIC): a step is a pair of readings, no clock is set.
 * The daemon is the real one built from a config (the fixture); alerts
 * come from the real rules over sign-ins in the real store. */
#include <check.h>
#include <event2/event.h>

#include "alert.h"
#include "util.h"
#include "detect.h"
#include "check_main.h"
#include "daemon_fixture.h"
#include "signins.h"

static struct dfx f;
static int64_t wall0, mono0;

static void setup(void)
{
	dfx_open(&f, "foundation.json", NULL);
	wall0 = daemon_now();
	mono0 = daemon_mono_ms();
	daemon_clock_reset(wall0, mono0);
}

static void teardown(void)
{
	dfx_close(&f);
}

/* A successful SMTP AUTH sign-in of a mailbox the (empty) register does
 * not approve, 10 minutes ago: smtp-auth-unapproved fires on it. */
static void add_signin(const char *id, const char *upn)
{
	struct sw_signin v = {
		.id = (char *)id,
		.created = daemon_now() - 600,
		.created_text = "x",
		.upn = (char *)upn,
		.ip = "198.51.100.7",
		.country = "NL",
		.client_app = "Authenticated SMTP",
	};

	ck_assert_int_eq(sw_store_begin(f.d.store), 0);
	ck_assert_int_eq(sw_store_signins_add(f.d.store, "contoso", &v, 1, daemon_now(), NULL), 0);
	ck_assert_int_eq(sw_store_commit(f.d.store), 0);
}

static bool alert_for(const char *upn)
{
	struct sw_alert a = {0};
	bool found = sw_store_alert_find(f.d.store, SW_RULE_UNAPPROVED_BASIC_AUTH, "contoso", upn, &a) == 0;

	sw_alert_clear(&a);
	return found;
}

/* The next queued delivery to the sink "soc" is due at. */
static int64_t outbox_due(void)
{
	int64_t due = 0;

	ck_assert_int_eq(sw_store_outbox_next_due(f.d.store, "soc", &due), 0);
	return due;
}

/* A source run of the tenant ended, and its detection pass with it: the
 * pass runs in slices of a time budget, one a loop turn (under valgrind a
 * slice can end before the sign-in rules), so the rest runs here. */
static void run_ended(const char *source)
{
	daemon_source_done(&f.d, f.d.tenants[0], source, true);
	daemon_detect_finish(f.d.tenants[0]);
	ck_assert(!evtimer_pending(f.d.tenants[0]->detect_more, NULL));
}

/* Without a step the rules run after every run; the clocks drifting 600 s
 * apart (the limit, not past it) is no step. */
START_TEST(test_no_step_no_pause)
{
	daemon_clock_check(&f.d, wall0 + 10, mono0 + 10000);
	daemon_clock_check(&f.d, wall0 + 10 + 600, mono0 + 10000); /* wall 600 s ahead of mono */
	ck_assert_int_eq(daemon_clock_paused(), 0);
	add_signin("a1", "scanner2@contoso.com");
	run_ended("signins");
	ck_assert(alert_for("scanner2@contoso.com"));
}
END_TEST

/* A step forward past 600 s: the sign-in rules skip the next sign-ins run
 * (an Exchange run meanwhile does not count), and run at the one after;
 * nothing is skipped, the sign-in is judged then. */
START_TEST(test_step_forward_pauses_one_signins_run)
{
	daemon_clock_check(&f.d, wall0 + 10 + 601, mono0 + 10000);
	ck_assert_int_eq(daemon_clock_paused(), 1);
	add_signin("b1", "scanner2@contoso.com");
	run_ended("exchange");
	ck_assert(!alert_for("scanner2@contoso.com"));
	ck_assert_int_eq(daemon_clock_paused(), 1);
	run_ended("signins");
	ck_assert(!alert_for("scanner2@contoso.com"));
	ck_assert_int_eq(daemon_clock_paused(), 0);
	run_ended("signins");
	ck_assert(alert_for("scanner2@contoso.com"));
}
END_TEST

/* The same, with every page and step a slice of its own (a loaded
 * machine, a large store): the paused pass goes on over several loop
 * turns, and its continuations run what it was asked for; they do not
 * gain the sign-in rules, which wait for the next sign-ins run. */
START_TEST(test_step_forward_pauses_sliced_pass)
{
	daemon_detect_slice_set(0);
	daemon_clock_check(&f.d, wall0 + 10 + 601, mono0 + 10000);
	ck_assert_int_eq(daemon_clock_paused(), 1);
	add_signin("s1", "scanner2@contoso.com");
	daemon_source_done(&f.d, f.d.tenants[0], "signins", true);
	ck_assert_msg(evtimer_pending(f.d.tenants[0]->detect_more, NULL),
	              "with no time budget the pass is left for a later loop turn");
	daemon_detect_finish(f.d.tenants[0]);
	ck_assert_msg(!alert_for("scanner2@contoso.com"), "a continuation of the paused pass ran the sign-in rules");
	ck_assert_int_eq(daemon_clock_paused(), 0);
	run_ended("signins");
	ck_assert(alert_for("scanner2@contoso.com"));
	daemon_detect_slice_set(-1);
}
END_TEST

/* A step back of an hour: queued deliveries move back by the skew, so
 * they do not wait until the clock is where it was; the rules pause. */
START_TEST(test_step_back_moves_outbox)
{
	add_signin("c1", "scanner2@contoso.com");
	run_ended("signins");
	ck_assert(alert_for("scanner2@contoso.com"));
	int64_t due = outbox_due();

	daemon_clock_check(&f.d, wall0 + 10 - 3600, mono0 + 10000);
	ck_assert_int_eq(daemon_clock_paused(), 1);
	ck_assert_int_eq(outbox_due(), due - 3600);

	/* The next check compares with the new readings: no second shift. */
	daemon_clock_check(&f.d, wall0 + 20 - 3600, mono0 + 20000);
	ck_assert_int_eq(outbox_due(), due - 3600);
}
END_TEST

/* A step forward leaves queued deliveries where they are (due early). */
START_TEST(test_step_forward_leaves_outbox)
{
	add_signin("d1", "scanner2@contoso.com");
	run_ended("signins");
	int64_t due = outbox_due();

	daemon_clock_check(&f.d, wall0 + 10 + 3600, mono0 + 10000);
	ck_assert_int_eq(daemon_clock_paused(), 1);
	ck_assert_int_eq(outbox_due(), due);
}
END_TEST

/* The loop's "loop" member in status, parsed. */
static json_t *status_loop(void)
{
	struct sw_buf out = {0};
	json_error_t err;

	ck_assert_int_eq(sw_buf_append(&out, "{", 1), 0);
	ck_assert_int_eq(daemon_status_rest(&f.d, daemon_now(), &out), 0);
	json_t *doc = json_loadb(out.data, out.len, 0, &err);
	ck_assert_msg(doc != NULL, "status rest parses: %s", err.text);
	sw_buf_clear(&out);
	json_t *loop = json_incref(json_object_get(doc, "loop"));
	json_decref(doc);
	ck_assert_ptr_nonnull(loop);
	return loop;
}

/* The stall probe names what held the loop (issue 22 #4): the longest
 * step since its last firing, kept beside the longest stall.  A step
 * that began 150 ms ago on the monotonic clock took 150 ms when it ends
 * now; the outer callback around it (http's, in which a source stored a
 * page) keeps the inner one's name; a later, longer stall with no step
 * measured says so (null), as a SIGSTOP would. */
START_TEST(test_probe_names_the_longest_step)
{
	int64_t now = daemon_mono_us();

	f.d.probe.due_us = now;
	daemon_loop_step(&f.d, "control request", NULL, now - 20000);
	daemon_loop_step(&f.d, "detection", "contoso", now - 150000);
	daemon_loop_step(&f.d, "http", NULL, now - 160000);
	daemon_loop_step(&f.d, "delivery", NULL, now - 1000);
	now = daemon_mono_us();
	daemon_loop_probe(&f.d, now + 170000, 0);
	ck_assert_int_eq(f.d.probe.over_100ms, 1);
	json_t *loop = status_loop();
	ck_assert_int_ge(json_integer_value(json_object_get(loop, "stall_max_ms")), 170);
	json_t *step = json_object_get(loop, "stall_max_step");
	ck_assert_str_eq(json_string_value(json_object_get(step, "what")), "detection");
	ck_assert_str_eq(json_string_value(json_object_get(step, "tenant")), "contoso");
	/* The outer's time: 160 ms and what the calls themselves took. */
	ck_assert_int_ge(json_integer_value(json_object_get(step, "ms")), 160);
	ck_assert_int_lt(json_integer_value(json_object_get(step, "ms")), 170);
	json_decref(loop);

	/* Steps are counted from one firing to the next: this one saw none. */
	daemon_loop_probe(&f.d, f.d.probe.due_us + 400000, 0);
	ck_assert_int_eq(f.d.probe.over_100ms, 2);
	loop = status_loop();
	ck_assert_int_ge(json_integer_value(json_object_get(loop, "stall_max_ms")), 400);
	ck_assert(json_is_null(json_object_get(loop, "stall_max_step")));
	json_decref(loop);

	/* An outer callback much longer than the step within it is named
	 * itself, with no tenant. */
	now = daemon_mono_us();
	daemon_loop_step(&f.d, "detection", "contoso", now - 100000);
	daemon_loop_step(&f.d, "http", NULL, now - 900000);
	daemon_loop_probe(&f.d, f.d.probe.due_us + 950000, 0);
	loop = status_loop();
	step = json_object_get(loop, "stall_max_step");
	ck_assert_str_eq(json_string_value(json_object_get(step, "what")), "http");
	ck_assert(json_is_null(json_object_get(step, "tenant")));
	json_decref(loop);
}
END_TEST

/* A detection page sized to the pace of the slice before (issue 22 #4):
 * half a budget of 20 ms a page.  500 sign-ins in 73 ms (the worst page
 * seen on the 9.8M store) brings the page halfway down to 68, not at
 * once; slices that keep that pace bring it to about 70; a fast pace
 * brings it back up to the largest; never under DETECT_PAGE_MIN, and a
 * slice that examined nothing or measured nothing leaves it. */
START_TEST(test_detect_page_follows_the_pace)
{
	unsigned page = daemon_detect_page(0, 500, 73000, 20000);

	ck_assert_uint_eq(page, (500 + 68 + 1) / 2);
	for (int i = 0; i < 10; i++)
		page = daemon_detect_page(page, page, (int64_t)page * 73000 / 500, 20000);
	ck_assert_uint_ge(page, 66);
	ck_assert_uint_le(page, 70);
	for (int i = 0; i < 10; i++)
		page = daemon_detect_page(page, page, page * 10, 20000); /* 100 a ms */
	ck_assert_uint_eq(page, SW_DETECT_SLICE_PAGE);
	ck_assert_uint_eq(daemon_detect_page(60, 60, 1000000, 20000), (60 + DETECT_PAGE_MIN + 1) / 2);
	ck_assert_uint_eq(daemon_detect_page(DETECT_PAGE_MIN, 1, 1000000, 20000), DETECT_PAGE_MIN);
	ck_assert_uint_eq(daemon_detect_page(200, 0, 5000, 20000), 200);
	ck_assert_uint_eq(daemon_detect_page(200, 100, 0, 20000), 200);
	ck_assert_uint_eq(daemon_detect_page(200, 100, 5000, 0), 200);
}
END_TEST

static Suite *daemon_clock_suite(void)
{
	Suite *s = suite_create("daemon_clock");
	TCase *tc = tcase_create("clock");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_no_step_no_pause);
	tcase_add_test(tc, test_step_forward_pauses_one_signins_run);
	tcase_add_test(tc, test_step_forward_pauses_sliced_pass);
	tcase_add_test(tc, test_step_back_moves_outbox);
	tcase_add_test(tc, test_step_forward_leaves_outbox);
	tcase_add_test(tc, test_probe_names_the_longest_step);
	tcase_add_test(tc, test_detect_page_follows_the_pace);
	suite_add_tcase(s, tc);
	return s;
}

SW_CHECK_MAIN(daemon_clock_suite)
