/* hooks.c: receivers for the sinks under test (webhook, Teams, Splunk HEC):
 * record every request, answer with a settable status. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/queue.h>

#include <event2/keyvalq_struct.h>

#include "sim.h"

static struct sim_receiver *receiver_get(struct sim *sim, const char *name, bool create)
{
	for (struct sim_receiver *rc = sim->receivers; rc; rc = rc->next)
		if (strcmp(rc->name, name) == 0)
			return rc;
	if (!create)
		return NULL;
	struct sim_receiver *rc = calloc(1, sizeof(*rc));
	if (rc == NULL)
		abort();
	rc->name = sim_xstrdup(name);
	rc->status = 200;
	rc->retry_after = -1;
	rc->records = json_array();
	rc->next = sim->receivers;
	sim->receivers = rc;
	return rc;
}

void receivers_free(struct sim *sim)
{
	while (sim->receivers) {
		struct sim_receiver *rc = sim->receivers;
		sim->receivers = rc->next;
		free(rc->name);
		free(rc->body);
		json_decref(rc->records);
		free(rc);
	}
}

static const char *method_name(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_PATCH: return "PATCH";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	default: return "OTHER";
	}
}

static bool is_hec(const char *path)
{
	size_t n = strlen(path);
	static const char *const sfx[] = { "/services/collector/event", "/services/collector", NULL };
	for (const char *const *s = sfx; *s; s++) {
		size_t m = strlen(*s);
		if (n >= m && strcmp(path + n - m, *s) == 0)
			return true;
	}
	return false;
}

void hooks_handle(struct sim_req *r, const char *path)
{
	struct sim *sim = r->sim;
	struct sim_receiver *rc = receiver_get(sim, r->hook, true);
	json_t *headers = json_object();
	struct evkeyvalq *in = evhttp_request_get_input_headers(r->req);
	for (struct evkeyval *kv = in->tqh_first; kv; kv = kv->next.tqe_next) {
		char *k = sim_strdup_lower(kv->key);
		json_t *old = json_object_get(headers, k);
		if (old && json_is_string(old)) {
			size_t l = strlen(json_string_value(old)) + strlen(kv->value) + 3;
			char *joined = sim_xmalloc(l);
			snprintf(joined, l, "%s, %s", json_string_value(old), kv->value);
			json_object_set_new(headers, k, json_string(joined));
			free(joined);
		} else {
			json_t *v = json_string(kv->value);
			json_object_set_new(headers, k, v ? v : json_string("(not UTF-8)"));
		}
		free(k);
	}
	size_t n;
	char *body = sim_body(r->req, &n);
	char when[40];
	sim_iso_format(sim_now(sim), true, when, sizeof(when));
	/* the status this request is answered with: 0 when the connection
	 * is closed instead */
	const struct sim_fault *f = r->fault;
	int status = rc->status;
	if (f && f->reset)
		status = 0;
	else if (f && f->status)
		status = f->status;
	else if (f && f->expire_token)
		status = 401;
	else if (f && f->content_type)
		status = 200;
	json_t *rec = json_pack("{s:s,s:s,s:o,s:s,s:i,s:b}", "path", evhttp_request_get_uri(r->req), "method",
		method_name(evhttp_request_get_command(r->req)), "headers", headers, "received_at", when, "status",
		status, "fault", f != NULL);
	if (sim_utf8_valid(body, n) && memchr(body, '\0', n) == NULL) {
		json_object_set_new(rec, "body", json_stringn(body, n));
	} else {
		/* not text: keep the exact bytes as hex beside a lossy copy */
		char *hex = sim_xmalloc(2 * n + 1);
		for (size_t i = 0; i < n; i++)
			snprintf(hex + 2 * i, 3, "%02x", (unsigned char)body[i]);
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)body[i] >= 0x80 || body[i] == '\0')
				body[i] = '?';
		json_object_set_new(rec, "body", json_stringn(body, n));
		json_object_set_new(rec, "body_hex", json_string(hex));
		free(hex);
	}
	free(body);
	json_array_append_new(rc->records, rec);
	if (fault_answer(r))
		return;

	if (rc->status == 0) {
		sim_reset(r);
		return;
	}
	if (rc->retry_after >= 0) {
		char ra[16];
		snprintf(ra, sizeof(ra), "%d", rc->retry_after);
		evhttp_add_header(evhttp_request_get_output_headers(r->req), "Retry-After", ra);
	}
	struct evbuffer *b = evbuffer_new();
	bool ok = rc->status >= 200 && rc->status < 300;
	if (rc->body)
		evbuffer_add(b, rc->body, strlen(rc->body));
	else if (is_hec(path))
		evbuffer_add_printf(b, "%s", ok ? "{\"text\":\"Success\",\"code\":0}"
					   : rc->status == 503 ? "{\"text\":\"Server is busy\",\"code\":9}"
					   : rc->status == 403 || rc->status == 401 ? "{\"text\":\"Invalid token\",\"code\":4}"
										: "{\"text\":\"Internal server error\",\"code\":8}");
	else if (ok)
		evbuffer_add_printf(b, "{\"ok\":true}");
	else
		evbuffer_add_printf(b, "{\"ok\":false,\"status\":%d}", rc->status);
	sim_reply(r, rc->status, b);
}

void hooks_get(struct sim_req *r, const char *name)
{
	struct sim_receiver *rc = receiver_get(r->sim, name, false);
	sim_reply_json(r, 200, rc ? json_incref(rc->records) : json_array());
}

void hooks_delete(struct sim_req *r, const char *name)
{
	struct sim_receiver *rc = receiver_get(r->sim, name, false);
	if (rc)
		json_array_clear(rc->records);
	sim_reply_json(r, 200, json_pack("{s:b}", "ok", 1));
}

void hooks_set_status(struct sim_req *r, const char *name)
{
	size_t n;
	char *s = sim_body(r->req, &n);
	json_t *j = json_loadb(s, n, 0, NULL);
	free(s);
	json_t *st = json_object_get(j, "status"), *ra = json_object_get(j, "retry_after"), *body = json_object_get(j, "body");
	if (!json_is_integer(st) || (json_integer_value(st) != 0 && (json_integer_value(st) < 100 || json_integer_value(st) > 599)) ||
		(ra && !json_is_integer(ra)) || (body && !json_is_string(body) && !json_is_null(body))) {
		json_decref(j);
		sim_graph_error(r, 400, "BadRequest",
			"expected {\"status\":503} (0 closes the connection; optional \"retry_after\": seconds, \"body\": string)");
		return;
	}
	struct sim_receiver *rc = receiver_get(r->sim, name, true);
	rc->status = (int)json_integer_value(st);
	rc->retry_after = ra ? (int)json_integer_value(ra) : -1;
	free(rc->body);
	rc->body = json_is_string(body) ? sim_xstrdup(json_string_value(body)) : NULL;
	json_decref(j);
	sim_reply_json(r, 200, json_pack("{s:b,s:s,s:i}", "ok", 1, "receiver", name, "status", rc->status));
}

void hooks_list(struct sim_req *r)
{
	json_t *o = json_object();
	for (struct sim_receiver *rc = r->sim->receivers; rc; rc = rc->next)
		json_object_set_new(o, rc->name, json_pack("{s:I,s:i}", "count", (json_int_t)json_array_size(rc->records),
							   "status", rc->status));
	sim_reply_json(r, 200, o);
}
