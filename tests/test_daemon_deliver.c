/* test_daemon_deliver.c: the outbox workers (deliver.c): the back-off
 * schedule, and the schedule it makes for a real sink.  The daemon of
 * daemon_fixture.h (a real store in a temporary directory, a real event
 * base) with its webhook sink "soc" pointed at the simulator's receiver
 * /hooks/soc on loopback, whose answer each test sets.  A wait is never
 * slept through: the test reads the next attempt the worker stored, moves
 * the outbox's clock past it (sw_store_outbox_shift, as the clock watch
 * does) and kicks the workers.  The dead-item test adds a syslog sink
 * "log" on a unix datagram socket of its own, which sees delivery-dead. */
#include <check.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "check_main.h"
#include "daemon_fixture.h"
#include "deliver_internal.h"

#define DRAWS 400
#define ALERT_ID "A-7"
#define ALERT_DOC "{\"schema\":\"smtpwatch.alert/1\",\"id\":\"A-7\",\"rule\":\"mailbox-auth-enabled\"," \
                  "\"tenant\":\"contoso\",\"subject\":\"scanner@contoso.com\",\"severity\":\"high\"}"

static struct dfx f;

static void setup(void)
{
	dfx_open(&f, "foundation.json", NULL);
}

static void teardown(void)
{
	dfx_close(&f);
}

static char log_path[108];
static int log_fd = -1;

/* The daemon with a second sink, syslog to a datagram socket bound here. */
static void setup_log_sink(void)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char extra[256];

	snprintf(log_path, sizeof(log_path), "/tmp/sw-deliver-%d.sock", (int)getpid());
	unlink(log_path);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", log_path);
	log_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(log_fd, 0);
	ck_assert_int_eq(bind(log_fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	snprintf(extra, sizeof(extra), "\n[sink log]\ntype = syslog\naddress = unix:%s\n", log_path);
	dfx_open(&f, "foundation.json", extra);
}

static void teardown_log_sink(void)
{
	dfx_close(&f);
	close(log_fd);
	unlink(log_path);
}

/* The receiver's answer from now on. */
static void hook_answer(int status, int retry_after)
{
	char body[96];

	if (retry_after >= 0)
		snprintf(body, sizeof(body), "{\"status\":%d,\"retry_after\":%d}", status, retry_after);
	else
		snprintf(body, sizeof(body), "{\"status\":%d}", status);
	json_decref(dfx_sim(&f, "POST", "/_sim/hooks/soc/status", body));
}

/* What the receiver got (new reference). */
static json_t *hook_records(void)
{
	return dfx_sim(&f, "GET", "/_sim/hooks/soc", NULL);
}

static struct sw_outbox_stats sink_stats(void)
{
	struct sw_outbox_stats st;

	ck_assert_int_eq(sw_store_outbox_stats(f.d.store, "soc", &st), 0);
	return st;
}

/* The worker recorded the outcome of attempt n: nothing in flight and n
 * attempts counted. */
struct attempts {
	int64_t n;
};

static bool attempts_recorded(void *arg)
{
	struct attempts *a = arg;
	struct sw_outbox_stats st = sink_stats();

	return deliver_active(f.d.deliver) == 0 && st.failed_attempts + st.delivered >= a->n;
}

/* Let the worker make attempt n (a kick, as after a poll) and wait, 10 s
 * at most, until its outcome is recorded; the wall clock before and after. */
static void attempt(int64_t n, int64_t *ret_before, int64_t *ret_after)
{
	struct attempts a = {n};

	*ret_before = daemon_now();
	deliver_kick(f.d.deliver);
	ck_assert_msg(dfx_run_until(&f, attempts_recorded, &a, 10000), "attempt %lld was not recorded",
	              (long long)n);
	*ret_after = daemon_now();
}

/* The next attempt the worker stored for the sink. */
static int64_t next_due(void)
{
	int64_t due = 0;

	ck_assert_int_eq(sw_store_outbox_next_due(f.d.store, "soc", &due), 0);
	return due;
}

/* Make the stored next attempt due now. */
static void elapse(void)
{
	int64_t due = next_due(), now = daemon_now();

	if (due > now)
		ck_assert_int_eq(sw_store_outbox_shift(f.d.store, now - due, NULL), 0);
	deliver_backoff_end(f.d.deliver);
}

static bool busy(void *arg)
{
	return deliver_active(f.d.deliver) > 0;
}

/* The pure schedule: attempt n waits 10 s * 2^(n-1), at most 1 h, each
 * +-20%; the ranges of consecutive attempts do not overlap below the cap,
 * so each wait is longer than any before it. */
START_TEST(test_backoff_schedule)
{
	int64_t prev_max = 0;

	for (int n = 1; n <= 16; n++) {
		int64_t base = 10, lo = INT64_MAX, hi = 0;

		for (int i = 1; i < n && base < 3600; i++)
			base *= 2;
		if (base > 3600)
			base = 3600;
		for (int i = 0; i < DRAWS; i++) {
			int64_t b = deliver_backoff(n);

			ck_assert_msg(b * 100 >= base * 80 && b * 100 <= base * 120,
			              "attempt %d waits %llds, outside %llds +-20%%", n, (long long)b, (long long)base);
			lo = b < lo ? b : lo;
			hi = b > hi ? b : hi;
		}
		/* Jittered: DRAWS draws of 41 equally likely steps all on one
		 * side of the middle would be a broken random source. */
		ck_assert_msg(lo < base && hi > base, "attempt %d: every wait in [%lld, %lld] around %lld s", n,
		              (long long)lo, (long long)hi, (long long)base);
		if (base < 3600)
			ck_assert_msg(lo > prev_max, "attempt %d may wait %llds, no longer than attempt %d's %llds", n,
			              (long long)lo, n - 1, (long long)prev_max);
		else
			ck_assert_int_le(hi, 4320); /* capped */
		prev_max = hi;
	}
}
END_TEST

/* A failing sink is tried again after its back-off, which grows, and not
 * before; the 2xx that follows marks the item delivered.  Every attempt
 * is the same request, byte for byte, with the same Idempotency-Key. */
START_TEST(test_retry_schedule)
{
	int64_t before, after, due;
	struct sw_outbox_stats st;
	json_t *recs;

	hook_answer(500, -1);
	ck_assert_int_eq(sw_store_outbox_add(f.d.store, ALERT_ID, 1, "soc", ALERT_DOC, daemon_now()), 0);

	attempt(1, &before, &after);
	due = next_due();
	ck_assert_msg(due >= before + 8 && due <= after + 12, "first retry in %llds, not 10 s +-20%%",
	              (long long)(due - after));
	st = sink_stats();
	ck_assert_int_eq(st.failed_attempts, 1);
	ck_assert_str_eq(st.last_error, "HTTP 500");

	/* Within the back-off a kick (a poll that queued nothing) sends nothing. */
	deliver_kick(f.d.deliver);
	ck_assert(!dfx_run_until(&f, busy, NULL, 300));
	recs = hook_records();
	ck_assert_int_eq(json_array_size(recs), 1);
	json_decref(recs);

	/* The back-off elapsed: attempt 2 fails too and waits twice as long. */
	elapse();
	attempt(2, &before, &after);
	due = next_due();
	ck_assert_msg(due >= before + 16 && due <= after + 24, "second retry in %llds, not 20 s +-20%%",
	              (long long)(due - after));

	/* The receiver is back: attempt 3 delivers, nothing is left queued. */
	hook_answer(202, -1);
	elapse();
	attempt(3, &before, &after);
	st = sink_stats();
	ck_assert_int_eq(st.delivered, 1);
	ck_assert_int_eq(st.queued, 0);
	ck_assert_int_eq(st.failed_attempts, 2);
	ck_assert_int_eq(sw_store_outbox_next_due(f.d.store, "soc", &due), -ENOENT);

	recs = hook_records();
	ck_assert_int_eq(json_array_size(recs), 3);
	for (size_t i = 0; i < 3; i++) {
		json_t *r = json_array_get(recs, i);

		ck_assert_str_eq(json_string_value(json_object_get(r, "body")), ALERT_DOC);
		ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "headers"), "idempotency-key")),
		                 ALERT_ID "-1");
	}
	json_decref(recs);
}
END_TEST

/* A receiver's Retry-After longer than the back-off is waited for; one
 * past the cap is held to the cap (1 h). */
START_TEST(test_retry_after)
{
	int64_t before, after, due;

	hook_answer(503, 300);
	ck_assert_int_eq(sw_store_outbox_add(f.d.store, ALERT_ID, 1, "soc", ALERT_DOC, daemon_now()), 0);
	attempt(1, &before, &after);
	due = next_due();
	ck_assert_msg(due >= before + 300 && due <= after + 300, "retry in %llds, not the 300 s asked for",
	              (long long)(due - after));

	hook_answer(429, 86400);
	elapse();
	attempt(2, &before, &after);
	due = next_due();
	ck_assert_msg(due >= before + 3600 && due <= after + 3600, "retry in %llds, not the 1 h cap",
	              (long long)(due - after));
}
END_TEST

static bool item_dead(void *arg)
{
	return deliver_active(f.d.deliver) == 0 && sink_stats().dead >= 1;
}

/* The next message on the log sink's socket, waited for in the loop
 * (10 s at most). */
struct datagram {
	char text[4096];
};

static bool datagram_read(void *arg)
{
	struct datagram *m = arg;
	ssize_t n = recv(log_fd, m->text, sizeof(m->text) - 1, MSG_DONTWAIT);

	if (n < 0)
		return false;
	m->text[n] = '\0';
	return true;
}

/* An item still failing dead_after (3 days) after it was queued is dead,
 * and the other sink hears delivery-dead about this one; the sink's next
 * success resolves it there. */
START_TEST(test_dead_item)
{
	struct datagram m;
	struct attempts a = {1};
	int64_t now = daemon_now();

	hook_answer(500, -1);
	ck_assert_int_eq(sw_store_outbox_add(f.d.store, ALERT_ID, 1, "soc", ALERT_DOC, now - 3 * 86400 - 60), 0);
	deliver_kick(f.d.deliver);
	ck_assert_msg(dfx_run_until(&f, item_dead, NULL, 10000), "the item did not go dead");
	ck_assert_int_eq(sink_stats().queued, 0);
	ck_assert_msg(dfx_run_until(&f, datagram_read, &m, 10000), "the log sink heard nothing");
	ck_assert_msg(strstr(m.text, SW_RULE_DELIVERY_DEAD) != NULL && strstr(m.text, "soc") != NULL,
	              "not delivery-dead about soc: %s", m.text);
	ck_assert_ptr_null(strstr(m.text, "resolved"));

	/* The receiver is back: the next alert goes out and resolves it. */
	hook_answer(200, -1);
	ck_assert_int_eq(sw_store_outbox_add(f.d.store, "A-8", 1, "soc", ALERT_DOC, daemon_now()), 0);
	a.n = 2; /* one failed attempt, one delivery */
	deliver_backoff_end(f.d.deliver); /* the sink's back-off from the 500 has passed */
	deliver_kick(f.d.deliver);
	ck_assert(dfx_run_until(&f, attempts_recorded, &a, 10000));
	ck_assert_int_eq(sink_stats().delivered, 1);
	ck_assert_msg(dfx_run_until(&f, datagram_read, &m, 10000), "the log sink heard no resolution");
	ck_assert_msg(strstr(m.text, SW_RULE_DELIVERY_DEAD) != NULL && strstr(m.text, "resolved") != NULL,
	              "not delivery-dead resolved: %s", m.text);
}
END_TEST

static Suite *deliver_suite(void)
{
	Suite *s = suite_create("daemon_deliver");
	TCase *tc = tcase_create("backoff");

	tcase_add_test(tc, test_backoff_schedule);
	suite_add_tcase(s, tc);
	tc = tcase_create("schedule");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_retry_schedule);
	tcase_add_test(tc, test_retry_after);
	suite_add_tcase(s, tc);
	tc = tcase_create("dead");
	tcase_add_checked_fixture(tc, setup_log_sink, teardown_log_sink);
	tcase_add_test(tc, test_dead_item);
	suite_add_tcase(s, tc);
	return s;
}

SW_CHECK_MAIN(deliver_suite)
