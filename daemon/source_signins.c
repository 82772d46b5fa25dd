/* source_signins.c: the Entra sign-ins source (Graph auditLogs/signIns).
 *
 * Graph pages newest first, so the watermark can only move when the last
 * page of a run is stored: each page commits with its checkpoint (records
 * count) in one transaction, and the run's upper bound becomes the
 * watermark in the transaction of the last page.  A run that breaks
 * halfway keeps the pages it committed; the next run re-reads from the old
 * watermark less signins_lookback, and duplicates are dropped by id.  The
 * lookback also re-reads records that Entra delivers late. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "poller.h"
#include "signins.h"
#include "smtpwatchd.h"
#include "store.h"

/* The arena jansson builds a page's tree in (sw_signins_parse_arena):
 * blocks of 1 MiB or more, bumped through, all freed once the page is
 * parsed.  One page at a time, on the daemon's one thread. */
#define ARENA_BLOCK (1u << 20)

struct arena_block {
	struct arena_block *next;
	size_t used, cap;
	max_align_t data[];
};

static struct arena_block *arena;

/* jansson's malloc while a page is loaded. */
static void *arena_alloc(size_t n)
{
	struct arena_block *b = arena;
	void *p;

	n = (n + _Alignof(max_align_t) - 1) & ~(size_t)(_Alignof(max_align_t) - 1);
	if (b == NULL || b->cap - b->used < n) {
		size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;

		b = malloc(sizeof(*b) + cap);
		if (b == NULL)
			return NULL;
		b->used = 0;
		b->cap = cap;
		b->next = arena;
		arena = b;
	}
	p = (char *)b->data + b->used;
	b->used += n;
	return p;
}

/* Drop the page's tree at once. */
static void arena_release(void)
{
	while (arena != NULL) {
		struct arena_block *next = arena->next;

		free(arena);
		arena = next;
	}
}

struct signins_run {
	int64_t from;  /* the window's start */
	int64_t upper; /* the watermark once the run completes */
};

static const char *signins_resource(const struct tenant *t)
{
	return t->cfg->graph_url;
}

static int64_t signins_interval(const struct tenant *t)
{
	return t->cfg->signins_interval;
}

/* The first page: everything since the watermark less the lookback, or the
 * initial backfill on the first run. */
static int signins_begin(struct poller *p, char *why, size_t n)
{
	struct tenant *t = poller_tenant(p);
	const struct sw_tenant_config *tc = t->cfg;
	struct signins_run *run = calloc(1, sizeof(*run));
	struct sw_checkpoint cp;
	char since[32], filter[160], *enc = NULL, *url = NULL;
	int64_t now = daemon_now();
	int r = -ENOMEM;

	if (run == NULL)
		goto out;
	poller_set_priv(p, run);
	sw_store_checkpoint_get(t->daemon->store, tc->name, "signins", &cp);
	int64_t from = cp.watermark > 0 ? cp.watermark - tc->signins_lookback : now - tc->initial_backfill;
	run->from = from;
	run->upper = now;
	sw_time_format(from, since, sizeof(since));
	snprintf(filter, sizeof(filter), "createdDateTime ge %s and clientAppUsed eq 'Authenticated SMTP'", since);
	enc = sw_url_encode(filter);
	if (enc == NULL)
		goto out;
	const char *slash = tc->graph_url[strlen(tc->graph_url) - 1] == '/' ? "" : "/";
	if (asprintf(&url, "%s%sv1.0/auditLogs/signIns?$filter=%s&$top=1000", tc->graph_url, slash, enc) < 0) {
		url = NULL;
		goto out;
	}
	r = poller_request(p, "GET", url, NULL, NULL);
out:
	if (r < 0)
		snprintf(why, n, "cannot build the request: %s", strerror(-r));
	free(enc);
	free(url);
	return r;
}

/* One line per page that had records it could not read: how many, and the
 * first few by position and id, so the log stays bounded whatever the page
 * holds.  The texts come from signins.c, already made printable. */
static void signins_log_skipped(struct poller *p, const struct sw_signin_page *page, size_t len)
{
	char list[SW_SIGNINS_SKIP_NOTES * 160] = "";
	size_t off = 0, shown = page->skipped < SW_SIGNINS_SKIP_NOTES ? page->skipped : SW_SIGNINS_SKIP_NOTES;

	for (size_t i = 0; i < shown && off < sizeof(list); i++) {
		const struct sw_signin_skip *k = &page->skips[i];
		int w = snprintf(list + off, sizeof(list) - off, "%s#%zu%s%s: %s", i ? "; " : "", k->index,
		                 k->id[0] ? " id " : "", k->id, k->why);
		if (w < 0)
			break;
		off += (size_t)w;
	}
	if (page->skipped > shown && off < sizeof(list))
		snprintf(list + off, sizeof(list) - off, "; and %zu more", page->skipped - shown);
	log_warn("tenant %s: signins: skipped %zu unreadable record%s of %zu in a page (%zu bytes): %s",
	         poller_tenant(p)->cfg->name, page->skipped, page->skipped == 1 ? "" : "s",
	         page->n + page->skipped, len, list);
	poller_add_skipped(p, (int64_t)page->skipped);
}

/* Store one page; the last page also moves the watermark. */
static int signins_page(struct poller *p, const char *body, size_t len, enum poller_next *ret, char *why, size_t n)
{
	struct tenant *t = poller_tenant(p);
	struct signins_run *run = poller_priv(p);
	struct sw_store *s = t->daemon->store;
	struct sw_signin_page page = {0};
	struct sw_error err = {0};
	struct sw_checkpoint cp;
	size_t added = 0;
	int r;

	r = sw_signins_parse_arena(body, len, arena_alloc, &page, &err);
	arena_release();
	if (r == -E2BIG) {
		/* Not a transient fault: asking again brings the same page.  The
		 * run fails, keeps what earlier pages committed, and retries later. */
		snprintf(why, n, "refused %s", err.text);
		return -E2BIG;
	}
	if (r < 0) {
		snprintf(why, n, "malformed page (%zu bytes): %s", len, err.text);
		return -EAGAIN;
	}
	r = sw_store_begin(s);
	if (r < 0)
		goto fail;
	r = sw_store_signins_add(s, t->cfg->name, page.items, page.n, daemon_now(), &added);
	if (r < 0)
		goto fail;
	sw_store_checkpoint_get(s, t->cfg->name, "signins", &cp);
	cp.records += (int64_t)added;
	cp.last_attempt = daemon_now();
	if (page.next_link == NULL && cp.watermark == 0) {
		/* The first complete run: sign-ins are watched since its start
		 * (exception-unused only speaks after unused_after of this). */
		struct sw_checkpoint since = {.watermark = run->from, .last_success = cp.last_attempt};
		r = sw_store_checkpoint_put(s, t->cfg->name, "signins-since", &since);
		if (r < 0)
			goto fail;
	}
	if (page.next_link == NULL) {
		cp.watermark = run->upper;
		cp.last_success = cp.last_attempt;
		cp.last_error[0] = '\0';
	}
	/* A page before the last that stored nothing new (the lookback's
	 * re-read) leaves the checkpoint as it was: the last page writes the
	 * attempt, and an idle run commits one change. */
	if (page.next_link == NULL || added > 0)
		r = sw_store_checkpoint_put(s, t->cfg->name, "signins", &cp);
	if (r < 0)
		goto fail;
	r = sw_store_commit(s);
	if (r < 0)
		goto fail;
	poller_add_records(p, (int64_t)added);
	if (page.skipped > 0)
		signins_log_skipped(p, &page, len);
	if (page.next_link != NULL) {
		r = poller_request(p, "GET", page.next_link, NULL, NULL);
		if (r < 0)
			goto fail;
		*ret = POLLER_MORE;
	} else {
		*ret = POLLER_DONE;
	}
	sw_signin_page_clear(&page);
	return 0;
fail:
	sw_store_rollback(s);
	snprintf(why, n, "cannot store %zu records: %s%s", page.n, sw_store_errmsg(s),
	         r == -ENOSPC ? " (the state directory is full)" : "");
	sw_signin_page_clear(&page);
	return r == -EAGAIN ? -EIO : r;
}

/* Free the run's state. */
static void signins_end(struct poller *p, bool ok)
{
	free(poller_priv(p));
	poller_set_priv(p, NULL);
}

const struct poller_ops signins_ops = {
	.name = "signins",
	.permission_hint = "the app needs the AuditLog.Read.All application permission (admin consent) "
	                   "and the tenant Entra ID P1 or P2",
	.pace_requests = 5,
	.pace_window_ms = 10000,
	.resource = signins_resource,
	.interval = signins_interval,
	.begin = signins_begin,
	.page = signins_page,
	.end = signins_end,
};
