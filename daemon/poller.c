/* poller.c: the Entra sign-ins source (Microsoft Graph auditLogs/signIns).
 *
 * Timing rules:
 * - Graph allows 5 requests per 10 s per app per tenant; every request goes
 *   through pace_delay(), so the poller paces itself instead of only
 *   reacting to 429.  429/503 wait Retry-After; other transient failures
 *   (5xx, network, a truncated or malformed body) retry the same page with
 *   growing waits, up to POLLER_PAGE_TRIES.
 * - Graph pages newest first, so the watermark can only move when the last
 *   page of a run is stored: a run that breaks halfway keeps the pages it
 *   committed (deduplicated by id when re-read) and the next run starts
 *   again from the old watermark less the lookback.
 * - A failed run is retried after 30 s, growing x4/3 up to the interval
 *   (timesyncd's back-off). */
#include "poller.h"

#include <errno.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "http.h"
#include "log.h"
#include "signins.h"
#include "smtpwatchd.h"
#include "store.h"

#define POLLER_SOURCE "signins"
#define POLLER_PAGE_TRIES 6
#define POLLER_BACKOFF_MIN 30
#define GRAPH_PACE_WINDOW_MS 10000
#define GRAPH_PACE_REQUESTS 5

enum poller_wait {
	WAIT_IDLE,  /* timer = next run */
	WAIT_PAGE,  /* timer = (re)send the current page */
};

struct poller {
	struct tenant *t;
	struct event *timer;
	enum poller_wait wait;
	bool running;
	int64_t next_run;   /* wall clock */
	int64_t backoff;    /* seconds; 0 after a success */

	/* The run in progress. */
	char *url;          /* the page to fetch */
	int tries;          /* for this page */
	bool retried_401;
	int64_t run_upper;  /* watermark once the run completes */
	int64_t run_added;
	int pages;

	/* For status. */
	int64_t throttled;
	int64_t last_retry_after;
	char last_error[512];
};

/* The path of a URL, for log lines (no host, no query). */
static void url_path(const char *url, char *buf, size_t n)
{
	const char *p = strstr(url, "://");
	p = p ? strchr(p + 3, '/') : NULL;
	if (p == NULL)
		p = "/";
	size_t len = strcspn(p, "?");
	snprintf(buf, n, "%.*s", (int)len, p);
}

/* Milliseconds to wait before the next Graph request of tenant t. */
static int64_t pace_delay(struct tenant *t)
{
	int64_t now = daemon_mono_ms();
	int64_t oldest = t->graph_slots[0];

	for (int i = 1; i < GRAPH_PACE_REQUESTS; i++)
		if (t->graph_slots[i] < oldest)
			oldest = t->graph_slots[i];
	if (oldest == 0 || now - oldest >= GRAPH_PACE_WINDOW_MS)
		return 0;
	return GRAPH_PACE_WINDOW_MS - (now - oldest);
}

/* Record a Graph request in the tenant's pacing window. */
static void pace_take(struct tenant *t)
{
	int oldest = 0;

	for (int i = 1; i < GRAPH_PACE_REQUESTS; i++)
		if (t->graph_slots[i] < t->graph_slots[oldest])
			oldest = i;
	t->graph_slots[oldest] = daemon_mono_ms();
}

/* Arm the one timer in ms. */
static void poller_arm_ms(struct poller *p, enum poller_wait wait, int64_t ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	p->wait = wait;
	evtimer_add(p->timer, &tv);
}

/* Schedule the next run in seconds, with up to 5 % jitter. */
static void poller_schedule(struct poller *p, int64_t seconds)
{
	int64_t jitter = seconds >= 20 ? random() % (seconds / 20) : 0;

	p->next_run = daemon_now() + seconds + jitter;
	poller_arm_ms(p, WAIT_IDLE, (seconds + jitter) * 1000);
}

/* Write the outcome of an attempt to the checkpoint (its own transaction). */
static void poller_note_attempt(struct poller *p, const char *error)
{
	struct sw_store *s = p->t->daemon->store;
	struct sw_checkpoint cp;

	if (sw_store_begin(s) < 0)
		return;
	sw_store_checkpoint_get(s, p->t->cfg->name, POLLER_SOURCE, &cp);
	cp.last_attempt = daemon_now();
	snprintf(cp.last_error, sizeof(cp.last_error), "%.*s", (int)sizeof(cp.last_error) - 1, error ? error : "");
	if (sw_store_checkpoint_put(s, p->t->cfg->name, POLLER_SOURCE, &cp) < 0 || sw_store_commit(s) < 0)
		sw_store_rollback(s);
}

/* End the run in hand, successful or not. */
static void poller_run_end(struct poller *p, bool ok)
{
	struct daemon *d = p->t->daemon;

	free(p->url);
	p->url = NULL;
	p->running = false;
	if (ok) {
		p->backoff = 0;
		p->last_error[0] = '\0';
	} else {
		p->backoff = p->backoff ? p->backoff * 4 / 3 : POLLER_BACKOFF_MIN;
		if (p->backoff > p->t->cfg->signins_interval)
			p->backoff = p->t->cfg->signins_interval;
	}
	if (!d->once)
		poller_schedule(p, ok ? p->t->cfg->signins_interval : p->backoff);
	daemon_source_done(d, p->t, POLLER_SOURCE, ok);
}

/* The run failed: log once, remember why, back off. */
static void poller_fail(struct poller *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void poller_fail(struct poller *p, const char *fmt, ...)
{
	char path[256], retry[32] = "";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->last_error, sizeof(p->last_error), fmt, ap);
	va_end(ap);
	url_path(p->url ? p->url : p->t->cfg->graph_url, path, sizeof(path));
	if (!p->t->daemon->once) {
		int64_t next = p->backoff ? p->backoff * 4 / 3 : POLLER_BACKOFF_MIN;
		if (next > p->t->cfg->signins_interval)
			next = p->t->cfg->signins_interval;
		sw_duration_format(next, retry, sizeof(retry));
	}
	log_warn("tenant %s: %s: %s (GET %s)%s%s", p->t->cfg->name, POLLER_SOURCE, p->last_error, path,
	         retry[0] ? ", retrying in " : "", retry);
	poller_note_attempt(p, p->last_error);
	poller_run_end(p, false);
}

static void poller_send(struct poller *p);

/* A page failed in a way worth retrying: wait and send it again. */
static void poller_retry_page(struct poller *p, int64_t retry_after, const char *what)
{
	char path[256];

	p->tries++;
	if (p->tries >= POLLER_PAGE_TRIES) {
		poller_fail(p, "%s (gave up after %d tries)", what, p->tries);
		return;
	}
	int64_t ms = retry_after > 0 ? retry_after * 1000 : 1000LL << p->tries;
	if (ms > 120000)
		ms = 120000;
	url_path(p->url, path, sizeof(path));
	log_info("tenant %s: %s: %s (GET %s), retrying in %llds", p->t->cfg->name, POLLER_SOURCE, what, path,
	         (long long)((ms + 999) / 1000));
	poller_arm_ms(p, WAIT_PAGE, ms);
}

/* The last page is in: move the watermark. */
static void poller_complete(struct poller *p)
{
	struct sw_store *s = p->t->daemon->store;
	struct sw_checkpoint cp;
	int r;

	r = sw_store_begin(s);
	if (r < 0)
		goto fail;
	sw_store_checkpoint_get(s, p->t->cfg->name, POLLER_SOURCE, &cp);
	cp.watermark = p->run_upper;
	cp.last_success = daemon_now();
	cp.last_attempt = cp.last_success;
	cp.last_error[0] = '\0';
	r = sw_store_checkpoint_put(s, p->t->cfg->name, POLLER_SOURCE, &cp);
	if (r >= 0)
		r = sw_store_commit(s);
	if (r < 0)
		goto fail;
	log_info("tenant %s: %s: %d page%s, %lld new record%s", p->t->cfg->name, POLLER_SOURCE, p->pages,
	         p->pages == 1 ? "" : "s", (long long)p->run_added, p->run_added == 1 ? "" : "s");
	poller_run_end(p, true);
	return;
fail:
	sw_store_rollback(s);
	poller_fail(p, "cannot store checkpoint: %s", sw_store_errmsg(s));
}

/* Store one parsed page and its checkpoint in one transaction. */
static int poller_store_page(struct poller *p, const struct sw_signin_page *page)
{
	struct sw_store *s = p->t->daemon->store;
	struct sw_checkpoint cp;
	size_t added = 0;
	int r;

	r = sw_store_begin(s);
	if (r < 0)
		return r;
	r = sw_store_signins_add(s, p->t->cfg->name, page->items, page->n, daemon_now(), &added);
	if (r < 0)
		goto fail;
	sw_store_checkpoint_get(s, p->t->cfg->name, POLLER_SOURCE, &cp);
	cp.records += (int64_t)added;
	cp.last_attempt = daemon_now();
	r = sw_store_checkpoint_put(s, p->t->cfg->name, POLLER_SOURCE, &cp);
	if (r < 0)
		goto fail;
	r = sw_store_commit(s);
	if (r < 0)
		goto fail;
	p->run_added += (int64_t)added;
	return 0;
fail:
	sw_store_rollback(s);
	return r;
}

/* Graph answered a page request. */
static void poller_page_cb(struct http_response *res, void *arg)
{
	struct poller *p = arg;
	struct sw_signin_page page = {0};
	struct sw_error err = {0};
	char what[512], gerr[300];
	int r;

	if (res->curl_code != 0) {
		snprintf(what, sizeof(what), "request failed: %s", res->error);
		poller_retry_page(p, 0, what);
		return;
	}
	if (res->status != 200) {
		if (sw_graph_error_parse(res->body.data, res->body.len, gerr, sizeof(gerr)) < 0)
			snprintf(gerr, sizeof(gerr), "no Graph error in the body");
	}
	if (res->status == 429 || res->status == 503) {
		p->throttled++;
		p->last_retry_after = res->retry_after;
		snprintf(what, sizeof(what), "throttled (HTTP %ld, Retry-After %llds)", res->status,
		         (long long)res->retry_after);
		poller_retry_page(p, res->retry_after, what);
		return;
	}
	if (res->status == 401 && !p->retried_401) {
		/* The token expired or was revoked mid-run: renew it once. */
		p->retried_401 = true;
		auth_invalidate(p->t->auth, p->t->cfg->graph_url);
		log_info("tenant %s: %s: HTTP 401 (%s), renewing the token", p->t->cfg->name, POLLER_SOURCE, gerr);
		poller_send(p);
		return;
	}
	if (res->status == 401 || res->status == 403) {
		poller_fail(p, "HTTP %ld %s; the app needs the AuditLog.Read.All application permission "
		               "(admin consent) and the tenant Entra ID P1 or P2", res->status, gerr);
		return;
	}
	if (res->status >= 500) {
		snprintf(what, sizeof(what), "HTTP %ld %s", res->status, gerr);
		poller_retry_page(p, res->retry_after, what);
		return;
	}
	if (res->status != 200) {
		poller_fail(p, "HTTP %ld %s", res->status, gerr);
		return;
	}
	if (strncasecmp(res->content_type, "application/json", 16) != 0) {
		snprintf(what, sizeof(what), "unexpected content type \"%s\"", res->content_type);
		poller_retry_page(p, 0, what);
		return;
	}
	r = sw_signins_parse(res->body.data, res->body.len, &page, &err);
	if (r < 0) {
		snprintf(what, sizeof(what), "malformed page (%zu bytes): %s", res->body.len, err.text);
		poller_retry_page(p, 0, what);
		return;
	}
	if (page.skipped > 0)
		log_warn("tenant %s: %s: skipped %zu record%s without id or createdDateTime", p->t->cfg->name,
		         POLLER_SOURCE, page.skipped, page.skipped == 1 ? "" : "s");
	r = poller_store_page(p, &page);
	if (r < 0) {
		sw_signin_page_clear(&page);
		poller_fail(p, "cannot store %zu records: %s%s", page.n, strerror(-r),
		            r == -ENOSPC ? " (the state directory is full)" : "");
		return;
	}
	p->pages++;
	char *next = page.next_link;
	page.next_link = NULL;
	sw_signin_page_clear(&page);
	if (next == NULL) {
		poller_complete(p);
		return;
	}
	free(p->url);
	p->url = next;
	p->tries = 0;
	p->retried_401 = false;
	poller_send(p);
}

/* The token for Graph arrived (or did not). */
static void poller_token_cb(const char *token, const char *error, long status, void *arg)
{
	struct poller *p = arg;

	if (token == NULL) {
		if (status == 0 || status >= 500 || status == 429)
			poller_retry_page(p, 0, error);
		else
			poller_fail(p, "%s", error);
		return;
	}
	poller_send(p);
}

/* Send the current page request: token first, then pacing. */
static void poller_send(struct poller *p)
{
	struct tenant *t = p->t;
	const char *token = auth_cached(t->auth, t->cfg->graph_url);
	char authz[4096];
	int r;

	if (token == NULL) {
		r = auth_fetch(t->auth, t->cfg->graph_url, poller_token_cb, p);
		if (r < 0)
			poller_fail(p, "cannot request a token: %s", r == -ENOTSUP ?
			            "certificate credentials are not supported in this version" : strerror(-r));
		return;
	}
	int64_t delay = pace_delay(t);
	if (delay > 0) {
		poller_arm_ms(p, WAIT_PAGE, delay);
		return;
	}
	pace_take(t);
	snprintf(authz, sizeof(authz), "Authorization: Bearer %s", token);
	const char *headers[] = {authz, "Accept: application/json", "ConsistencyLevel: eventual", NULL};
	struct http_request req = {
		.method = "GET",
		.url = p->url,
		.headers = headers,
		.timeout_ms = 120000,
		.cb = poller_page_cb,
		.arg = p,
	};
	r = http_submit(t->daemon->http, &req);
	explicit_bzero(authz, sizeof(authz));
	if (r < 0)
		poller_fail(p, "cannot send the request: %s", r == -EINVAL ? "URL refused (plain http to a "
		            "non-loopback host, or malformed)" : strerror(-r));
}

/* Start a run: the window since the watermark less the lookback. */
static void poller_run_begin(struct poller *p)
{
	const struct sw_tenant_config *tc = p->t->cfg;
	struct sw_checkpoint cp;
	char since[32], filter[160];
	int64_t now = daemon_now();

	sw_store_checkpoint_get(p->t->daemon->store, tc->name, POLLER_SOURCE, &cp);
	int64_t from = cp.watermark > 0 ? cp.watermark - tc->signins_lookback : now - tc->initial_backfill;
	sw_time_format(from, since, sizeof(since));
	snprintf(filter, sizeof(filter), "createdDateTime ge %s and clientAppUsed eq 'Authenticated SMTP'", since);
	char *enc = sw_url_encode(filter);
	size_t n = strlen(tc->graph_url) + (enc ? strlen(enc) : 0) + 64;
	free(p->url);
	p->url = enc ? malloc(n) : NULL;
	if (p->url == NULL) {
		free(enc);
		poller_fail(p, "out of memory");
		return;
	}
	const char *slash = tc->graph_url[strlen(tc->graph_url) - 1] == '/' ? "" : "/";
	snprintf(p->url, n, "%s%sv1.0/auditLogs/signIns?$filter=%s&$top=1000", tc->graph_url, slash, enc);
	free(enc);
	p->running = true;
	p->tries = 0;
	p->retried_401 = false;
	p->run_upper = now;
	p->run_added = 0;
	p->pages = 0;
	p->next_run = 0;
	log_debug("tenant %s: %s: run from %s", tc->name, POLLER_SOURCE, since);
	poller_send(p);
}

/* The one timer: a new run, or the current page again. */
static void poller_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct poller *p = arg;

	if (p->running)
		poller_send(p);
	else
		poller_run_begin(p);
}

/* See poller.h. */
struct poller *poller_new(struct tenant *t)
{
	struct poller *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->t = t;
	p->last_retry_after = -1;
	p->timer = evtimer_new(t->daemon->base, poller_timer_cb, p);
	if (p->timer == NULL) {
		free(p);
		return NULL;
	}
	return p;
}

/* See poller.h. */
void poller_free(struct poller *p)
{
	if (p == NULL)
		return;
	http_cancel_arg(p->t->daemon->http, p);
	auth_forget(p->t->auth, p);
	event_free(p->timer);
	free(p->url);
	free(p);
}

/* See poller.h. */
void poller_start(struct poller *p, bool now)
{
	int64_t ms = now ? 0 : random() % 2000;

	p->next_run = daemon_now() + ms / 1000;
	poller_arm_ms(p, WAIT_IDLE, ms);
}

/* See poller.h. */
void poller_run_now(struct poller *p)
{
	if (p->running)
		return;
	evtimer_del(p->timer);
	poller_run_begin(p);
}

bool poller_running(const struct poller *p)
{
	return p->running;
}

/* ISO string or JSON null. */
static json_t *json_time(int64_t t)
{
	char buf[32];

	if (t <= 0)
		return json_null();
	sw_time_format(t, buf, sizeof(buf));
	return json_string(buf);
}

/* See poller.h. */
json_t *poller_status(struct poller *p)
{
	struct sw_checkpoint cp;
	const char *state;

	sw_store_checkpoint_get(p->t->daemon->store, p->t->cfg->name, POLLER_SOURCE, &cp);
	if (p->running)
		state = "running";
	else if (p->last_error[0] != '\0' || cp.last_error[0] != '\0')
		state = "failing";
	else if (cp.last_success > 0)
		state = "ok";
	else
		state = "idle";
	const char *err = p->last_error[0] ? p->last_error : cp.last_error[0] ? cp.last_error : NULL;
	return json_pack("{s:s,s:o,s:o,s:o,s:o,s:I,s:I,s:o}", "state", state, "last_success",
	                 json_time(cp.last_success), "last_error", err ? json_string(err) : json_null(),
	                 "next_run", json_time(p->running ? 0 : p->next_run), "watermark", json_time(cp.watermark),
	                 "records", (json_int_t)cp.records, "throttled", (json_int_t)p->throttled,
	                 "last_retry_after",
	                 p->last_retry_after >= 0 ? json_integer(p->last_retry_after) : json_null());
}
