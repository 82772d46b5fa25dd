/* poller.c: the run machinery shared by every source.
 *
 * Timing rules:
 * - Each source paces itself (Graph allows 5 requests per 10 s per app per
 *   tenant), so it does not only react to 429.  429/503 wait Retry-After;
 *   other transient failures (5xx, network, a truncated or malformed body)
 *   retry the same page with growing waits, up to POLLER_PAGE_TRIES.
 * - A 401 renews the token once per page: tokens can expire mid-run.
 * - A failed run is retried after 30 s, growing x4/3 up to the interval
 *   (timesyncd's back-off); the source's checkpoint decides what the next
 *   run re-reads, so a run that breaks halfway keeps what it committed.
 *
 * Link following: the next page's URL comes from the service, and the
 * request carries the bearer token.  A link is followed only on the origin
 * (scheme, host, port) of the source's configured base URL; a request seen
 * before in the run (a loop) or a run past POLLER_MAX_PAGES stops the run
 * as failed.  What the run stored before that stays, and the watermark
 * does not move, so the next run reads the window again. */
#include "jsonutil.h"
#include "poller.h"
#include "poller_internal.h"

#include <errno.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "exo.h"
#include "http.h"
#include "log.h"
#include "smtpwatchd.h"
#include "detect_source.h"
#include "status.h"
#include "store.h"

#define POLLER_PAGE_TRIES 4      /* failures of one page before the run gives up */
#define POLLER_THROTTLE_TRIES 12 /* 429/503 answers of one page before it gives up */
#define POLLER_BACKOFF_MIN 30
#define POLLER_PACE_MAX 16
/* Pages of one run: 10,000 pages are 10M sign-ins at Graph's $top=1000,
 * far past any tenant's 30 days of SMTP AUTH. */
#define POLLER_MAX_PAGES 10000

struct poller {
	struct tenant *t;
	const struct poller_ops *ops;
	void *priv;
	struct event *timer;
	int64_t armed_ms;   /* the latest wait armed, for the unit suite */
	int64_t due_us;     /* monotonic: when the armed timer is due */
	int64_t late_ms;    /* how late the timer started the last run (-1: none yet) */
	bool running;
	int64_t next_run;   /* wall clock */
	int64_t backoff;    /* seconds; 0 after a success */
	int64_t pace[POLLER_PACE_MAX]; /* monotonic ms of the latest requests */

	struct http_slot slot; /* waiting for a transfer slot before the request is made */

	/* The request in hand.  The URL's room stays from run to run (a
	 * source's URLs are about as long each time); "" method: none. */
	char method[8], *url, *body, *header;
	size_t url_cap;
	bool anonymous; /* no token: a pre-authenticated download URL */
	int tries;
	int throttles;
	bool retried_401;
	int pages;
	int64_t run_records;
	int64_t run_skipped;
	uint64_t *seen;     /* hashes of the requests of this run, for loops */
	size_t n_seen, cap_seen;

	const char *next_page_uri; /* of the answer in hand, during page()/answer() */

	/* Store transactions of the run in hand, and of the last one (status
	 * last_run_transactions): those begun in its own callbacks, up to
	 * the end of the rules that run after it (daemon_source_done). */
	uint64_t tx_mark;   /* sw_store_transactions() when the callback in hand began */
	int tx_depth;       /* callbacks of this poller in hand (one nested in another) */
	int64_t run_tx;
	int64_t last_run_tx; /* -1: no run ended yet */
	int64_t last_run_writes; /* of those, the ones that changed the store */
	uint64_t wr_mark;
	int64_t run_wr;
	unsigned last_run_rules; /* DAEMON_RULES_* run after the last run */
	bool succeeded; /* a run of this process succeeded */
	/* The run's answers, for "nothing changed": an FNV-1a over every 200
	 * body in order, and whether every answer was one or a redirect (a
	 * run with a refusal or a retry is not compared). */
	uint64_t run_hash, last_hash;
	bool run_hash_ok, have_last_hash;

	/* For status and health. */
	int64_t watching_since;
	int64_t runs, failed_runs;
	bool denied; /* refused: 401/403 after a renewal, or the token endpoint said no */
	int64_t throttled;
	int64_t skipped; /* records the source could not read, since start */
	int64_t last_retry_after;
	char *last_error; /* of the last failed run, until a run succeeds; NULL: none */
};

/* The path of a URL, for log lines (no host, no query). */
static void url_path(const char *url, char *buf, size_t n)
{
	const char *p = url ? strstr(url, "://") : NULL;
	p = p ? strchr(p + 3, '/') : NULL;
	if (p == NULL)
		p = "/";
	size_t len = strcspn(p, "?");
	snprintf(buf, n, "%.*s", (int)len, p);
}

/* The path of the request in hand for a log line; a download URL's path
 * is its credential, so it is never shown. */
static void poller_path(const struct poller *p, char *buf, size_t n)
{
	if (p->anonymous)
		snprintf(buf, n, "(the download URL)");
	else
		url_path(p->url, buf, n);
}

/* See poller_internal.h. */
int64_t poller_pace_delay(struct poller *p)
{
	int k = p->ops->pace_requests;
	int64_t now = daemon_mono_ms(), oldest;

	if (k <= 0 || k > POLLER_PACE_MAX)
		return 0;
	oldest = p->pace[0];
	for (int i = 1; i < k; i++)
		if (p->pace[i] < oldest)
			oldest = p->pace[i];
	if (oldest == 0 || now - oldest >= p->ops->pace_window_ms)
		return 0;
	return p->ops->pace_window_ms - (now - oldest);
}

/* See poller_internal.h. */
void poller_pace_take(struct poller *p)
{
	int k = p->ops->pace_requests, oldest = 0;

	if (k <= 0 || k > POLLER_PACE_MAX)
		return;
	for (int i = 1; i < k; i++)
		if (p->pace[i] < p->pace[oldest])
			oldest = i;
	p->pace[oldest] = daemon_mono_ms();
}

/* Arm the one timer in ms. */
static void poller_arm_ms(struct poller *p, int64_t ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	p->armed_ms = ms;
	p->due_us = daemon_mono_us() + ms * 1000;
	evtimer_add(p->timer, &tv);
}

/* Schedule the next run in seconds, with up to 5 % jitter. */
static void poller_schedule(struct poller *p, int64_t seconds)
{
	int64_t jitter = seconds >= 20 ? random() % (seconds / 20) : 0;

	p->next_run = daemon_now() + seconds + jitter;
	poller_arm_ms(p, (seconds + jitter) * 1000);
}

/* Write the outcome of an attempt to the checkpoint (its own transaction).
 * A source whose last page committed the same outcome in the same second
 * (the sign-ins' last page, the Exchange snapshot's) leaves nothing to
 * write: then no transaction at all, one fewer per idle run. */
static void poller_note_attempt(struct poller *p, const char *error)
{
	struct sw_store *s = p->t->daemon->store;
	struct sw_checkpoint cp, was;

	if (sw_store_checkpoint_get(s, p->t->cfg->name, p->ops->name, &was) < 0)
		memset(&was, 0, sizeof(was));
	cp = was;
	cp.last_attempt = daemon_now();
	snprintf(cp.last_error, sizeof(cp.last_error), "%.*s", (int)sizeof(cp.last_error) - 1, error ? error : "");
	if (error == NULL)
		cp.last_success = cp.last_attempt;
	if (error == NULL && was.last_attempt == cp.last_attempt && was.last_success == cp.last_success &&
	    was.last_error[0] == '\0')
		return;
	/* The daemon is the store's only writer and between callbacks no
	 * transaction is open: what was read is what the row holds. */
	if (sw_store_begin(s) < 0)
		return;
	if (sw_store_checkpoint_put(s, p->t->cfg->name, p->ops->name, &cp) < 0 || sw_store_commit(s) < 0)
		sw_store_rollback(s);
}

/* Forget the request in hand. */
static void poller_request_clear(struct poller *p)
{
	p->method[0] = '\0';
	/* A long next link's room goes. */
	if (p->url_cap > 1024) {
		free(p->url);
		p->url = NULL;
		p->url_cap = 0;
	} else if (p->url != NULL) {
		p->url[0] = '\0';
	}
	free(p->body);
	free(p->header);
	p->body = p->header = NULL;
	p->anonymous = false;
}

/* The next back-off after a failed run. */
static int64_t poller_next_backoff(struct poller *p)
{
	int64_t b = p->backoff ? p->backoff * 4 / 3 : POLLER_BACKOFF_MIN;
	int64_t cap = p->ops->interval(p->t);

	return b > cap ? cap : b;
}

/* End the run in hand, successful or not. */
static void poller_run_end(struct poller *p, bool ok)
{
	struct daemon *d = p->t->daemon;
	unsigned quiet = 0;

	/* What the rules after the run may skip (daemon_run_done): a sign-ins
	 * run that stored no new sign-in; another source's run whose answers
	 * were those of its last run, byte for byte (what it stored is what
	 * the last one did). */
	bool same = p->run_hash_ok && p->have_last_hash && p->run_hash == p->last_hash;
	if (ok && p->run_records == 0 && (strcmp(p->ops->name, "signins") == 0 || same))
		quiet |= DAEMON_RUN_NOTHING_NEW;
	p->have_last_hash = ok && p->run_hash_ok;
	p->last_hash = p->run_hash;
	if (ok && p->succeeded && p->last_error == NULL && !p->denied)
		quiet |= DAEMON_RUN_HEALTH_SAME;
	if (ok)
		p->succeeded = true;
	if (p->ops->end)
		p->ops->end(p, ok);
	poller_request_clear(p);
	/* The run's first 16 requests' room stays for the next run (128
	 * bytes); a longer run's goes. */
	if (p->cap_seen > 16) {
		free(p->seen);
		p->seen = NULL;
		p->cap_seen = 0;
	}
	p->n_seen = 0;
	p->running = false;
	p->runs++;
	status_touch(p->t);
	if (!ok)
		p->failed_runs++;
	if (ok) {
		p->backoff = 0;
		p->denied = false;
		free(p->last_error);
		p->last_error = NULL;
	} else {
		p->backoff = poller_next_backoff(p);
	}
	if (!d->once)
		poller_schedule(p, ok ? p->ops->interval(p->t) : p->backoff);
	p->last_run_rules = daemon_run_done(d, p->t, p->ops->name, ok, quiet);
	uint64_t tx = sw_store_transactions(d->store), wr = sw_store_writes(d->store);
	p->last_run_tx = p->run_tx + (int64_t)(tx - p->tx_mark);
	p->last_run_writes = p->run_wr + (int64_t)(wr - p->wr_mark);
	p->tx_mark = tx;
	p->wr_mark = wr;
}

/* A callback of the run in hand begins: count its transactions from here. */
static void poller_tx_enter(struct poller *p)
{
	if (p->tx_depth++ == 0) {
		p->tx_mark = sw_store_transactions(p->t->daemon->store);
		p->wr_mark = sw_store_writes(p->t->daemon->store);
	}
}

/* ...and ends: what it began belongs to the run, if one is still in hand
 * (an ended run counted its own in poller_run_end). */
static void poller_tx_leave(struct poller *p)
{
	uint64_t tx = sw_store_transactions(p->t->daemon->store), wr = sw_store_writes(p->t->daemon->store);

	if (--p->tx_depth > 0)
		return;
	if (p->running) {
		p->run_tx += (int64_t)(tx - p->tx_mark);
		p->run_wr += (int64_t)(wr - p->wr_mark);
	}
	p->tx_mark = tx;
	p->wr_mark = wr;
}

/* The run failed: log once with tenant, source and URL path, back off. */
static void poller_fail(struct poller *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void poller_fail(struct poller *p, const char *fmt, ...)
{
	char path[256], retry[32] = "", error[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(error, sizeof(error), fmt, ap);
	va_end(ap);
	/* Microsoft's error text goes to status too: no configured secret in it. */
	log_redact(error, sizeof(error));
	/* Kept while the source fails, on the heap: a source that does not
	 * fail costs no 512 bytes of it (four a tenant). */
	free(p->last_error);
	p->last_error = error[0] != '\0' ? strdup(error) : NULL;
	poller_path(p, path, sizeof(path));
	if (!p->t->daemon->once)
		sw_duration_format(poller_next_backoff(p), retry, sizeof(retry));
	log_warn("tenant %s: %s: %s (%s %s)%s%s", p->t->cfg->name, p->ops->name, error,
	         p->method[0] ? p->method : "GET", path, retry[0] ? ", retrying in " : "", retry);
	poller_note_attempt(p, error);
	poller_run_end(p, false);
}

static void poller_send(struct poller *p);
static void poller_token_handle(struct poller *p, const char *token, const char *error, long status);

/* FNV-1a over the request in hand (method, URL, body): a next link that
 * leads back to a request of this run.  Exchange runs POST several cmdlets
 * to one URL, so the body is part of the request's identity. */
static uint64_t poller_request_hash(const struct poller *p)
{
	const char *parts[3] = {p->method, p->url, p->body ? p->body : ""};
	uint64_t h = 0xcbf29ce484222325ULL;

	for (int i = 0; i < 3; i++) {
		for (const unsigned char *c = (const unsigned char *)parts[i]; c && *c; c++)
			h = (h ^ *c) * 0x100000001b3ULL;
		h = (h ^ 0xff) * 0x100000001b3ULL; /* a separator no text holds */
	}
	return h;
}

/* Remember the request in hand; true when the run asked for it before. */
static bool poller_seen(struct poller *p)
{
	uint64_t h = poller_request_hash(p);

	for (size_t i = 0; i < p->n_seen; i++)
		if (p->seen[i] == h)
			return true;
	if (p->n_seen == p->cap_seen) {
		size_t cap = p->cap_seen ? p->cap_seen * 2 : 16;
		uint64_t *n = realloc(p->seen, cap * sizeof(*n));
		if (n == NULL)
			return false; /* no memory: the page cap still ends a loop */
		p->seen = n;
		p->cap_seen = cap;
	}
	p->seen[p->n_seen++] = h;
	return false;
}

/* May the run follow the link now in hand?  0, or -1 with why: a link to
 * another origin (named, so the operator sees where it pointed), a loop, or
 * too many pages.  The token is never sent in any of these cases. */
static int poller_link_check(struct poller *p, char *why, size_t n)
{
	char want[300], got[300];

	if (sw_url_origin(p->ops->resource(p->t), want, sizeof(want)) < 0) {
		snprintf(why, n, "the configured base URL has no usable origin");
		return -1;
	}
	if (sw_url_origin(p->url, got, sizeof(got)) < 0) {
		snprintf(why, n, "next link after page %d is not a usable http(s) URL: not followed", p->pages);
		return -1;
	}
	if (strcmp(want, got) != 0) {
		snprintf(why, n, "next link after page %d leads to %.200s, not to the configured %.200s: not followed, "
		         "no token sent", p->pages, got, want);
		return -1;
	}
	if (p->pages >= POLLER_MAX_PAGES) {
		snprintf(why, n, "more than %d pages in one run: stopped", POLLER_MAX_PAGES);
		return -1;
	}
	if (poller_seen(p)) {
		snprintf(why, n, "next link after page %d repeats a request of this run (a paging loop): stopped",
		         p->pages);
		return -1;
	}
	return 0;
}

/* A page failed in a way worth retrying: wait and send it again. */
static void poller_retry_page(struct poller *p, int64_t retry_after, const char *what)
{
	char path[256];

	p->tries++;
	p->run_hash_ok = false;
	if (p->tries >= POLLER_PAGE_TRIES) {
		poller_fail(p, "%s (gave up after %d tries)", what, p->tries);
		return;
	}
	int64_t ms = retry_after > 0 ? retry_after * 1000 : 1000LL << p->tries;
	if (ms > 120000)
		ms = 120000;
	poller_path(p, path, sizeof(path));
	log_info("tenant %s: %s: %s (%s %s), retrying in %llds", p->t->cfg->name, p->ops->name, what, p->method, path,
	         (long long)((ms + 999) / 1000));
	poller_arm_ms(p, ms);
}

/* The service answered a page request. */
static void poller_page_handle(struct http_response *res, void *arg)
{
	struct poller *p = arg;
	enum poller_next next = POLLER_DONE;
	char what[512], serr[300];
	int r;

	if (res->curl_code != 0) {
		snprintf(what, sizeof(what), "request failed: %s", res->error);
		poller_retry_page(p, 0, what);
		return;
	}
	if (res->status != 200)
		sw_exo_error_text(res->body.data, res->body.len, serr, sizeof(serr));
	if (res->status == 429 || res->status == 503) {
		p->throttled++;
		p->last_retry_after = res->retry_after;
		snprintf(what, sizeof(what), "throttled (HTTP %ld, Retry-After %llds)", res->status,
		         (long long)res->retry_after);
		/* Throttling is the service pacing us, not a failure: it has its
		 * own, larger budget. */
		if (++p->throttles < POLLER_THROTTLE_TRIES && res->retry_after > 0) {
			char path[256];
			int64_t wait = res->retry_after > 120 ? 120 : res->retry_after;
			poller_path(p, path, sizeof(path));
			log_info("tenant %s: %s: %s (%s %s), retrying in %llds", p->t->cfg->name, p->ops->name, what,
			         p->method, path, (long long)wait);
			poller_arm_ms(p, wait * 1000);
			return;
		}
		poller_retry_page(p, res->retry_after, what);
		return;
	}
	/* A redirect (the usage report's to its download URL, which changes
	 * every time) is not compared: what it leads to is. */
	if (res->status >= 300 && res->status < 400) {
		if (p->ops->redirect == NULL) {
			poller_fail(p, "HTTP %ld redirect not expected here: not followed", res->status);
			return;
		}
		what[0] = '\0';
		r = p->ops->redirect(p, res->location, &next, what, sizeof(what));
		if (r < 0) {
			poller_fail(p, "%s", what);
			return;
		}
		p->pages++;
		if (next == POLLER_MORE) {
			p->tries = 0;
			p->throttles = 0;
			p->retried_401 = false;
			poller_send(p);
			return;
		}
		poller_note_attempt(p, NULL);
		poller_run_end(p, true);
		return;
	}
	if (res->status != 200)
		p->run_hash_ok = false;
	if (res->status == 401 && !p->retried_401 && !p->anonymous) {
		/* The token expired or was revoked mid-run: renew it once. */
		p->retried_401 = true;
		auth_invalidate(p->t->auth, p->ops->resource(p->t));
		log_info("tenant %s: %s: HTTP 401 (%s), renewing the token", p->t->cfg->name, p->ops->name, serr);
		poller_send(p);
		return;
	}
	if ((res->status == 401 || res->status == 403) && p->anonymous) {
		poller_fail(p, "HTTP %ld from the download URL (expired or refused; no token was sent there)",
		            res->status);
		return;
	}
	if ((res->status == 403 || res->status == 404) && p->ops->refused != NULL) {
		r = p->ops->refused(p, res->status, serr, &next, what, sizeof(what));
		goto answered;
	}
	if (res->status == 401 || res->status == 403) {
		p->denied = true;
		poller_fail(p, "HTTP %ld %s; %s", res->status, serr, p->ops->permission_hint);
		return;
	}
	if (res->status >= 500) {
		snprintf(what, sizeof(what), "HTTP %ld %s", res->status, serr);
		poller_retry_page(p, res->retry_after, what);
		return;
	}
	p->next_page_uri = res->next_page_uri;
	if (res->status != 200 && p->ops->answer != NULL) {
		r = p->ops->answer(p, res->status, res->body.data, res->body.len, &next, what, sizeof(what));
		p->next_page_uri = NULL;
		if (r < 0) {
			poller_fail(p, "%s", what);
			return;
		}
		if (r > 0)
			goto taken;
	}
	if (res->status != 200) {
		poller_fail(p, "HTTP %ld %s", res->status, serr);
		return;
	}
	if (!p->anonymous && strncasecmp(res->content_type, "application/json", 16) != 0) {
		snprintf(what, sizeof(what), "unexpected content type \"%s\"", res->content_type);
		poller_retry_page(p, 0, what);
		return;
	}
	for (size_t i = 0; i < res->body.len; i++)
		p->run_hash = (p->run_hash ^ (unsigned char)res->body.data[i]) * 0x100000001b3ULL;
	p->run_hash = (p->run_hash ^ 0xff) * 0x100000001b3ULL;
	p->next_page_uri = res->next_page_uri;
	r = p->ops->page(p, res->body.data, res->body.len, &next, what, sizeof(what));
	p->next_page_uri = NULL;
answered:
	if (r == -EACCES)
		p->denied = true;
	if (r == -EAGAIN) {
		poller_retry_page(p, 0, what);
		return;
	}
	if (r < 0) {
		poller_fail(p, "%s", what);
		return;
	}
taken:
	p->pages++;
	if (next == POLLER_MORE && !p->anonymous && poller_link_check(p, what, sizeof(what)) < 0) {
		poller_fail(p, "%s", what);
		return;
	}
	if (next == POLLER_MORE) {
		p->tries = 0;
		p->throttles = 0;
		p->retried_401 = false;
		poller_send(p);
		return;
	}
	char skipped[48] = "";
	if (p->run_skipped > 0)
		snprintf(skipped, sizeof(skipped), ", %lld unreadable skipped", (long long)p->run_skipped);
	log_info("tenant %s: %s: run complete, %d page%s, %lld new record%s%s", p->t->cfg->name, p->ops->name,
	         p->pages, p->pages == 1 ? "" : "s", (long long)p->run_records, p->run_records == 1 ? "" : "s",
	         skipped);
	poller_note_attempt(p, NULL);
	poller_run_end(p, true);
}

static void poller_page_cb(struct http_response *res, void *arg)
{
	struct poller *p = arg;
	struct daemon *d = p->t->daemon;
	int64_t start = daemon_mono_us();
	char tenant[sizeof(d->probe.step.tenant)];

	/* The tenant's name outlives a poller that a failed page retires. */
	snprintf(tenant, sizeof(tenant), "%s", p->t->cfg->name);
	const char *what = p->ops->name;
	poller_tx_enter(p);
	poller_page_handle(res, arg);
	poller_tx_leave(p);
	daemon_loop_step(d, what, tenant, start);
}

/* The token arrived (or did not). */
static void poller_token_cb(const char *token, const char *error, long status, void *arg)
{
	struct poller *p = arg;

	poller_tx_enter(p);
	poller_token_handle(p, token, error, status);
	poller_tx_leave(p);
}

static void poller_token_handle(struct poller *p, const char *token, const char *error, long status)
{

	if (token == NULL) {
		if (status == 0 || status >= 500 || status == 429) {
			poller_retry_page(p, 0, error);
		} else {
			/* The identity platform refused the credentials. */
			p->denied = true;
			poller_fail(p, "%s", error);
		}
		return;
	}
	poller_send(p);
}

/* A transfer slot is free for the request in hand. */
static void poller_slot_cb(void *arg)
{
	struct poller *p = arg;

	poller_tx_enter(p);
	poller_send(p);
	poller_tx_leave(p);
}

/* Send the request in hand: token first, then pacing, then a transfer
 * slot. */
static void poller_send(struct poller *p)
{
	struct tenant *t = p->t;
	const char *resource = p->ops->resource(t);
	const char *token = p->anonymous ? "" : auth_cached(t->auth, resource);
	char authz[4096];
	int r;

	if (token == NULL) {
		r = auth_fetch(t->auth, resource, poller_token_cb, p);
		if (r < 0)
			poller_fail(p, "cannot request a token: %s", strerror(-r));
		return;
	}
	int64_t delay = poller_pace_delay(p);
	if (delay > 0) {
		poller_arm_ms(p, delay);
		return;
	}
	/* No copy of the request waits in http.c: past HTTP_MAX_ACTIVE the
	 * poller waits for a slot and makes its headers then. */
	if (!http_slot_take(t->daemon->http, &p->slot, poller_slot_cb, p))
		return;
	poller_pace_take(p);
	snprintf(authz, sizeof(authz), "Authorization: Bearer %s", token);
	const char *headers[5] = {authz, "Accept: application/json"};
	int nh = 2;
	if (p->anonymous) {
		/* The download URL carries its own authorization: the token
		 * never goes to its host. */
		headers[0] = "Accept: */*";
		nh = 1;
	}
	if (p->body != NULL)
		headers[nh++] = "Content-Type: application/json";
	if (p->header != NULL)
		headers[nh++] = p->header;
	struct http_request req = {
		.method = p->method,
		.url = p->url,
		.headers = headers,
		.body = p->body,
		.body_len = p->body ? strlen(p->body) : 0,
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

/* See poller.h. */
int poller_request(struct poller *p, const char *method, const char *url, const char *body, const char *header)
{
	poller_request_clear(p);
	size_t n = strlen(url) + 1;
	if (strlen(method) >= sizeof(p->method))
		return -EINVAL;
	memcpy(p->method, method, strlen(method) + 1);
	if (n > p->url_cap) {
		char *u = malloc(n);
		if (u == NULL)
			return -ENOMEM;
		free(p->url);
		p->url = u;
		p->url_cap = n;
	}
	memmove(p->url, url, n);
	p->body = body ? strdup(body) : NULL;
	p->header = header ? strdup(header) : NULL;
	if ((body && !p->body) || (header && !p->header))
		return -ENOMEM;
	return 0;
}

/* See poller.h. */
int poller_request_anonymous(struct poller *p, const char *url)
{
	int r = poller_request(p, "GET", url, NULL, NULL);

	if (r == 0)
		p->anonymous = true;
	return r;
}

/* Start a run. */
static void poller_run_begin(struct poller *p)
{
	char why[512] = "";

	p->running = true;
	status_touch(p->t);
	p->run_tx = 0;
	p->run_wr = 0;
	p->run_hash = 0xcbf29ce484222325ULL;
	p->run_hash_ok = true;
	p->tries = 0;
	p->throttles = 0;
	p->retried_401 = false;
	p->pages = 0;
	p->run_records = 0;
	p->run_skipped = 0;
	p->next_run = 0;
	if (p->ops->begin(p, why, sizeof(why)) < 0) {
		poller_fail(p, "%s", why[0] ? why : "cannot start the run");
		return;
	}
	poller_seen(p); /* a link back to the first page is a loop too */
	poller_send(p);
}

/* The one timer: a new run, or the request in hand again. */
static void poller_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct poller *p = arg;

	poller_tx_enter(p);
	if (p->running) {
		poller_send(p);
	} else {
		/* A scheduled run: how long after its time it starts (a loop
		 * stall, or a reload, shows here; status' late_ms). */
		int64_t late = (daemon_mono_us() - p->due_us) / 1000;
		p->late_ms = late > 0 ? late : 0;
		poller_run_begin(p);
	}
	poller_tx_leave(p);
}

/* See poller.h. */
struct poller *poller_new(struct tenant *t, const struct poller_ops *ops)
{
	struct poller *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->t = t;
	p->ops = ops;
	p->last_retry_after = -1;
	p->late_ms = -1;
	p->last_run_tx = -1;
	p->watching_since = daemon_now();
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
	if (p->running && p->ops->end)
		p->ops->end(p, false);
	event_free(p->timer);
	poller_request_clear(p);
	free(p->url);
	free(p->seen);
	free(p->last_error);
	free(p);
}

/* See poller.h. */
int64_t poller_start_offset_ms(int64_t interval_s, size_t k, size_t n)
{
	int64_t window = (int64_t)n * POLLER_START_SPREAD_MS, cap = interval_s * 1000;

	if (n < 2 || k >= n)
		return 0;
	if (cap > 0 && window > cap)
		window = cap;
	return window * (int64_t)k / (int64_t)n;
}

/* See poller.h. */
void poller_start(struct poller *p, size_t k, size_t n)
{
	int64_t ms = poller_start_offset_ms(p->ops->interval(p->t), k, n);

	p->next_run = daemon_now() + ms / 1000;
	poller_arm_ms(p, ms);
	status_touch(p->t);
}

/* See poller.h. */
void poller_run_now(struct poller *p)
{
	if (p->running)
		return;
	evtimer_del(p->timer);
	poller_tx_enter(p);
	poller_run_begin(p);
	poller_tx_leave(p);
}

/* See poller_internal.h. */
struct event *poller_timer(struct poller *p)
{
	return p->timer;
}

/* See poller_internal.h. */
int64_t poller_armed_ms(const struct poller *p)
{
	return p->armed_ms;
}

/* See poller_internal.h. */
int64_t poller_backoff(const struct poller *p)
{
	return p->backoff;
}

bool poller_running(const struct poller *p)
{
	return p->running;
}

struct tenant *poller_tenant(struct poller *p)
{
	return p->t;
}

void *poller_priv(struct poller *p)
{
	return p->priv;
}

void poller_set_priv(struct poller *p, void *priv)
{
	p->priv = priv;
}

const char *poller_next_page_uri(struct poller *p)
{
	return p->next_page_uri ? p->next_page_uri : "";
}

void poller_set_denied(struct poller *p)
{
	p->denied = true;
}

void poller_add_records(struct poller *p, int64_t n)
{
	p->run_records += n;
}

void poller_add_skipped(struct poller *p, int64_t n)
{
	p->run_skipped += n;
	p->skipped += n;
}

/* See poller.h. */
json_t *poller_status(struct poller *p)
{
	struct sw_checkpoint cp;
	const char *state;
	json_t *o;

	sw_store_checkpoint_get(p->t->daemon->store, p->t->cfg->name, p->ops->name, &cp);
	if (p->running)
		state = "running";
	else if (p->last_error != NULL || cp.last_error[0] != '\0')
		state = "failing";
	else if (cp.last_success > 0)
		state = "ok";
	else
		state = "idle";
	const char *err = p->last_error ? p->last_error : cp.last_error[0] ? cp.last_error : NULL;
	o = json_pack("{s:s,s:o,s:o,s:o,s:o,s:I,s:I,s:o}", "state", state, "last_success",
	              sw_json_time_or_null(cp.last_success), "last_error", err ? json_string(err) : json_null(), "next_run",
	              sw_json_time_or_null(p->running ? 0 : p->next_run), "watermark", sw_json_time_or_null(cp.watermark), "records",
	              (json_int_t)cp.records, "throttled", (json_int_t)p->throttled, "last_retry_after",
	              p->last_retry_after >= 0 ? json_integer(p->last_retry_after) : json_null());
	if (o != NULL && cp.watermark > 0)
		json_object_set_new(o, "lag_s", json_integer(daemon_now() - cp.watermark));
	/* While a source fails, what lies after its watermark is unread. */
	if (o != NULL) {
		json_t *gaps = json_array();
		if (err != NULL && cp.watermark > 0)
			json_array_append_new(gaps, json_pack("{s:o,s:n}", "from", sw_json_time_or_null(cp.watermark), "to"));
		json_object_set_new(o, "gaps", gaps);
		json_object_set_new(o, "denied", json_boolean(p->denied));
		json_object_set_new(o, "runs", json_integer(p->runs));
		json_object_set_new(o, "failed_runs", json_integer(p->failed_runs));
		json_object_set_new(o, "skipped", json_integer(p->skipped));
		json_object_set_new(o, "late_ms", p->late_ms >= 0 ? json_integer(p->late_ms) : json_null());
		json_object_set_new(o, "last_run_transactions",
		                    p->last_run_tx >= 0 ? json_integer(p->last_run_tx) : json_null());
		json_object_set_new(o, "last_run_writes",
		                    p->last_run_tx >= 0 ? json_integer(p->last_run_writes) : json_null());
		json_t *rules = json_array();
		if (p->last_run_rules & DAEMON_RULES_SIGNINS)
			json_array_append_new(rules, json_string("signins"));
		if (p->last_run_rules & DAEMON_RULES_STATE)
			json_array_append_new(rules, json_string("state"));
		if (p->last_run_rules & DAEMON_RULES_HEALTH)
			json_array_append_new(rules, json_string("health"));
		json_object_set_new(o, "last_run_rules", p->last_run_tx >= 0 ? rules : (json_decref(rules), json_null()));
	}
	if (o != NULL && p->ops->status)
		p->ops->status(p, o);
	return o;
}

/* See poller.h. */
void poller_health(struct poller *p, struct sw_source_health *ret)
{
	struct sw_checkpoint cp;

	sw_store_checkpoint_get(p->t->daemon->store, p->t->cfg->name, p->ops->name, &cp);
	memset(ret, 0, sizeof(*ret));
	ret->source = p->ops->name;
	ret->watching_since = p->watching_since;
	ret->last_success = cp.last_success;
	ret->watermark = cp.watermark;
	ret->denied = p->denied;
	ret->last_error = p->last_error;
	ret->hint = p->ops->permission_hint;
	if (strcmp(p->ops->name, "signins") == 0) {
		ret->backfill_from = p->watching_since - p->t->cfg->initial_backfill;
		ret->retention = SW_SIGNINS_RETENTION;
	} else if (strcmp(p->ops->name, "audit") == 0) {
		/* No backfill gap: before the first complete run nothing was
		 * covered (source-unhealthy says so); after it, the watermark. */
		ret->retention = SW_AUDIT_RETENTION;
	}
}
