/* source_trace.c: message trace (Graph v1.0
 * admin/exchange/tracing/messageTraces, ExchangeMessageTrace.Read.All) for
 * the registered exception mailboxes that ask for volume or IP checks
 * (max_daily_messages, allowed_ips): all mail each sent, and from where.
 * It cannot tell SMTP AUTH submissions from other mail, so what it feeds
 * (exception-volume-spike, exception-source-drift, where sign-ins cannot be
 * read) says "all mail sent by this mailbox".
 *
 * A run reads the window from the watermark less TRACE_OVERLAP (2 days
 * back at first) to now, at most 10 days a query (Microsoft's limit; 90
 * days back at most), one query per mailbox (senderAddress eq), following
 * @odata.nextLink.  Each message is stored once by its id.  The API allows
 * 100 requests per 5 minutes shared by every app of the tenant: the source
 * keeps to 16 a minute.  Microsoft requires a service principal of its app
 * 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373 in the tenant, which takes hours to
 * become active; until then the API answers 401, and status says so. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "poller.h"
#include "smtpwatchd.h"
#include "store_usage.h"
#include "usage.h"

#define TRACE_OVERLAP 3600
#define TRACE_FIRST (2 * 86400)
#define TRACE_SPAN (10 * 86400)
#define TRACE_BACK (90 * 86400 - 3600)

struct trace_run {
	char **mailboxes;
	size_t n, next;
	int64_t from, to;
	int64_t added;
};

static const char *trace_resource(const struct tenant *t)
{
	return t->cfg->graph_url;
}

static int64_t trace_interval(const struct tenant *t)
{
	return t->cfg->trace_interval;
}

/* Ask for the window of the mailbox in hand (or, with none, one row). */
static int trace_request(struct poller *p, struct trace_run *run)
{
	struct tenant *t = poller_tenant(p);
	char from[32], to[32], filter[700], url[1200];

	sw_time_format(run->from, from, sizeof(from));
	sw_time_format(run->to, to, sizeof(to));
	if (run->n > 0) {
		char q[400];
		sw_ps_quote(run->mailboxes[run->next], q, sizeof(q)); /* OData quotes like PowerShell: '' */
		snprintf(filter, sizeof(filter), "receivedDateTime ge %s and receivedDateTime le %s and senderAddress eq %s",
		         from, to, q);
	} else {
		snprintf(filter, sizeof(filter), "receivedDateTime ge %s and receivedDateTime le %s", from, to);
	}
	char *enc = sw_url_encode(filter);
	if (enc == NULL)
		return -ENOMEM;
	snprintf(url, sizeof(url), "%s/v1.0/admin/exchange/tracing/messageTraces?$filter=%s&$top=%d", t->cfg->graph_url,
	         enc, run->n > 0 ? 1000 : 1);
	free(enc);
	return poller_request(p, "GET", url, NULL, NULL);
}

static void trace_end(struct poller *p, bool ok)
{
	struct trace_run *run = poller_priv(p);

	if (run != NULL) {
		for (size_t i = 0; i < run->n; i++)
			free(run->mailboxes[i]);
		free(run->mailboxes);
		free(run);
	}
	poller_set_priv(p, NULL);
}

/* Start a run: the mailboxes the register asks to check, the window. */
static int trace_begin(struct poller *p, char *why, size_t n)
{
	struct tenant *t = poller_tenant(p);
	struct trace_run *run = calloc(1, sizeof(*run));
	struct sw_checkpoint cp;
	int64_t now = daemon_now();

	if (run == NULL)
		return -ENOMEM;
	poller_set_priv(p, run);
	run->mailboxes = calloc((t->reg ? t->reg->n : 0) + 1, sizeof(char *));
	if (run->mailboxes == NULL)
		return -ENOMEM;
	for (size_t i = 0; t->reg != NULL && i < t->reg->n; i++) {
		const struct sw_exception *e = &t->reg->entries[i];
		if (!sw_exception_active(e, now) || (e->max_daily_messages < 0 && e->n_allowed_ips == 0))
			continue;
		if ((run->mailboxes[run->n] = strdup(e->mailbox)) == NULL)
			return -ENOMEM;
		run->n++;
	}
	sw_store_checkpoint_get(t->daemon->store, t->cfg->name, "trace", &cp);
	run->from = cp.watermark > 0 ? cp.watermark - TRACE_OVERLAP : now - TRACE_FIRST;
	if (run->from < now - TRACE_BACK)
		run->from = now - TRACE_BACK;
	run->to = run->from + TRACE_SPAN < now ? run->from + TRACE_SPAN : now;
	(void)why;
	(void)n;
	return trace_request(p, run);
}

/* A page: store it, then the next page, mailbox or window end. */
static int trace_page(struct poller *p, const char *body, size_t len, enum poller_next *ret, char *why, size_t n)
{
	struct trace_run *run = poller_priv(p);
	struct tenant *t = poller_tenant(p);
	struct sw_store *s = t->daemon->store;
	struct sw_trace_row *rows = NULL;
	struct sw_checkpoint cp;
	size_t nrows = 0, skipped = 0, added = 0;
	char *next = NULL;
	int r = sw_trace_page_parse(body, len, &rows, &nrows, &next, &skipped, why, n);

	if (r < 0)
		return r == -EINVAL ? -EAGAIN : r;
	bool last = next == NULL && (run->n == 0 || run->next + 1 >= run->n);
	r = sw_store_begin(s);
	if (r >= 0 && run->n > 0)
		r = sw_store_trace_add(s, t->cfg->name, rows, nrows, &added);
	if (r >= 0) {
		sw_store_checkpoint_get(s, t->cfg->name, "trace", &cp);
		cp.records += (int64_t)added;
		if (last)
			cp.watermark = run->to;
		r = sw_store_checkpoint_put(s, t->cfg->name, "trace", &cp);
	}
	if (r >= 0)
		r = sw_store_commit(s);
	free(rows);
	if (r < 0) {
		sw_store_rollback(s);
		snprintf(why, n, "cannot store message trace rows: %s", sw_store_errmsg(s));
		free(next);
		return r;
	}
	poller_add_records(p, (int64_t)added);
	poller_add_skipped(p, (int64_t)skipped);
	*ret = POLLER_MORE;
	if (next != NULL) {
		r = poller_request(p, "GET", next, NULL, NULL);
		free(next);
		return r;
	}
	if (!last) {
		run->next++;
		return trace_request(p, run);
	}
	*ret = POLLER_DONE;
	return 0;
}

/* Status: the mailboxes checked; a 401 said as the provisioning state. */
static void trace_status(struct poller *p, json_t *o)
{
	struct tenant *t = poller_tenant(p);
	const char *err = json_string_value(json_object_get(o, "last_error"));
	int64_t n = 0;

	for (size_t i = 0; t->reg != NULL && i < t->reg->n; i++)
		if (t->reg->entries[i].max_daily_messages >= 0 || t->reg->entries[i].n_allowed_ips > 0)
			n++;
	json_object_set_new(o, "mailboxes", json_integer(n));
	json_object_set_new(o, "label", json_string("all mail sent by these mailboxes (message trace cannot tell SMTP "
	                                            "AUTH submissions from other mail)"));
	if (err != NULL && strncmp(err, "HTTP 401", 8) == 0)
		json_object_set_new(o, "provisioning", json_string("the service principal of Microsoft's app "
		                    "8bd644d1-64a1-4d4b-ae52-2e0cbf64e373 is not active in the tenant yet (it takes hours "
		                    "after it is created): message trace answers 401 until then"));
}

const struct poller_ops trace_ops = {
	.name = "trace",
	.permission_hint = "a 401 means the service principal of Microsoft's app 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373 "
	                   "is still provisioning in the tenant (hours after it is created); a 403 that the app needs "
	                   "the ExchangeMessageTrace.Read.All application permission of Microsoft Graph",
	/* 100 requests per 5 minutes shared by every app of the tenant. */
	.pace_requests = 16,
	.pace_window_ms = 60000,
	.resource = trace_resource,
	.interval = trace_interval,
	.begin = trace_begin,
	.page = trace_page,
	.end = trace_end,
	.status = trace_status,
};
