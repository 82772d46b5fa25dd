/* sink.c: the table of sink types and what the sinks share: failing an
 * attempt, parsing its document, and the HTTP POST that webhook, Teams and
 * HEC make. */
#include "sink.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "http.h"

#define SINK_HTTP_TIMEOUT_MS 30000L

/* Indexed by enum sw_sink_type; a hole is a type this version cannot send to. */
static const struct sink_ops *const sink_types[] = {
	[SW_SINK_WEBHOOK] = &sink_webhook_ops,
	[SW_SINK_TEAMS] = &sink_teams_ops,
	[SW_SINK_SPLUNK_HEC] = &sink_hec_ops,
	[SW_SINK_SYSLOG] = &sink_syslog_ops,
	[SW_SINK_JOURNAL] = &sink_journal_ops,
};

/* See sink.h. */
const struct sink_ops *sink_ops_of(enum sw_sink_type type)
{
	if ((size_t)type >= sizeof(sink_types) / sizeof(sink_types[0]))
		return NULL;
	return sink_types[type];
}

/* See sink.h. */
int sink_setup_url(struct sink *s, char *why, size_t n)
{
	if (s->cfg->url != NULL)
		return 0;
	snprintf(why, n, "no url");
	return -EINVAL;
}

/* See sink.h. */
int sink_fail(struct sink_attempt *a, const char *what, int err)
{
	snprintf(a->error, sizeof(a->error), "%s: %s", what, strerror(err));
	a->sink_down = !a->permanent;
	return SINK_FAILED;
}

/* See sink.h. */
json_t *sink_doc(struct sink_attempt *a)
{
	json_error_t jerr;
	json_t *doc = json_loads(a->doc, 0, &jerr);

	if (doc == NULL) {
		a->permanent = true;
		snprintf(a->error, sizeof(a->error), "the stored alert document is not JSON: %s", jerr.text);
	}
	return doc;
}

/* See sink.h. */
int sink_http_post(struct sink *s, struct sink_attempt *a, const char *url, const char *body, size_t len,
                   const char *const *extra, void (*cb)(struct http_response *res, void *arg))
{
	char idem[80];
	const char *headers[4 + SINK_HTTP_EXTRA_MAX] = {"Content-Type: application/json",
	                                                "User-Agent: smtpwatch/" SW_VERSION, idem};
	struct http_request req = {0};
	size_t n = 3;
	int r;

	snprintf(idem, sizeof(idem), "Idempotency-Key: %s", a->key);
	for (size_t i = 0; extra != NULL && extra[i] != NULL && i < SINK_HTTP_EXTRA_MAX; i++)
		headers[n++] = extra[i];
	req.method = "POST";
	req.url = url;
	req.headers = headers;
	req.body = body;
	req.body_len = len;
	req.timeout_ms = SINK_HTTP_TIMEOUT_MS;
	req.cb = cb;
	req.arg = a;
	r = http_submit(s->http, &req);
	if (r < 0) {
		snprintf(a->error, sizeof(a->error), "cannot start the request: %s", strerror(-r));
		return SINK_FAILED;
	}
	return SINK_PENDING;
}

/* See sink.h.  curl's text names at most the host, never the URL's path. */
void sink_http_2xx_cb(struct http_response *res, void *arg)
{
	struct sink_attempt *a = arg;
	bool ok = res->status >= 200 && res->status <= 299;

	if (!ok) {
		if (res->status == 0)
			snprintf(a->error, sizeof(a->error), "%s", res->error[0] ? res->error : "no answer");
		else
			snprintf(a->error, sizeof(a->error), "HTTP %ld", res->status);
		if (res->status == 429 || res->status == 503)
			a->retry_after = res->retry_after;
		a->sink_down = res->status == 0 || res->status == 429 || res->status >= 500;
	}
	sink_attempt_done(a, ok);
}

/* See sink.h. */
void sink_http_cancel(struct sink *s, struct sink_attempt *a)
{
	if (s->http != NULL)
		http_cancel_arg(s->http, a);
}
