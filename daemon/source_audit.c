/* source_audit.c: the unified audit log source (Office 365 Management
 * Activity API, content type Audit.Exchange): who changed an SMTP AUTH
 * setting, when, from where.
 *
 * A run starts the subscription once (AF20024, already on, is fine), then
 * lists content in windows of at most 24 hours from the checkpoint less
 * AUDIT_OVERLAP, following NextPageUri, and reads every blob of a listing
 * page not read before.  Each blob commits with its records and its state
 * (read) in one transaction, so a run killed between blobs stores every
 * record once: the next run lists the window again and skips the blobs
 * marked read, and a record seen twice is dropped by its Id anyway.  The
 * watermark moves to a window's end once every blob of the window is read
 * or lost (a URI that answered 404: content expires after 7 days).
 *
 * Records arrive late (Microsoft: up to 90 minutes, sometimes more) in
 * blobs whose contentCreated lies in a window already listed; re-reading
 * AUDIT_OVERLAP before the watermark finds them.  The API refuses windows
 * that start more than 7 days ago: a checkpoint older than that means a
 * gap, which status names and coverage-gap reports a day before. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "audit.h"
#include "exo.h"
#include "jsonutil.h"
#include "log.h"
#include "poller.h"
#include "smtpwatchd.h"
#include "store_audit.h"

#define AUDIT_OVERLAP (2 * 3600)
#define AUDIT_WINDOW 86400
#define AUDIT_AVAILABLE (7 * 86400) /* how long Microsoft keeps content */
#define AUDIT_EDGE 600              /* stay this far inside the 7 days */
#define AUDIT_CONTENT_TYPE "Audit.Exchange"

enum audit_step {
	AUDIT_START,
	AUDIT_LIST,
	AUDIT_BLOB,
};

struct audit_run {
	enum audit_step step;
	int64_t upper;        /* the run's end: now at its start */
	int64_t win_from, win_to;
	struct sw_audit_content *queue; /* blobs of the listing page in hand still to read */
	size_t n_queue, next;
	char *next_page;      /* NextPageUri of the listing page in hand, NULL when none */
	char *base;           /* {manage_url}/api/v1.0/{tenant_id}/activity/feed */
	int64_t blobs, lost;
};

/* Per source state kept across runs, for status. */
struct audit_state {
	char coverage[256]; /* a warning when the checkpoint nears the 7 days, "" none */
	int64_t blobs_read, blobs_lost, bad_records;
};

static struct audit_state *audit_state(struct poller *p);

static const char *audit_resource(const struct tenant *t)
{
	return t->cfg->manage_url;
}

static int64_t audit_interval(const struct tenant *t)
{
	return t->cfg->audit_interval;
}

/* "2026-12-01T10:15:02": the API's own spelling (UTC, no zone). */
static void audit_time(int64_t t, char *buf, size_t n)
{
	sw_time_format(t, buf, n);
	size_t len = strlen(buf);
	if (len > 0 && buf[len - 1] == 'Z')
		buf[len - 1] = '\0';
}

/* Clear the queue of the listing page in hand. */
static void audit_queue_clear(struct audit_run *run)
{
	for (size_t i = 0; i < run->n_queue; i++) {
		free(run->queue[i].id);
		free(run->queue[i].uri);
	}
	free(run->queue);
	run->queue = NULL;
	run->n_queue = run->next = 0;
}

/* Send one request to the Management Activity API with PublisherIdentifier
 * (the tenant's GUID) in its query, where the URL does not carry it yet
 * (a NextPageUri or contentUri may): Microsoft throttles the requests that
 * lack it in one quota shared by every such client, and those with it by
 * publisher.  An MSP's thousand tenants then do not starve each other. */
static int audit_request(struct poller *p, const char *method, const char *url, const char *body)
{
	const char *tid = poller_tenant(p)->cfg->tenant_id;
	char *full = NULL;
	int r;

	if (strcasestr(url, "PublisherIdentifier=") != NULL)
		return poller_request(p, method, url, body, NULL);
	if (asprintf(&full, "%s%cPublisherIdentifier=%s", url, strchr(url, '?') ? '&' : '?', tid) < 0)
		return -ENOMEM;
	r = poller_request(p, method, full, body, NULL);
	free(full);
	return r;
}

/* Ask for the listing of the window in hand. */
static int audit_request_list(struct poller *p, struct audit_run *run)
{
	char from[32], to[32], *url = NULL;
	int r;

	audit_time(run->win_from, from, sizeof(from));
	audit_time(run->win_to, to, sizeof(to));
	if (asprintf(&url, "%s/subscriptions/content?contentType=" AUDIT_CONTENT_TYPE "&startTime=%s&endTime=%s",
	             run->base, from, to) < 0)
		return -ENOMEM;
	run->step = AUDIT_LIST;
	r = audit_request(p, "GET", url, NULL);
	free(url);
	return r;
}

/* Ask for the subscription to start. */
static int audit_request_start(struct poller *p, struct audit_run *run)
{
	char *url = NULL;
	int r;

	if (asprintf(&url, "%s/subscriptions/start?contentType=" AUDIT_CONTENT_TYPE, run->base) < 0)
		return -ENOMEM;
	run->step = AUDIT_START;
	r = audit_request(p, "POST", url, "");
	free(url);
	return r;
}

/* Save the state of the subscription (its own transaction). */
static void audit_subscription_put(struct poller *p, const char *status, const char *why)
{
	struct tenant *t = poller_tenant(p);
	struct sw_store *s = t->daemon->store;

	if (sw_store_begin(s) < 0 ||
	    sw_store_subscription_put(s, t->cfg->name, AUDIT_CONTENT_TYPE, status, why, daemon_now()) < 0 ||
	    sw_store_commit(s) < 0) {
		sw_store_rollback(s);
		log_warn("tenant %s: audit: cannot save the subscription state: %s", t->cfg->name, sw_store_errmsg(s));
	}
}

/* Where a run starts: the watermark less the overlap, or the backfill on
 * the first run; never more than 7 days ago (the API refuses that).  A
 * checkpoint older than that is a gap: said in the log and status. */
static int64_t audit_from(struct poller *p, const struct sw_checkpoint *cp, int64_t now)
{
	struct tenant *t = poller_tenant(p);
	struct audit_state *as = audit_state(p);
	int64_t oldest = now - AUDIT_AVAILABLE + AUDIT_EDGE;
	int64_t backfill = t->cfg->initial_backfill < AUDIT_AVAILABLE ? t->cfg->initial_backfill : AUDIT_AVAILABLE;
	int64_t from = cp->watermark > 0 ? cp->watermark - AUDIT_OVERLAP : now - backfill;
	char at[32], lost[32];

	as->coverage[0] = '\0';
	if (cp->watermark > 0 && cp->watermark < oldest) {
		sw_time_format(cp->watermark, at, sizeof(at));
		sw_time_format(oldest, lost, sizeof(lost));
		snprintf(as->coverage, sizeof(as->coverage), "audit records from %s to %s are no longer available "
		         "(Microsoft keeps content 7 days): who changed SMTP AUTH then is unknown", at, lost);
		log_warn("tenant %s: audit: %s", t->cfg->name, as->coverage);
	} else if (cp->watermark > 0 && cp->watermark < now - AUDIT_AVAILABLE + 86400) {
		sw_time_format(cp->watermark + AUDIT_AVAILABLE, lost, sizeof(lost));
		snprintf(as->coverage, sizeof(as->coverage), "the audit checkpoint is %lld hours old: records after it "
		         "are lost from %s unless a run completes", (long long)((now - cp->watermark) / 3600), lost);
	}
	return from < oldest ? oldest : from;
}

/* Start a run: the subscription first unless it is known to be on. */
static int audit_begin(struct poller *p, char *why, size_t n)
{
	struct tenant *t = poller_tenant(p);
	const struct sw_tenant_config *tc = t->cfg;
	struct audit_run *run = calloc(1, sizeof(*run));
	struct sw_subscription sub;
	struct sw_checkpoint cp;
	int64_t now = daemon_now();
	int r = -ENOMEM;

	if (run == NULL)
		goto out;
	poller_set_priv(p, run);
	if (asprintf(&run->base, "%s/api/v1.0/%s/activity/feed", tc->manage_url, tc->tenant_id) < 0) {
		run->base = NULL;
		goto out;
	}
	sw_store_checkpoint_get(t->daemon->store, tc->name, "audit", &cp);
	run->upper = now;
	run->win_from = audit_from(p, &cp, now);
	run->win_to = run->win_from + AUDIT_WINDOW < now ? run->win_from + AUDIT_WINDOW : now;
	if (sw_store_subscription_get(t->daemon->store, tc->name, AUDIT_CONTENT_TYPE, &sub) == 0 &&
	    strcmp(sub.status, "enabled") == 0)
		r = audit_request_list(p, run);
	else
		r = audit_request_start(p, run);
out:
	if (r < 0)
		snprintf(why, n, "cannot build the request: %s", strerror(-r));
	return r;
}

/* The next request after a listing page's blob or the page itself: the
 * next blob to read, the next page, the next window, or the end. */
static int audit_next(struct poller *p, struct audit_run *run, enum poller_next *ret, char *why, size_t n)
{
	struct tenant *t = poller_tenant(p);
	struct sw_store *s = t->daemon->store;
	int r;

	if (run->next < run->n_queue) {
		run->step = AUDIT_BLOB;
		r = audit_request(p, "GET", run->queue[run->next].uri, NULL);
		goto out;
	}
	audit_queue_clear(run);
	if (run->next_page != NULL) {
		r = audit_request(p, "GET", run->next_page, NULL);
		free(run->next_page);
		run->next_page = NULL;
		run->step = AUDIT_LIST;
		goto out;
	}
	/* The window is done: every blob read or lost. */
	struct sw_checkpoint cp;
	r = sw_store_begin(s);
	if (r >= 0) {
		sw_store_checkpoint_get(s, t->cfg->name, "audit", &cp);
		if (run->win_to > cp.watermark)
			cp.watermark = run->win_to;
		cp.last_attempt = daemon_now();
		if (run->win_to >= run->upper) {
			cp.last_success = cp.last_attempt;
			cp.last_error[0] = '\0';
		}
		r = sw_store_checkpoint_put(s, t->cfg->name, "audit", &cp);
	}
	if (r >= 0)
		r = sw_store_commit(s);
	if (r < 0) {
		sw_store_rollback(s);
		snprintf(why, n, "cannot save the checkpoint: %s", sw_store_errmsg(s));
		return r == -EAGAIN ? -EIO : r;
	}
	if (run->win_to >= run->upper) {
		*ret = POLLER_DONE;
		return 0;
	}
	run->win_from = run->win_to;
	run->win_to = run->win_from + AUDIT_WINDOW < run->upper ? run->win_from + AUDIT_WINDOW : run->upper;
	r = audit_request_list(p, run);
out:
	if (r < 0) {
		snprintf(why, n, "cannot build the request: %s", strerror(-r));
		return r;
	}
	*ret = POLLER_MORE;
	return 0;
}

/* A listing page: queue the blobs not read before (marked pending). */
static int audit_listing(struct poller *p, struct audit_run *run, const char *body, size_t len, char *why, size_t n)
{
	struct tenant *t = poller_tenant(p);
	struct sw_store *s = t->daemon->store;
	struct sw_audit_listing l = {0};
	struct sw_error err = {0};
	const char *np = poller_next_page_uri(p);
	int r;

	r = sw_audit_listing_parse(body, len, &l, &err);
	if (r == -E2BIG) {
		snprintf(why, n, "refused a content listing: %s", err.text);
		return r;
	}
	if (r < 0) {
		snprintf(why, n, "malformed content listing (%zu bytes): %s", len, err.text);
		return -EAGAIN;
	}
	if (l.bad > 0)
		log_warn("tenant %s: audit: %zu listing entr%s without contentId or contentUri skipped", t->cfg->name,
		         l.bad, l.bad == 1 ? "y" : "ies");
	audit_queue_clear(run);
	run->queue = calloc(l.n + 1, sizeof(*run->queue));
	if (run->queue == NULL) {
		sw_audit_listing_clear(&l);
		snprintf(why, n, "out of memory");
		return -ENOMEM;
	}
	r = sw_store_begin(s);
	for (size_t i = 0; r >= 0 && i < l.n; i++) {
		enum sw_blob_state state;
		int g = sw_store_blob_state(s, t->cfg->name, l.items[i].id, &state);
		if (g == 0 && state != SW_BLOB_PENDING)
			continue; /* read, or lost for good */
		if (g < 0 && g != -ENOENT) {
			r = g;
			break;
		}
		if (g == -ENOENT)
			r = sw_store_blob_put(s, t->cfg->name, &l.items[i], SW_BLOB_PENDING, 0, NULL, daemon_now());
		run->queue[run->n_queue++] = l.items[i]; /* taken over */
		l.items[i].id = l.items[i].uri = NULL;
	}
	if (r >= 0)
		r = sw_store_commit(s);
	sw_audit_listing_clear(&l);
	if (r < 0) {
		sw_store_rollback(s);
		snprintf(why, n, "cannot store the content listing: %s", sw_store_errmsg(s));
		return r == -EAGAIN ? -EIO : r;
	}
	free(run->next_page);
	run->next_page = np[0] ? strdup(np) : NULL;
	if (np[0] && run->next_page == NULL) {
		snprintf(why, n, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* Log the records of a blob that could not be read: once per blob, with
 * the blob and each record's position and Id. */
static void audit_log_bad(struct poller *p, const struct sw_audit_content *c, const struct sw_audit_blob *b)
{
	char list[SW_AUDIT_BAD_NOTES * 180] = "";
	size_t off = 0, shown = b->bad < SW_AUDIT_BAD_NOTES ? b->bad : SW_AUDIT_BAD_NOTES;

	for (size_t i = 0; i < shown && off < sizeof(list); i++) {
		const struct sw_audit_bad *k = &b->bads[i];
		int w = snprintf(list + off, sizeof(list) - off, "%s#%zu%s%s: %s", i ? "; " : "", k->index,
		                 k->id[0] ? " Id " : "", k->id, k->why);
		if (w < 0)
			break;
		off += (size_t)w;
	}
	if (b->bad > shown && off < sizeof(list))
		snprintf(list + off, sizeof(list) - off, "; and %zu more", b->bad - shown);
	log_warn("tenant %s: audit: skipped %zu unreadable record%s of %zu in blob %.160s: %s",
	         poller_tenant(p)->cfg->name, b->bad, b->bad == 1 ? "" : "s", b->records, c->id, list);
	poller_add_skipped(p, (int64_t)b->bad);
	audit_state(p)->bad_records += (int64_t)b->bad;
}

/* Mark the blob in hand lost (an expired URI, a body that is not JSON):
 * a coverage gap, never retried. */
static int audit_blob_lost(struct poller *p, struct audit_run *run, const char *reason, char *why, size_t n)
{
	struct tenant *t = poller_tenant(p);
	struct sw_store *s = t->daemon->store;
	const struct sw_audit_content *c = &run->queue[run->next];
	char created[32];
	int r;

	sw_time_format(c->created, created, sizeof(created));
	log_warn("tenant %s: audit: content %.160s (created %s) lost: %s; its records are not read (a coverage gap)",
	         t->cfg->name, c->id, created, reason);
	r = sw_store_begin(s);
	if (r >= 0)
		r = sw_store_blob_put(s, t->cfg->name, c, SW_BLOB_LOST, 0, reason, daemon_now());
	if (r >= 0)
		r = sw_store_commit(s);
	if (r < 0) {
		sw_store_rollback(s);
		snprintf(why, n, "cannot store the content state: %s", sw_store_errmsg(s));
		return r == -EAGAIN ? -EIO : r;
	}
	run->lost++;
	audit_state(p)->blobs_lost++;
	run->next++;
	return 0;
}

/* A content blob: its changes, the blob marked read, the count, at once. */
static int audit_blob(struct poller *p, struct audit_run *run, const char *body, size_t len, char *why, size_t n)
{
	struct tenant *t = poller_tenant(p);
	struct sw_store *s = t->daemon->store;
	const struct sw_audit_content *c = &run->queue[run->next];
	struct sw_audit_blob b = {0};
	struct sw_error err = {0};
	struct sw_checkpoint cp;
	size_t added = 0;
	char reason[512];
	int r;

	r = sw_audit_blob_parse(body, len, &b, &err);
	if (r == -EINVAL || r == -E2BIG) {
		snprintf(reason, sizeof(reason), "%s (%zu bytes): %s", r == -E2BIG ? "refused" : "not a JSON array of "
		         "records", len, err.text);
		return audit_blob_lost(p, run, reason, why, n);
	}
	if (r < 0) {
		snprintf(why, n, "cannot read content %.160s: %s", c->id, strerror(-r));
		return r;
	}
	r = sw_store_begin(s);
	if (r >= 0)
		r = sw_store_changes_add(s, t->cfg->name, b.items, b.n, daemon_now(), &added);
	if (r >= 0)
		r = sw_store_blob_put(s, t->cfg->name, c, SW_BLOB_READ, (int64_t)b.records, NULL, daemon_now());
	if (r >= 0) {
		sw_store_checkpoint_get(s, t->cfg->name, "audit", &cp);
		cp.records += (int64_t)added;
		cp.last_attempt = daemon_now();
		r = sw_store_checkpoint_put(s, t->cfg->name, "audit", &cp);
	}
	if (r >= 0)
		r = sw_store_commit(s);
	if (r < 0) {
		sw_store_rollback(s);
		snprintf(why, n, "cannot store %zu changes: %s%s", b.n, sw_store_errmsg(s),
		         r == -ENOSPC ? " (the state directory is full)" : "");
		sw_audit_blob_clear(&b);
		return r == -EAGAIN ? -EIO : r;
	}
	for (size_t i = 0; i < b.n && added > 0; i++)
		log_info("tenant %s: audit: %s %s %s=%s by %s%s%s", t->cfg->name, b.items[i].operation,
		         b.items[i].subject, b.items[i].setting ? b.items[i].setting : "(removed)",
		         b.items[i].value ? b.items[i].value : "$null", b.items[i].user ? b.items[i].user : "(unknown)",
		         b.items[i].ip ? " from " : "", b.items[i].ip ? b.items[i].ip : "");
	poller_add_records(p, (int64_t)added);
	if (b.bad > 0)
		audit_log_bad(p, c, &b);
	sw_audit_blob_clear(&b);
	run->blobs++;
	audit_state(p)->blobs_read++;
	run->next++;
	return 0;
}

/* A 200. */
static int audit_page(struct poller *p, const char *body, size_t len, enum poller_next *ret, char *why, size_t n)
{
	struct audit_run *run = poller_priv(p);
	int r;

	switch (run->step) {
	case AUDIT_START:
		audit_subscription_put(p, "enabled", "");
		log_info("tenant %s: audit: the " AUDIT_CONTENT_TYPE " subscription is started", poller_tenant(p)->cfg->name);
		r = audit_request_list(p, run);
		if (r < 0) {
			snprintf(why, n, "cannot build the request: %s", strerror(-r));
			return r;
		}
		*ret = POLLER_MORE;
		return 0;
	case AUDIT_LIST:
		r = audit_listing(p, run, body, len, why, n);
		break;
	case AUDIT_BLOB:
	default:
		r = audit_blob(p, run, body, len, why, n);
		break;
	}
	if (r < 0)
		return r;
	return audit_next(p, run, ret, why, n);
}

/* The error code and message of a Management API error body. */
static void audit_error(const char *body, size_t len, char *code, size_t cn, char *text, size_t tn)
{
	sw_audit_error_code(body, len, code, cn);
	sw_exo_error_text(body, len, text, tn);
}

/* Does the error say "Tenant ... does not exist." (in its message, after
 * the exception's first words)? */
static bool audit_tenant_unknown(const char *body, size_t len)
{
	json_t *root = json_loadb(body, len, 0, NULL);
	const char *msg = json_string_value(json_object_get(json_object_get(root, "error"), "message"));
	bool r = msg != NULL && strstr(msg, "Tenant ") != NULL && strstr(msg, "does not exist") != NULL;

	json_decref(root);
	return r;
}

/* A 400 or 404 (or another status the poller passes on). */
static int audit_answer(struct poller *p, long status, const char *body, size_t len, enum poller_next *ret, char *why,
                        size_t n)
{
	struct audit_run *run = poller_priv(p);
	struct tenant *t = poller_tenant(p);
	char code[32], text[300], reason[512];
	int r;

	audit_error(body, len, code, sizeof(code), text, sizeof(text));
	if (strcmp(code, "AF20023") == 0) {
		/* Disabled by an administrator: not a transient fault, and
		 * nothing can be read until someone turns it back on. */
		snprintf(reason, sizeof(reason), "the " AUDIT_CONTENT_TYPE " subscription is disabled (%s); "
		         "start it again (subscriptions/start) or ask who disabled it", text);
		audit_subscription_put(p, "disabled", text);
		poller_set_denied(p);
		snprintf(why, n, "%s", reason);
		return -EPERM;
	}
	switch (run->step) {
	case AUDIT_START:
		if (status == 400 && strncmp(code, "AF", 2) != 0 && audit_tenant_unknown(body, len)) {
			/* "StartSubscription [...] failed. Exception: ...Tenant X does
			 * not exist.": the audit service has no such tenant, which is
			 * what it says while unified audit logging is off. */
			audit_subscription_put(p, "none", "the audit service does not know the tenant");
			poller_set_denied(p);
			snprintf(why, n, "the audit service does not know tenant %s (\"Tenant ... does not exist\"): unified "
			         "audit logging is probably off; turn it on (Microsoft Purview portal, Audit, \"Start recording "
			         "user and admin activity\", or Set-AdminAuditLogConfig -UnifiedAuditLogIngestionEnabled $true) "
			         "and allow an hour", t->cfg->tenant_id);
			return -EPERM;
		}
		if (status == 400 && strcmp(code, "AF20024") == 0) {
			audit_subscription_put(p, "enabled", "AF20024");
			r = audit_request_list(p, run);
			if (r < 0) {
				snprintf(why, n, "cannot build the request: %s", strerror(-r));
				return r;
			}
			*ret = POLLER_MORE;
			return 1;
		}
		break;
	case AUDIT_LIST:
		if (status == 400 && strcmp(code, "AF20022") == 0) {
			/* The subscription is gone (or was never there): start it. */
			audit_subscription_put(p, "none", text);
			log_info("tenant %s: audit: no subscription (%s): starting it", t->cfg->name, text);
			r = audit_request_start(p, run);
			if (r < 0) {
				snprintf(why, n, "cannot build the request: %s", strerror(-r));
				return r;
			}
			*ret = POLLER_MORE;
			return 1;
		}
		if (status == 400 && strcmp(code, "AF20056") == 0 && run->win_to - run->win_from > AUDIT_EDGE) {
			/* Microsoft's clock is ahead of ours: what we think is just
			 * inside the 7 days is past them for the API.  Start a little
			 * later (what lies before is gone anyway). */
			log_warn("tenant %s: audit: %s (startTime %lld s inside our 7 days): starting %d s later", t->cfg->name,
			         text, (long long)(run->win_from - (run->upper - AUDIT_AVAILABLE)), AUDIT_EDGE);
			run->win_from += AUDIT_EDGE;
			r = audit_request_list(p, run);
			if (r < 0) {
				snprintf(why, n, "cannot build the request: %s", strerror(-r));
				return r;
			}
			*ret = POLLER_MORE;
			return 1;
		}
		break;
	case AUDIT_BLOB:
		if (status == 404 || (status == 400 && (strcmp(code, "AF20051") == 0 || strcmp(code, "AF20050") == 0 ||
		                                        strcmp(code, "AF20052") == 0))) {
			snprintf(reason, sizeof(reason), "HTTP %ld %s", status, text);
			r = audit_blob_lost(p, run, reason, why, n);
			if (r < 0)
				return r;
			r = audit_next(p, run, ret, why, n);
			return r < 0 ? r : 1;
		}
		break;
	}
	return 0;
}

/* Free the run's state. */
static void audit_end(struct poller *p, bool ok)
{
	struct audit_run *run = poller_priv(p);

	if (run != NULL) {
		audit_queue_clear(run);
		free(run->next_page);
		free(run->base);
		free(run);
	}
	poller_set_priv(p, NULL);
}

/* The per-source state lives beside the poller for its life. */
static struct audit_state *audit_state(struct poller *p)
{
	struct tenant *t = poller_tenant(p);

	if (t->audit_state == NULL)
		t->audit_state = calloc(1, sizeof(struct audit_state));
	if (t->audit_state == NULL) {
		static struct audit_state none; /* out of memory: counters go nowhere */
		return &none;
	}
	return t->audit_state;
}

/* A lost blob as a gap of status: {from, to, why}. */
static int audit_lost_cb(const struct sw_blob_lost *b, void *arg)
{
	json_array_append_new(arg, json_pack("{s:o,s:o,s:s,s:s}", "from", sw_json_time_or_null(b->created), "to",
	                                     sw_json_time_or_null(b->expiration), "content_id", b->content_id, "why",
	                                     b->why));
	return 0;
}

/* Status: the subscription, the overlap, lost content, the coverage. */
static void audit_status(struct poller *p, json_t *o)
{
	struct tenant *t = poller_tenant(p);
	struct audit_state *as = audit_state(p);
	struct sw_subscription sub;
	json_t *lost = json_array();

	if (sw_store_subscription_get(t->daemon->store, t->cfg->name, AUDIT_CONTENT_TYPE, &sub) == 0)
		json_object_set_new(o, "subscription", json_pack("{s:s,s:o,s:s}", "status", sub.status, "since",
		                                                  sw_json_time_or_null(sub.changed), "why", sub.why));
	else
		json_object_set_new(o, "subscription", json_null());
	json_object_set_new(o, "overlap_s", json_integer(AUDIT_OVERLAP));
	json_object_set_new(o, "blobs_read", json_integer(as->blobs_read));
	json_object_set_new(o, "blobs_lost", json_integer(as->blobs_lost));
	json_object_set_new(o, "coverage", as->coverage[0] ? json_string(as->coverage) : json_null());
	json_t *gaps = json_object_get(o, "gaps");
	sw_store_blobs_lost(t->daemon->store, t->cfg->name, 10, audit_lost_cb, lost);
	if (json_is_array(gaps))
		json_array_extend(gaps, lost);
	json_decref(lost);
}

const struct poller_ops audit_ops = {
	.name = "audit",
	.permission_hint = "the app needs the ActivityFeed.Read application permission of Office 365 Management APIs "
	                   "(admin consent), and auditing on in the tenant",
	/* Microsoft allows 2000 requests a minute per tenant; a run reads a
	 * listing page and its blobs back to back. */
	.pace_requests = 16,
	.pace_window_ms = 1000,
	.resource = audit_resource,
	.interval = audit_interval,
	.begin = audit_begin,
	.page = audit_page,
	.answer = audit_answer,
	.end = audit_end,
	.status = audit_status,
};
