/* deliver.c: the outbox workers.
 *
 * One worker per configured sink, each on its own one-shot timer, so a
 * slow or dead sink never delays another.  A worker keeps up to the sink's
 * max_in_flight attempts in flight (slots), each on the oldest due item
 * not already in flight (or, for a sink that batches, HEC, up to 50 of
 * them in one request, whose outcome is each one's); it records each outcome in its own short
 * transaction and looks for the next due item at once; when none is due it
 * sleeps until the earliest next attempt, or until deliver_kick().  An
 * alert's transitions stay in order however many are in flight: the store
 * never offers a transition while an earlier one of the same alert is
 * pending for that sink (OUTBOX_READY).
 *
 * Two limits apply to the whole sink, not to an item:
 * - rate: at most that many attempts start in any 60 s (a ring of the
 *   last `rate` start times, on the monotonic clock).
 * - the sink-wide back-off: when the receiver itself fails (no answer,
 *   429, 5xx: sink_attempt.sink_down), the sink is down.  Nothing is sent
 *   until the back-off (10 s doubling per failed probe, up to 1 h, or the
 *   receiver's Retry-After when longer) has passed, and then one probe at
 *   a time, until one succeeds.  Until a sink has accepted its first
 *   attempt (after a start or a reload) it gets one at a time too: a
 *   receiver that was down before the daemon started sees one request,
 *   not max_in_flight of them.  A queue of 3,000 alerts against a dead
 *   receiver costs one request per back-off, not 3,000.  Requests already
 *   in flight when it went down finish as they will, and do not make the
 *   back-off longer.
 *
 * What a sink is, is the business of its sink_TYPE.c behind struct
 * sink_ops (sink.h): this file never asks.  Every attempt carries the
 * Idempotency-Key {alert id}-{transition}, and every body is rendered from
 * the stored document alone, so a resent item is byte for byte the first
 * one.
 *
 * A failed attempt n waits min(10 s * 2^(n-1), 1 h) +-20%; an item still
 * failing dead_after after it was queued is dead.  The death is recorded
 * together with the daemon's own delivery-dead alert (subject: the sink),
 * which goes to every other sink; the next success of that sink resolves
 * it.  Log lines name the sink and the alert, never a URL (webhook and
 * Teams URLs are secrets) nor a token or key: a receiver's words in an
 * error are redacted here, once, whatever the sink. */
#include "deliver.h"
#include "deliver_internal.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "detect.h"
#include "lifecycle.h"
#include "log.h"
#include "store_deliver.h"
#include "sink.h"
#include "smtpwatchd.h"

#define DELIVER_BACKOFF_MIN 10        /* s, first retry */
#define DELIVER_BACKOFF_MAX 3600      /* s, cap */
#define DELIVER_BATCH 32              /* synchronous sends per turn of the loop */
#define DELIVER_STORE_RETRY 30        /* s, after a database error */

#define DELIVER_RATE_WINDOW_MS 60000 /* rate counts the attempts of a minute */

struct deliver;
struct worker;

/* One attempt of a worker in flight: its item and what the sink is told. */
struct slot {
	struct worker *w;
	struct sw_outbox_item items[SINK_BATCH_MAX]; /* the items being sent: one, or a batch */
	size_t n_items;
	struct sink_attempt attempt;       /* the attempt on them */
	bool busy;                         /* a send in flight */
	bool probe;                        /* started while the sink was down */
};

struct worker {
	struct deliver *dl;
	const struct sw_sink_config *sink; /* into daemon->cfg */
	struct sink out;                   /* the sink as its type sees it; out.ops NULL: unknown type */
	struct event timer;                /* one-shot: look for due items */
	bool usable;                       /* this version can send to the sink */
	bool stalled;                      /* a store error: wait for the timer */
	bool draining;                     /* deliver_drain: due-now items left to try */
	int failures;                      /* consecutive failed attempts */
	bool answered;                     /* the sink accepted an attempt since (re)load */
	bool dead_check;                   /* a delivery-dead alert of this sink may be firing */
	struct slot *slots;                /* max_in_flight of them */
	int n_slots;
	int in_flight;                     /* busy slots */
	/* The sink-wide back-off: down counts the failed probes (0: up); no
	 * attempt starts before down_until (monotonic ms). */
	int down;
	int64_t down_until;
	/* rate: the start times (monotonic ms) of the last rate attempts. */
	int64_t *starts;
	size_t n_starts, next_start;
};

struct deliver {
	struct daemon *d;
	struct worker *workers;
	size_t n_workers;
	char **secrets;                    /* NULL-terminated: what a peer's text must not carry */
	char hostname[256];
	struct event drain_ev;
	void (*drain_done)(void *arg);
	void *drain_arg;
	int64_t drain_now;
	bool drain_fired;
};

static void worker_run(struct worker *w);

/* See deliver_internal.h.  The jitter keeps items queued together from
 * retrying in lock step. */
int64_t deliver_backoff(int attempts)
{
	int64_t base = DELIVER_BACKOFF_MIN;

	for (int i = 1; i < attempts && base < DELIVER_BACKOFF_MAX; i++)
		base *= 2;
	if (base > DELIVER_BACKOFF_MAX)
		base = DELIVER_BACKOFF_MAX;
	base = base * (80 + (int64_t)arc4random_uniform(41)) / 100;
	return base > 0 ? base : 1;
}

/* A rough, readable duration for log lines: "37s", "48m", "3h", "4d". */
static void deliver_approx(int64_t secs, char *buf, size_t n)
{
	if (secs < 120)
		snprintf(buf, n, "%llds", (long long)secs);
	else if (secs < 2 * 3600)
		snprintf(buf, n, "%lldm", (long long)(secs + 30) / 60);
	else if (secs < 2 * 86400)
		snprintf(buf, n, "%lldh", (long long)(secs + 1800) / 3600);
	else
		snprintf(buf, n, "%lldd", (long long)(secs + 43200) / 86400);
}

/* Run the worker after secs seconds (0: on the next turn of the loop). */
static void worker_arm(struct worker *w, int64_t secs)
{
	struct timeval tv = {0, 0};

	if (secs > DELIVER_BACKOFF_MAX)
		secs = DELIVER_BACKOFF_MAX; /* the wall clock may jump: look again within the hour */
	if (secs > 0)
		tv.tv_sec = (time_t)secs;
	evtimer_add(&w->timer, &tv);
}

/* The worker's timer fired. */
static void worker_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct daemon *d = w->dl->d;
	int64_t start = daemon_mono_us();

	worker_run(w);
	daemon_loop_step(d, "delivery", NULL, start);
}

/* The drain is over: call its done() from the loop, never from inside deliver_drain(). */
static void deliver_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct deliver *dl = arg;
	void (*done)(void *) = dl->drain_done;

	dl->drain_done = NULL;
	dl->drain_fired = false;
	if (done != NULL)
		done(dl->drain_arg);
}

/* A drain is over when no worker has a due-now item left to try. */
static void deliver_check_drain(struct deliver *dl)
{
	if (dl->drain_done == NULL || dl->drain_fired)
		return;
	for (size_t i = 0; i < dl->n_workers; i++)
		if (dl->workers[i].draining)
			return;
	dl->drain_fired = true;
	event_active(&dl->drain_ev, 0, 0);
}

/* This worker has nothing due-now left for the drain. */
static void worker_drained(struct worker *w)
{
	if (!w->draining)
		return;
	w->draining = false;
	deliver_check_drain(w->dl);
}

/* cfg as the daemon's own alerts about sink skip see it: every sink but
 * that one (a shallow copy: it borrows the sinks' strings).  The caller
 * frees *ret_sinks. */
static int deliver_cfg_without(const struct sw_config *cfg, const char *skip, struct sw_config *ret,
                               struct sw_sink_config **ret_sinks)
{
	struct sw_sink_config *sinks = NULL;
	size_t n = 0;

	if (cfg->n_sinks > 0) {
		sinks = calloc(cfg->n_sinks, sizeof(*sinks));
		if (sinks == NULL)
			return -ENOMEM;
	}
	for (size_t i = 0; i < cfg->n_sinks; i++)
		if (cfg->sinks[i].name != NULL && strcmp(cfg->sinks[i].name, skip) != 0)
			sinks[n++] = cfg->sinks[i];
	*ret = *cfg;
	ret->sinks = sinks;
	ret->n_sinks = n;
	*ret_sinks = sinks;
	return 0;
}

/* sl's item it just died: raise (or grow) the delivery-dead alert of this
 * sink, in the caller's transaction, on every sink but this one.  The
 * alert is kept in the dead alert's tenant, so `smtpwatchctl alerts` shows
 * it next to what was lost. */
static int deliver_dead_fire(struct slot *sl, const struct sw_outbox_item *it, int64_t now)
{
	struct worker *w = sl->w;
	const struct sink_attempt *a = &sl->attempt;
	struct daemon *d = w->dl->d;
	struct sw_sink_config *sinks = NULL;
	struct sw_config cfg;
	struct sw_condition c = {0};
	json_t *doc, *evidence = NULL;
	char summary[768], remediation[512], age[32];
	const char *tenant, *rule, *subject;
	int r;

	doc = json_loads(it->body, 0, NULL);
	tenant = json_string_value(json_object_get(doc, "tenant"));
	rule = json_string_value(json_object_get(doc, "rule"));
	subject = json_string_value(json_object_get(doc, "subject"));
	deliver_approx(now - it->created, age, sizeof(age));
	snprintf(summary, sizeof(summary),
	         "alerts to sink %s (%s) are undeliverable: alert %s (%s, %s) is dead after %d attempt%s over %s: %s",
	         w->sink->name, sw_sink_type_name(w->sink->type), it->alert_id, rule ? rule : "-",
	         subject ? subject : "-", it->attempts + 1, it->attempts == 0 ? "" : "s", age, a->error);
	snprintf(remediation, sizeof(remediation),
	         "smtpwatchctl status (sink %s: last error), fix the receiver or the [sink %s] section and "
	         "smtpwatchctl reload; the lost alert: smtpwatchctl alert %s",
	         w->sink->name, w->sink->name, it->alert_id);
	evidence = json_pack("{s:[s],s:s,s:s}", "alert_ids", it->alert_id, "sink_type",
	                     sw_sink_type_name(w->sink->type), "last_error", a->error);
	if (evidence == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	c.rule = SW_RULE_DELIVERY_DEAD;
	c.severity = SW_SEV_HIGH;
	c.tenant = tenant ? tenant : "-";
	c.subject = w->sink->name;
	c.first_seen = it->created;
	c.last_seen = now;
	c.count = 1;
	c.accumulate = true;
	c.summary = summary;
	c.remediation = remediation;
	c.evidence = evidence;
	r = deliver_cfg_without(d->cfg, w->sink->name, &cfg, &sinks);
	if (r >= 0)
		r = sw_lifecycle_fire(d->store, &cfg, &c, now, NULL);
fail:
	free(sinks);
	json_decref(evidence);
	json_decref(doc);
	return r;
}

/* The sink delivers again: resolve its delivery-dead alerts (one per
 * tenant at most), in the caller's transaction, on every other sink.
 * The firing ones are read in one query: a look-up per configured tenant
 * was 10,000 of them at the first delivery after each start and reload. */
static int deliver_dead_resolve(struct worker *w, int64_t now)
{
	struct daemon *d = w->dl->d;
	struct sw_sink_config *sinks = NULL;
	struct sw_strv t = {0};
	struct sw_config cfg;
	int r;

	r = deliver_cfg_without(d->cfg, w->sink->name, &cfg, &sinks);
	if (r >= 0)
		r = sw_store_alerts_firing_subject(d->store, SW_RULE_DELIVERY_DEAD, w->sink->name, sw_strv_add_tenant, &t);
	for (size_t i = 0; r >= 0 && i < t.n; i++)
		r = sw_lifecycle_resolve(d->store, &cfg, SW_RULE_DELIVERY_DEAD, t.v[i], w->sink->name, now);
	sw_strv_clear(&t);
	free(sinks);
	return r;
}

/* Add a copy of s to the NULL-terminated list *v of *n; NULL or shorter
 * than min is skipped (a URL's path "/" would redact every slash). */
static int secrets_add(char ***v, size_t *n, const char *s, size_t len, size_t min)
{
	char **nv;

	if (s == NULL || len < min || len == 0)
		return 0;
	nv = realloc(*v, (*n + 2) * sizeof(*nv));
	if (nv == NULL)
		return -ENOMEM;
	*v = nv;
	nv[*n] = strndup(s, len);
	if (nv[*n] == NULL)
		return -ENOMEM;
	nv[++*n] = NULL;
	return 0;
}

/* Add a secret URL (a webhook's, a Teams Workflows' with its sig=): the
 * whole of it, its path and query (8 bytes or more), its query, and each
 * query value of 16 bytes or more (a signature, not api-version's date),
 * since a receiver may echo any of these. */
static int secrets_add_url(char ***v, size_t *n, const char *url)
{
	const char *host = url ? strstr(url, "://") : NULL;
	const char *path = host ? strchr(host + 3, '/') : NULL;
	const char *query = url ? strchr(url, '?') : NULL;
	int r = 0;

	if (url == NULL)
		return 0;
	r = secrets_add(v, n, url, strlen(url), 1);
	if (r >= 0 && path != NULL)
		r = secrets_add(v, n, path, strlen(path), 8);
	if (r >= 0 && query != NULL)
		r = secrets_add(v, n, query + 1, strlen(query + 1), 8);
	for (const char *p = query; r >= 0 && p != NULL; p = strchr(p + 1, '&')) {
		const char *eq = strchr(p, '='), *end = strchr(p + 1, '&');

		if (eq == NULL || (end != NULL && eq > end))
			continue;
		r = secrets_add(v, n, eq + 1, end ? (size_t)(end - eq - 1) : strlen(eq + 1), 16);
	}
	return r;
}

/* Free a list from deliver_secrets(), overwriting each. */
static void deliver_secrets_free(char **v)
{
	for (size_t i = 0; v != NULL && v[i] != NULL; i++)
		sw_free_secret(v[i]);
	free(v);
}

/* Are a and b the same secret (both unset counts)? */
static bool same_secret(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/* Every configured secret: the tenants' client secrets, the sinks'
 * tokens and HMAC keys, their URLs (url_file holds a secret URL).  NULL on
 * OOM (then nothing is redacted, and the log says so). */
static char **deliver_secrets(const struct sw_config *cfg)
{
	char **v = calloc(1, sizeof(*v)); /* terminated even when empty */
	size_t n = 0;
	int r = 0;

	if (v == NULL)
		return NULL;
	/* The tenants of [tenant-defaults] share one secret (10,000 copies of
	 * it made each reload's redactor): a secret the tenant before holds
	 * too is listed once. */
	for (size_t i = 0; r >= 0 && i < cfg->n_tenants; i++) {
		const struct sw_tenant_config *t = &cfg->tenants[i], *prev = i > 0 ? &cfg->tenants[i - 1] : NULL;
		const char *s = t->client_secret;
		if (prev == NULL || !same_secret(s, prev->client_secret))
			r = secrets_add(&v, &n, s, s ? strlen(s) : 0, 1);
		s = t->remediation_client_secret;
		if (r >= 0 && (prev == NULL || !same_secret(s, prev->remediation_client_secret)))
			r = secrets_add(&v, &n, s, s ? strlen(s) : 0, 1);
	}
	for (size_t i = 0; r >= 0 && i < cfg->n_sinks; i++) {
		const struct sw_sink_config *s = &cfg->sinks[i];
		const struct sink_ops *ops = sink_ops_of(s->type);

		r = secrets_add(&v, &n, s->token, s->token ? strlen(s->token) : 0, 1);
		/* A binary key is matched up to its first NUL. */
		if (r >= 0)
			r = secrets_add(&v, &n, s->hmac_key, s->hmac_key ? strlen(s->hmac_key) : 0, 1);
		if (r >= 0 && ops != NULL && ops->secret_url)
			r = secrets_add_url(&v, &n, s->url);
	}
	if (r < 0) {
		deliver_secrets_free(v);
		return NULL;
	}
	return v;
}

/* The sink itself failed on sl's attempt: (re)start its back-off.  A
 * request that was already in flight when the sink went down says nothing
 * new and leaves the back-off as it is. */
static void worker_sink_down(struct slot *sl)
{
	struct worker *w = sl->w;
	const struct sink_attempt *a = &sl->attempt;
	int64_t wait, mono = daemon_mono_ms();
	char when[32];

	if (w->down > 0 && !sl->probe)
		return;
	w->down++;
	wait = deliver_backoff(w->down);
	if (a->retry_after > wait)
		wait = a->retry_after < DELIVER_BACKOFF_MAX ? a->retry_after : DELIVER_BACKOFF_MAX;
	w->down_until = mono + wait * 1000;
	deliver_approx(wait, when, sizeof(when));
	if (w->down == 1)
		log_warn("sink %s: the receiver failed (%s): holding every delivery to it, one probe in %s",
		         w->sink->name, a->error, when);
	else
		log_info("sink %s: probe %d failed (%s), next probe in %s", w->sink->name, w->down - 1, a->error, when);
}

/* Record the outcome of sl's attempt for one of its items in its own
 * transaction and log it once; the item is cleared.  < 0 when the store
 * could not record it (-ENOENT: the item was no longer queued). */
static int item_outcome(struct slot *sl, struct sw_outbox_item *it, bool ok, bool *ret_dead)
{
	struct worker *w = sl->w;
	struct daemon *d = w->dl->d;
	struct sink_attempt *a = &sl->attempt;
	const char *name = w->sink->name;
	int64_t now = daemon_now(), delay = 0;
	bool dead = false, resolving = ok && w->dead_check;
	bool digest = strncmp(it->alert_id, "digest-", 7) == 0;
	char when[32], age[32];
	int r;

	if (!ok) {
		dead = a->permanent || now - it->created >= d->cfg->daemon.dead_after;
		delay = deliver_backoff(it->attempts + 1);
		if (a->retry_after > delay)
			delay = a->retry_after < DELIVER_BACKOFF_MAX ? a->retry_after : DELIVER_BACKOFF_MAX;
	}
	r = sw_store_begin(d->store);
	if (r >= 0) {
		if (ok) {
			r = sw_store_outbox_delivered(d->store, it->id, now);
			if (r >= 0 && digest)
				r = sw_store_outbox_digest_done(d->store, it->id, name, false, now, NULL);
			if (r >= 0 && resolving)
				r = deliver_dead_resolve(w, now);
		} else if (dead) {
			r = sw_store_outbox_dead(d->store, it->id, now, a->error);
			if (r >= 0 && digest)
				r = sw_store_outbox_digest_done(d->store, it->id, name, true, now, a->error);
			if (r >= 0)
				r = deliver_dead_fire(sl, it, now);
		} else {
			r = sw_store_outbox_retry(d->store, it->id, now + delay, a->error);
		}
		if (r >= 0)
			r = sw_store_commit(d->store);
		if (r < 0)
			sw_store_rollback(d->store);
	}
	if (r == -ENOENT) {
		log_debug("sink %s: alert %s (transition %d) was no longer queued", name, it->alert_id,
		          it->transition);
	} else if (r < 0) {
		/* The item stays as it was: it is sent again (at least once), but
		 * not before the database had a moment. */
		log_err("sink %s: cannot record the outcome for alert %s (transition %d): %s; retrying in %ds", name,
		        it->alert_id, it->transition, sw_store_errmsg(d->store), DELIVER_STORE_RETRY);
	} else if (ok) {
		log_debug("sink %s: alert %s (transition %d) delivered", name, it->alert_id, it->transition);
	} else if (dead) {
		deliver_approx(now - it->created, age, sizeof(age));
		log_err("sink %s: alert %s (transition %d) is dead after %d attempt%s over %s: %s; "
		        "raised " SW_RULE_DELIVERY_DEAD " on the other sinks",
		        name, it->alert_id, it->transition, it->attempts + 1, it->attempts == 0 ? "" : "s", age, a->error);
	} else {
		deliver_approx(delay, when, sizeof(when));
		log_warn("sink %s: alert %s (transition %d): %s, retrying in %s", name, it->alert_id, it->transition,
		         a->error, when);
	}
	if (r >= 0 && ok)
		w->dead_check = false;
	else if (r >= 0 && dead)
		w->dead_check = true;
	/* delivery-dead may have queued rows for the other sinks, whose
	 * workers sleep until told. */
	if (r >= 0 && (dead || resolving))
		deliver_kick(w->dl);
	*ret_dead = dead;
	sw_outbox_item_clear(it);
	return r;
}

/* Record the outcome of sl's attempt for each of its items, then for the
 * sink. */
static void worker_outcome(struct slot *sl, bool ok)
{
	struct worker *w = sl->w;
	struct sink_attempt *a = &sl->attempt;
	bool stalled = false, dead;

	/* The error quotes the receiver (HEC's text, curl's message): a
	 * configured secret it echoed goes neither to status nor the log. */
	if (!ok)
		sw_redact(a->error, sizeof(a->error), (const char *const *)w->dl->secrets);
	if (ok && w->failures > 0)
		log_info("sink %s: delivering again after %d failed attempt%s", w->sink->name, w->failures,
		         w->failures == 1 ? "" : "s");
	for (size_t i = 0; i < sl->n_items; i++) {
		int r = item_outcome(sl, &sl->items[i], ok, &dead);

		if (r < 0 && r != -ENOENT)
			stalled = true;
	}
	sl->n_items = 0;
	if (ok) {
		w->failures = 0;
		w->down = 0;
		w->answered = true;
	} else {
		w->failures++;
		if (a->sink_down)
			worker_sink_down(sl);
	}
	if (stalled) {
		w->stalled = true;
		worker_drained(w);
		worker_arm(w, DELIVER_STORE_RETRY);
	}
}

/* A send that went asynchronous is over: record it, then go on. */
static void worker_finish(struct slot *sl, bool ok)
{
	struct worker *w = sl->w;

	sl->busy = false;
	w->in_flight--;
	worker_outcome(sl, ok);
	if (!w->stalled)
		worker_arm(w, 0);
}

/* Start the attempt on sl's items: SINK_OK or SINK_FAILED when done at
 * once, SINK_PENDING when sink_attempt_done() will tell.  The key is the
 * first item's (a batch goes to HEC, which has no use for it). */
static int worker_send(struct slot *sl, int64_t now)
{
	struct worker *w = sl->w;
	struct sink_attempt *a = &sl->attempt;

	a->sink = &w->out;
	a->owner = sl;
	a->doc = sl->items[0].body;
	snprintf(a->key, sizeof(a->key), "%s-%d", sl->items[0].alert_id, sl->items[0].transition);
	a->created = sl->items[0].created;
	a->n_docs = sl->n_items;
	for (size_t i = 0; i < sl->n_items; i++) {
		a->docs[i] = sl->items[i].body;
		a->createds[i] = sl->items[i].created;
	}
	a->now = now;
	a->error[0] = '\0';
	a->permanent = false;
	a->sink_down = false;
	a->retry_after = -1;
	sl->probe = w->down > 0;
	return w->out.ops->send(&w->out, a);
}

/* See sink.h. */
void sink_attempt_done(struct sink_attempt *a, bool ok)
{
	worker_finish(a->owner, ok);
}

/* Milliseconds until the rate lets another attempt start (0: now). */
static int64_t worker_rate_wait(const struct worker *w, int64_t mono)
{
	int64_t oldest;

	if (w->starts == NULL || w->n_starts < (size_t)w->sink->rate)
		return 0;
	oldest = w->starts[w->next_start]; /* the ring is full: next_start is the oldest */
	return oldest + DELIVER_RATE_WINDOW_MS > mono ? oldest + DELIVER_RATE_WINDOW_MS - mono : 0;
}

/* An attempt starts now: note it for the rate. */
static void worker_rate_note(struct worker *w, int64_t mono)
{
	if (w->starts == NULL)
		return;
	w->starts[w->next_start] = mono;
	w->next_start = (w->next_start + 1) % (size_t)w->sink->rate;
	if (w->n_starts < (size_t)w->sink->rate)
		w->n_starts++;
}

/* Run the worker after ms milliseconds. */
static void worker_arm_ms(struct worker *w, int64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};

	evtimer_add(&w->timer, &tv);
}

/* The ids of the items in flight as a JSON array, for the store to leave
 * out ("[]" none), in *b (reset first).  0 or -ENOMEM. */
static int worker_in_flight_ids(const struct worker *w, struct sw_buf *b)
{
	int r = 0;

	b->len = 0;
	r = sw_buf_append(b, "[", 1);
	for (int i = 0; r >= 0 && i < w->n_slots; i++)
		for (size_t k = 0; r >= 0 && w->slots[i].busy && k < w->slots[i].n_items; k++)
			r = sw_buf_printf(b, "%s%lld", b->len > 1 ? "," : "", (long long)w->slots[i].items[k].id);
	return r < 0 ? r : sw_buf_append(b, "]", 1);
}

/* A free slot; NULL when every one is busy. */
static struct slot *worker_free_slot(struct worker *w)
{
	for (int i = 0; i < w->n_slots; i++)
		if (!w->slots[i].busy)
			return &w->slots[i];
	return NULL;
}

/* Why the worker may not start an attempt now: 0 it may, else the
 * milliseconds to wait (-1: until an attempt in flight ends). */
static int64_t worker_gate(const struct worker *w)
{
	int64_t mono = daemon_mono_ms();

	if (w->down > 0) {
		if (w->in_flight > 0)
			return -1; /* one probe at a time */
		if (mono < w->down_until)
			return w->down_until - mono;
	} else if (w->in_flight >= (w->answered ? w->n_slots : 1)) {
		return -1;
	}
	return worker_rate_wait(w, mono);
}

/* Group the sink's due notifications into digests, in a transaction of
 * their own, before any of them is taken one by one.  < 0 after a store
 * error (the worker waits). */
static int worker_digest(struct worker *w, int64_t now)
{
	struct sw_store *store = w->dl->d->store;
	struct sw_buf skip = {0};
	int made = 0, grown = 0, r;

	if (w->sink->digest_after <= 0 || !w->out.ops->digests)
		return 0;
	r = worker_in_flight_ids(w, &skip);
	if (r >= 0)
		r = sw_store_begin(store);
	if (r >= 0) {
		r = sw_store_outbox_digest(store, w->sink->name, w->draining ? w->dl->drain_now : now,
		                           w->sink->digest_after, w->sink->digest_window, skip.data, &made, &grown);
		if (r >= 0)
			r = sw_store_commit(store);
		if (r < 0)
			sw_store_rollback(store);
	}
	sw_buf_clear(&skip);
	if (r < 0) {
		log_err("sink %s: cannot group alerts into a digest: %s; retrying in %ds", w->sink->name,
		        sw_store_errmsg(store), DELIVER_STORE_RETRY);
		w->stalled = true;
		worker_drained(w);
		worker_arm(w, DELIVER_STORE_RETRY);
		return r;
	}
	if (made > 0)
		log_info("sink %s: %d digest%s of more than %lld alerts of one rule within %llds", w->sink->name, made,
		         made == 1 ? "" : "s", (long long)w->sink->digest_after, (long long)w->sink->digest_window);
	if (grown > 0)
		log_info("sink %s: %d digest%s not sent yet took later alerts", w->sink->name, grown,
		         grown == 1 ? "" : "s");
	return 0;
}

/* Seal the digests among sl's items before their first attempt (one
 * transaction): from now on a receiver may hold a digest's body under its
 * key, whatever happens to this process, so it takes no more members. */
static int worker_seal(struct worker *w, struct slot *sl)
{
	struct sw_store *store = w->dl->d->store;
	bool any = false;
	int r = 0;

	for (size_t i = 0; i < sl->n_items; i++)
		any |= sl->items[i].attempts == 0 && strncmp(sl->items[i].alert_id, "digest-", 7) == 0;
	if (!any)
		return 0;
	r = sw_store_begin(store);
	for (size_t i = 0; r >= 0 && i < sl->n_items; i++)
		if (sl->items[i].attempts == 0 && strncmp(sl->items[i].alert_id, "digest-", 7) == 0)
			r = sw_store_outbox_seal(store, sl->items[i].id);
	if (r >= 0)
		r = sw_store_commit(store);
	if (r < 0)
		sw_store_rollback(store);
	return r;
}

/* Take the oldest due items not in flight into the free slot sl: one, or
 * up to the sink's batch.  0 with sl->n_items > 0, -ENOENT when none is
 * due, or another error of the store.  skip is left listing what is in
 * flight, sl included. */
static int worker_take(struct worker *w, struct slot *sl, int64_t now, struct sw_buf *skip)
{
	size_t max = w->out.ops->batch > 1 ? (size_t)w->out.ops->batch : 1;
	int r = 0;

	sl->n_items = 0;
	sl->busy = true; /* its items are left out of the next query */
	while (sl->n_items < max) {
		if ((r = worker_in_flight_ids(w, skip)) < 0)
			break;
		r = sw_store_outbox_next_except(w->dl->d->store, w->sink->name, w->draining ? w->dl->drain_now : now,
		                                skip->data, &sl->items[sl->n_items]);
		if (r < 0)
			break;
		sl->n_items++;
	}
	if ((sl->n_items > 0 && (r = worker_seal(w, sl)) < 0) || (r = worker_in_flight_ids(w, skip)) < 0 ||
	    sl->n_items == 0) {
		for (size_t i = 0; i < sl->n_items; i++)
			sw_outbox_item_clear(&sl->items[i]);
		sl->n_items = 0;
		sl->busy = false;
		return r < 0 ? r : -ENOENT;
	}
	sl->busy = false;
	return 0;
}

/* Fill the free slots with due items, oldest first, as far as the sink's
 * back-off and rate let; then sleep until the earliest next attempt.  A
 * drain takes the items due when it started, including those whose
 * back-off has not yet elapsed by the daemon's timers, and tries each
 * once; a sink that is down is done with the drain (its items stay
 * queued). */
static void worker_run(struct worker *w)
{
	struct sw_store *store = w->dl->d->store;
	const char *name = w->sink->name;
	struct sw_buf skip = {0};
	int64_t now = daemon_now(), due, gate;
	int r = 0, sent, sync = 0;
	bool digest;

	if (!w->usable)
		return;
	w->stalled = false;
	if (worker_gate(w) == 0 && worker_digest(w, now) < 0)
		return;
	for (;;) {
		struct slot *sl;

		gate = worker_gate(w);
		if (gate != 0)
			break;
		sl = worker_free_slot(w);
		now = daemon_now();
		r = worker_take(w, sl, now, &skip);
		if (r < 0)
			break;
		worker_rate_note(w, daemon_mono_ms());
		digest = strncmp(sl->items[0].alert_id, "digest-", 7) == 0;
		sent = worker_send(sl, now);
		if (sent == SINK_PENDING) {
			sl->busy = true;
			w->in_flight++;
			continue;
		}
		worker_outcome(sl, sent == SINK_OK);
		if (w->stalled)
			goto out; /* the outcome could not be recorded: wait */
		/* A digest delivered at once (syslog, journal) makes its members'
		 * next transitions ready: group those too before taking them one
		 * by one (a sink that waits for an answer groups them when the
		 * answer runs the worker again). */
		if (digest && sent == SINK_OK && worker_gate(w) == 0 && worker_digest(w, daemon_now()) < 0)
			goto out;
		if (++sync == DELIVER_BATCH) {
			worker_arm(w, 0); /* more may be due: let the rest of the loop run first */
			goto out;
		}
	}
	if (gate > 0) {
		/* Down or at the rate: a drain does not wait for the back-off. */
		if (w->down > 0)
			worker_drained(w);
		worker_arm_ms(w, gate);
		goto out;
	}
	if (gate < 0)
		goto out; /* a send in flight runs the worker when it ends */
	if (r != -ENOENT) {
		log_err("sink %s: cannot read the outbox: %s; retrying in %ds", name, sw_store_errmsg(store),
		        DELIVER_STORE_RETRY);
		w->stalled = true;
		worker_drained(w);
		worker_arm(w, DELIVER_STORE_RETRY);
		goto out;
	}
	if (w->in_flight == 0)
		worker_drained(w);
	r = sw_store_outbox_next_due_except(store, name, skip.data, &due);
	if (r == 0)
		worker_arm(w, due > now ? due - now : 1);
	else if (r != -ENOENT) {
		log_err("sink %s: cannot read the outbox: %s; retrying in %ds", name, sw_store_errmsg(store),
		        DELIVER_STORE_RETRY);
		w->stalled = true;
		worker_arm(w, DELIVER_STORE_RETRY);
	}
	/* -ENOENT: nothing queued but what is in flight; its end, or
	 * deliver_kick(), wakes the worker. */
out:
	sw_buf_clear(&skip);
}

/* Set a worker up for its sink; an unusable one leaves its items queued. */
static void worker_init(struct deliver *dl, struct worker *w, const struct sw_sink_config *sink)
{
	struct sink *out = &w->out;
	char why[320] = "";

	w->dl = dl;
	w->sink = sink;
	w->dead_check = true; /* a delivery-dead alert may be left from an earlier run */
	evtimer_assign(&w->timer, dl->d->base, worker_timer_cb, w);
	w->n_slots = sink->max_in_flight > 0 ? (int)sink->max_in_flight : 1;
	w->slots = calloc((size_t)w->n_slots, sizeof(*w->slots));
	w->starts = sink->rate > 0 ? calloc((size_t)sink->rate, sizeof(*w->starts)) : NULL;
	if (w->slots == NULL || (sink->rate > 0 && w->starts == NULL)) {
		log_err("sink %s: out of memory; its alerts stay queued", sink->name);
		return;
	}
	for (int i = 0; i < w->n_slots; i++)
		w->slots[i].w = w;
	out->ops = sink_ops_of(sink->type);
	out->cfg = sink;
	out->base = dl->d->base;
	out->http = dl->d->http;
	out->hostname = dl->hostname;
	out->secrets = (const char *const *)dl->secrets;
	if (out->ops == NULL) {
		log_warn("sink %s: type %s is not supported in this version; its alerts stay queued", sink->name,
		         sw_sink_type_name(sink->type));
		return;
	}
	w->usable = out->ops->setup == NULL || out->ops->setup(out, why, sizeof(why)) >= 0;
	if (!w->usable)
		log_err("sink %s: %s; its alerts stay queued until the configuration is fixed and reloaded", sink->name,
		        why);
}

/* See deliver.h.  Workers look at the outbox as soon as the loop runs, so
 * items left queued by an earlier run go out without waiting for a poll. */
struct deliver *deliver_new(struct daemon *d)
{
	struct deliver *dl;

	dl = calloc(1, sizeof(*dl));
	if (dl == NULL)
		return NULL;
	dl->d = d;
	dl->n_workers = d->cfg->n_sinks;
	if (dl->n_workers > 0) {
		dl->workers = calloc(dl->n_workers, sizeof(*dl->workers));
		if (dl->workers == NULL) {
			free(dl);
			return NULL;
		}
	}
	if (gethostname(dl->hostname, sizeof(dl->hostname) - 1) < 0)
		dl->hostname[0] = '\0';
	dl->secrets = deliver_secrets(d->cfg);
	if (dl->secrets == NULL)
		log_warn("out of memory listing the configured secrets: a receiver's error text is not redacted");
	/* The log redacts them too, in every line (a token endpoint's or a
	 * receiver's text may be quoted anywhere). */
	log_set_secrets((const char *const *)dl->secrets);
	event_assign(&dl->drain_ev, d->base, -1, 0, deliver_drain_cb, dl);
	for (size_t i = 0; i < dl->n_workers; i++) {
		worker_init(dl, &dl->workers[i], &d->cfg->sinks[i]);
		if (dl->workers[i].usable)
			worker_arm(&dl->workers[i], 0);
	}
	return dl;
}

/* See deliver.h.  A send in flight is abandoned: its item stays queued and
 * is sent again later (the Idempotency-Key lets a receiver notice). */
void deliver_free(struct deliver *dl)
{
	if (dl == NULL)
		return;
	for (size_t i = 0; i < dl->n_workers; i++) {
		struct worker *w = &dl->workers[i];

		if (w->dl == NULL)
			continue;
		for (int k = 0; k < w->n_slots; k++) {
			if (w->slots[k].busy && w->out.ops->cancel != NULL)
				w->out.ops->cancel(&w->out, &w->slots[k].attempt);
			for (size_t j = 0; j < w->slots[k].n_items; j++)
				sw_outbox_item_clear(&w->slots[k].items[j]);
		}
		event_del(&w->timer);
		if (w->out.ops != NULL && w->out.ops->free != NULL)
			w->out.ops->free(&w->out);
		free(w->slots);
		free(w->starts);
	}
	event_del(&dl->drain_ev);
	deliver_secrets_free(dl->secrets);
	free(dl->workers);
	free(dl);
}

/* See deliver_internal.h. */
void deliver_backoff_end(struct deliver *dl)
{
	for (size_t i = 0; dl != NULL && i < dl->n_workers; i++)
		dl->workers[i].down_until = 0;
}

/* See deliver.h. */
void deliver_kick(struct deliver *dl)
{
	if (dl == NULL)
		return;
	for (size_t i = 0; i < dl->n_workers; i++) {
		struct worker *w = &dl->workers[i];

		/* A worker waiting out a store error waits; one at its limit
		 * looks again when a send ends. */
		if (w->usable && !w->stalled)
			worker_arm(w, 0);
	}
}

/* See deliver.h. */
void deliver_drain(struct deliver *dl, void (*done)(void *arg), void *arg)
{
	dl->drain_done = done;
	dl->drain_arg = arg;
	dl->drain_now = daemon_now();
	for (size_t i = 0; i < dl->n_workers; i++) {
		struct worker *w = &dl->workers[i];

		w->draining = w->usable;
		if (w->usable)
			worker_arm(w, 0);
	}
	deliver_check_drain(dl);
}

/* See deliver.h. */
int deliver_active(const struct deliver *dl)
{
	int n = 0;

	if (dl == NULL)
		return 0;
	for (size_t i = 0; i < dl->n_workers; i++)
		n += dl->workers[i].in_flight;
	return n;
}

/* See deliver.h.  Besides the counters: "supported" is false for a sink
 * this version cannot send to (its alerts stay queued). */
json_t *deliver_status(struct deliver *dl)
{
	json_t *all = json_object();

	for (size_t i = 0; dl != NULL && all != NULL && i < dl->n_workers; i++) {
		struct worker *w = &dl->workers[i];
		struct sw_outbox_stats st;
		char last[32];
		json_t *o;

		if (sw_store_outbox_stats(dl->d->store, w->sink->name, &st) < 0) {
			o = json_pack("{s:s,s:b,s:s}", "type", sw_sink_type_name(w->sink->type), "supported", w->usable,
			              "error", sw_store_errmsg(dl->d->store));
		} else {
			if (st.last_success > 0)
				sw_time_format(st.last_success, last, sizeof(last));
			o = json_pack("{s:s,s:b,s:I,s:I,s:I,s:I,s:s?,s:s?,s:i,s:b}", "type",
			              sw_sink_type_name(w->sink->type), "supported", w->usable, "queued",
			              (json_int_t)st.queued, "delivered", (json_int_t)st.delivered, "failed",
			              (json_int_t)st.failed_attempts, "dead", (json_int_t)st.dead, "last_error",
			              st.last_error[0] ? st.last_error : NULL, "last_success",
			              st.last_success > 0 ? last : NULL, "in_flight", w->in_flight, "down", w->down > 0);
		}
		if (o != NULL)
			json_object_set_new(all, w->sink->name, o);
	}
	return all;
}
