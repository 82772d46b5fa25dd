/* test_daemon_http.c: http.c's limit on transfers at once.  More requests
 * than HTTP_MAX_ACTIVE go to the simulator's receiver (/hooks/burst/N) on
 * a real event base: each is answered once, no more than HTTP_MAX_ACTIVE
 * are ever in flight, and a cancelled request, in flight or still
 * waiting for a slot, never calls back; slots asked for before a request
 * is made are given in order. */
#include <check.h>

#include "check_main.h"
#include "daemon_fixture.h"

#define N_REQ (HTTP_MAX_ACTIVE * 2 + 44)

static struct dfx f;

struct slot {
	int calls;
	long status;
	bool cancelled;
};

static struct slot slots[N_REQ];
static int answered, most_running;

static void setup(void)
{
	dfx_open(&f, "foundation.json", NULL);
	memset(slots, 0, sizeof(slots));
	answered = most_running = 0;
}

static void teardown(void)
{
	dfx_close(&f);
}

static void burst_cb(struct http_response *res, void *arg)
{
	struct slot *s = arg;
	int running = http_running(f.d.http);

	s->calls++;
	s->status = res->status;
	answered++;
	if (running > most_running)
		most_running = running;
}

static bool all_answered(void *arg)
{
	return answered >= *(int *)arg;
}

static void submit(int i)
{
	char url[128];
	struct http_request req = {
		.method = "POST",
		.url = url,
		.body = "{}",
		.body_len = 2,
		.timeout_ms = 30000,
		.cb = burst_cb,
		.arg = &slots[i],
	};

	snprintf(url, sizeof(url), "%s/hooks/burst/%d", f.sim_url, i);
	ck_assert_int_eq(http_submit(f.d.http, &req), 0);
}

START_TEST(test_more_than_the_limit_all_answered)
{
	int expect = 0, received;
	json_t *recs;

	for (int i = 0; i < N_REQ; i++)
		submit(i);
	ck_assert_int_eq(http_active(f.d.http), N_REQ);
	ck_assert_int_eq(http_running(f.d.http), HTTP_MAX_ACTIVE);
	/* One in flight, three waiting (the first, one in the middle, the
	 * last): none of them may call back. */
	for (int i = 0; i < N_REQ; i++) {
		slots[i].cancelled = i == 1 || i == HTTP_MAX_ACTIVE + 1 || i == N_REQ / 2 + HTTP_MAX_ACTIVE / 2 ||
		                     i == N_REQ - 1;
		if (slots[i].cancelled)
			http_cancel_arg(f.d.http, &slots[i]);
		else
			expect++;
	}
	ck_assert_int_eq(http_active(f.d.http), expect);
	/* A request submitted now waits behind the others. */
	ck_assert_int_lt(http_running(f.d.http), HTTP_MAX_ACTIVE);
	ck_assert(dfx_run_until(&f, all_answered, &expect, 50000));
	/* Let anything late call back before counting. */
	int more = expect + 1;
	dfx_run_until(&f, all_answered, &more, 300);
	ck_assert_int_eq(answered, expect);
	ck_assert_int_le(most_running, HTTP_MAX_ACTIVE);
	ck_assert_int_eq(http_active(f.d.http), 0);
	for (int i = 0; i < N_REQ; i++) {
		ck_assert_msg(slots[i].calls == (slots[i].cancelled ? 0 : 1), "request %d: %d callbacks", i,
		              slots[i].calls);
		if (!slots[i].cancelled)
			ck_assert_int_eq(slots[i].status, 200);
	}
	/* The waiting ones that were cancelled never reached the receiver. */
	recs = dfx_sim(&f, "GET", "/_sim/hooks/burst", NULL);
	received = (int)json_array_size(recs);
	ck_assert_int_ge(received, expect);
	ck_assert_int_le(received, expect + 1); /* the one cancelled in flight may have arrived */
	for (size_t k = 0; k < json_array_size(recs); k++) {
		const char *path = json_string_value(json_object_get(json_array_get(recs, k), "path"));
		ck_assert_ptr_nonnull(path);
		int i = atoi(strrchr(path, '/') + 1);
		ck_assert_msg(!slots[i].cancelled || i == 1, "cancelled request %d reached the receiver", i);
	}
	json_decref(recs);
}
END_TEST

/* A slot asked for (a poller's http_slot): granted in order once
 * transfers end, and the request made in its callback goes on the wire
 * at once instead of waiting as a copy. */
static struct slot waiters[3];
static struct http_slot wslots[3];
static int granted[3], n_granted, waited_as_copy;

static void slot_cb(void *arg)
{
	int i = (int)((struct slot *)arg - waiters);
	char url[128];
	struct http_request req = {
		.method = "POST", .url = url, .body = "{}", .body_len = 2, .timeout_ms = 30000,
		.cb = burst_cb, .arg = arg,
	};
	int before = http_running(f.d.http);

	granted[n_granted++] = i;
	/* As a poller does: asks again in its callback, and has it, though
	 * others wait behind. */
	ck_assert(http_slot_take(f.d.http, &wslots[i], slot_cb, arg));
	snprintf(url, sizeof(url), "%s/hooks/burst/w%d", f.sim_url, i);
	ck_assert_int_eq(http_submit(f.d.http, &req), 0);
	if (http_running(f.d.http) != before + 1)
		waited_as_copy++;
}

START_TEST(test_slots_wait_in_order)
{
	int expect = HTTP_MAX_ACTIVE + 2;

	memset(waiters, 0, sizeof(waiters));
	memset(wslots, 0, sizeof(wslots));
	n_granted = waited_as_copy = 0;
	/* A free slot is given at once, and nothing is queued. */
	ck_assert(http_slot_take(f.d.http, &wslots[0], slot_cb, &waiters[0]));
	ck_assert_int_eq(http_active(f.d.http), 0);
	for (int i = 0; i < HTTP_MAX_ACTIVE; i++)
		submit(i);
	for (int i = 0; i < 3; i++)
		ck_assert(!http_slot_take(f.d.http, &wslots[i], slot_cb, &waiters[i]));
	ck_assert_int_eq(http_active(f.d.http), HTTP_MAX_ACTIVE + 3);
	/* Asked twice, queued once. */
	ck_assert(!http_slot_take(f.d.http, &wslots[2], slot_cb, &waiters[2]));
	ck_assert_int_eq(http_active(f.d.http), HTTP_MAX_ACTIVE + 3);
	http_cancel_arg(f.d.http, &waiters[1]);
	ck_assert_int_eq(http_active(f.d.http), HTTP_MAX_ACTIVE + 2);
	ck_assert(dfx_run_until(&f, all_answered, &expect, 50000));
	ck_assert_int_eq(n_granted, 2);
	ck_assert_int_eq(granted[0], 0);
	ck_assert_int_eq(granted[1], 2);
	ck_assert_int_eq(waited_as_copy, 0);
	ck_assert_int_eq(waiters[0].calls, 1);
	ck_assert_int_eq(waiters[1].calls, 0);
	ck_assert_int_eq(waiters[2].calls, 1);
	ck_assert_int_eq(waiters[2].status, 200);
	ck_assert_int_eq(http_active(f.d.http), 0);
}
END_TEST

static Suite *http_suite(void)
{
	Suite *s = suite_create("daemon_http");
	TCase *tc = tcase_create("limit");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_more_than_the_limit_all_answered);
	tcase_add_test(tc, test_slots_wait_in_order);
	suite_add_tcase(s, tc);
	return s;
}

SW_CHECK_MAIN(http_suite)
