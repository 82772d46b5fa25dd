/* sink_hec.c: Splunk's HTTP Event Collector: the alert as a HEC event,
 * timed by its transition (a resent event is the same), with the sink's
 * token.  HEC's code in the answer decides: a bad token or a refused
 * request is retried (the sink is fixed by a reload), a rejected event can
 * never be sent. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "render.h"
#include "sink.h"

/* The event endpoint (priv, owned): the url as given when it names a
 * collector endpoint, else the url plus /services/collector/event. */
static int hec_setup(struct sink *s, char *why, size_t n)
{
	const char *u = s->cfg->url;
	size_t len = u != NULL ? strlen(u) : 0;
	char *url = NULL;

	if (u == NULL || s->cfg->token == NULL) {
		snprintf(why, n, "no url or token");
		return -EINVAL;
	}
	if (strstr(u, "/services/collector") != NULL) {
		url = strdup(u);
	} else {
		while (len > 0 && u[len - 1] == '/')
			len--;
		if (asprintf(&url, "%.*s/services/collector/event", (int)len, u) < 0)
			url = NULL;
	}
	if (url == NULL) {
		snprintf(why, n, "out of memory");
		return -ENOMEM;
	}
	s->priv = url;
	return 0;
}

static void hec_free(struct sink *s)
{
	free(s->priv);
	s->priv = NULL;
}

/* Splunk answered (or the transfer failed). */
static void hec_done_cb(struct http_response *res, void *arg)
{
	struct sink_attempt *a = arg;
	struct sw_hec_result hr;
	char code[160] = "", *body = NULL;
	size_t cap = res->body.len * 2 + 256;

	/* Redact the whole answer before its text is cut to size: a secret
	 * cut in half would no longer be found. */
	if (res->body.data != NULL && res->body.len > 0 && (body = malloc(cap)) != NULL) {
		memcpy(body, res->body.data, res->body.len);
		body[res->body.len] = '\0';
		sw_redact(body, cap, a->sink->secrets);
	}
	sw_render_hec_result(res->status, body ? body : res->body.data, body ? strlen(body) : res->body.len, &hr);
	free(body);
	if (hr.outcome == SW_HEC_OK) {
		sink_attempt_done(a, true);
		return;
	}
	if (hr.code >= 0)
		snprintf(code, sizeof(code), "HEC code %d: %s, ", hr.code, hr.text[0] ? hr.text : "?");
	/* Only a refused event is this document's doing. */
	a->sink_down = hr.outcome != SW_HEC_REJECTED;
	switch (hr.outcome) {
	case SW_HEC_TOKEN:
		snprintf(a->error, sizeof(a->error), "token rejected (%sHTTP %ld): check token_file", code,
		         res->status);
		break;
	case SW_HEC_CONFIG:
		snprintf(a->error, sizeof(a->error), "HEC refused the request (%sHTTP %ld): check the sink", code,
		         res->status);
		break;
	case SW_HEC_REJECTED:
		a->permanent = true;
		snprintf(a->error, sizeof(a->error), "HEC rejected the event (%sHTTP %ld)", code, res->status);
		break;
	default:
		if (res->status == 0)
			snprintf(a->error, sizeof(a->error), "%s", res->error[0] ? res->error : "no answer");
		else
			snprintf(a->error, sizeof(a->error), "%sHTTP %ld", code, res->status);
		a->retry_after = res->retry_after;
		break;
	}
	sink_attempt_done(a, false);
}

/* POST the alert as a HEC event with the sink's token. */
static int hec_send(struct sink *s, struct sink_attempt *a)
{
	struct sw_buf body = {0};
	char *auth = NULL;
	json_t *doc;
	int r;

	doc = sink_doc(a);
	if (doc == NULL)
		return SINK_FAILED;
	r = sw_render_hec(doc, s->hostname, a->created * 1000, &body);
	json_decref(doc);
	if (r < 0) {
		sw_buf_clear(&body);
		a->permanent = r == -EINVAL;
		return sink_fail(a, "cannot render the event", -r);
	}
	if (asprintf(&auth, "Authorization: Splunk %s", s->cfg->token) < 0) {
		sw_buf_clear(&body);
		return sink_fail(a, "header", ENOMEM);
	}
	r = sink_http_post(s, a, s->priv, body.data, body.len, (const char *const[]){auth, NULL}, hec_done_cb);
	sw_free_secret(auth);
	sw_buf_clear(&body);
	return r;
}

const struct sink_ops sink_hec_ops = {
	.digests = true,
	.type = SW_SINK_SPLUNK_HEC,
	.secret_url = true,
	.setup = hec_setup,
	.send = hec_send,
	.cancel = sink_http_cancel,
	.free = hec_free,
};
