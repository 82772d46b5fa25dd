/* smtpwatch-sim.c: a simulated Microsoft 365 tenant on loopback.
 *
 * A real HTTP server (libevent evhttp) serving the token endpoint, Graph
 * sign-ins and Exchange InvokeCommand from a scenario file, with receivers
 * for alert sinks, fault injection and a movable clock under /_sim/. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <sys/queue.h>

#include <event2/keyvalq_struct.h>

#include "sim.h"

/* A reply held back by a delay_ms fault. */
struct pending {
	struct event *ev;
	struct sim *sim;
	struct evhttp_request *req;
	int status;
	struct evbuffer *body;
	bool truncate;
	struct pending *prev, *next;
};

static const char *const endpoint_names[] = { "token", "signins", "exchange", "hooks", "any", "control", "other",
	"policies", "manage" };

void sim_log(struct sim *sim, const char *fmt, ...)
{
	if (!sim->verbose)
		return;
	va_list ap;
	char ts[40];
	sim_iso_format(sim_wall_ticks(), false, ts, sizeof(ts));
	fprintf(stderr, "smtpwatch-sim: %s ", ts);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

char *sim_body(struct evhttp_request *req, size_t *ret_len)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	char *s = sim_xmalloc(n + 1);
	evbuffer_copyout(in, s, n);
	s[n] = '\0';
	if (ret_len)
		*ret_len = n;
	return s;
}

/* Set TCP_NODELAY on a socket: without it loopback answers stall 40 ms. */
static void set_nodelay(evutil_socket_t fd)
{
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static evutil_socket_t req_fd(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	if (evcon == NULL)
		return -1;
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	return bev ? bufferevent_getfd(bev) : -1;
}

static void set_header(struct evhttp_request *req, const char *name, const char *value)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_remove_header(h, name);
	evhttp_add_header(h, name, value);
}

/* Send now; with truncate declare the full length, send half, then close. */
static void send_now(struct sim *sim, struct evhttp_request *req, int status, struct evbuffer *body, bool truncate)
{
	if (status == 429)
		sim->stats.status_429++;
	size_t len = evbuffer_get_length(body);
	sim_log(sim, "  -> %d, %zu bytes%s", status, len, truncate ? " (truncated to half)" : "");
	if (!truncate) {
		evhttp_send_reply(req, status, NULL, body);
		evbuffer_free(body);
		return;
	}
	/* evhttp keeps a Content-Length it finds and then does not chunk;
	 * "Connection: close" makes it free the connection once the half
	 * body has been written, so the client sees a short body and EOF. */
	char cl[32];
	snprintf(cl, sizeof(cl), "%zu", len);
	set_header(req, "Content-Length", cl);
	set_header(req, "Connection", "close");
	evhttp_send_reply_start(req, status, NULL);
	struct evbuffer *half = evbuffer_new();
	evbuffer_remove_buffer(body, half, len / 2);
	evhttp_send_reply_chunk(req, half);
	evhttp_send_reply_end(req);
	evbuffer_free(half);
	evbuffer_free(body);
}

static void pending_unlink(struct sim *sim, struct pending *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		sim->pending = p->next;
	if (p->next)
		p->next->prev = p->prev;
}

static void pending_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pending *p = arg;
	pending_unlink(p->sim, p);
	send_now(p->sim, p->req, p->status, p->body, p->truncate);
	event_free(p->ev);
	free(p);
}

void sim_reset(struct sim_req *r)
{
	/* Half-close and reset: the client reads EOF without a status line.
	 * evhttp then fails writing the dummy reply and frees the connection
	 * (and the request) itself. */
	evutil_socket_t fd = req_fd(r->req);
	sim_log(r->sim, "  -> connection closed without an answer");
	if (fd >= 0) {
		struct linger lg = { 1, 0 };
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		shutdown(fd, SHUT_RDWR);
	}
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, "x", 1);
	evhttp_send_reply(r->req, 500, NULL, b);
	evbuffer_free(b);
}

/* Insert bytes that are not UTF-8 into string values of a JSON body. */
static struct evbuffer *inject_invalid_utf8(struct evbuffer *body)
{
	static const char *const marks[] = { "\"userPrincipalName\":\"", "\"DisplayName\":\"", "\"access_token\":\"",
		"\"message\":\"", NULL };
	size_t n = evbuffer_get_length(body);
	char *s = sim_xmalloc(n + 1);
	evbuffer_remove(body, s, n);
	s[n] = '\0';
	struct evbuffer *out = evbuffer_new();
	const char *p = s;
	bool any = false;
	for (;;) {
		const char *best = NULL, *bestm = NULL;
		for (const char *const *m = marks; *m; m++) {
			const char *q = strstr(p, *m);
			if (q && (best == NULL || q < best)) {
				best = q;
				bestm = *m;
			}
		}
		if (best == NULL)
			break;
		best += strlen(bestm);
		evbuffer_add(out, p, (size_t)(best - p));
		evbuffer_add(out, "\xc3\x28\xff\xfe", 4);
		p = best;
		any = true;
	}
	if (!any) {
		const char *q = strstr(p, "\":\"");
		if (q) {
			q += 3;
			evbuffer_add(out, p, (size_t)(q - p));
			evbuffer_add(out, "\xc3\x28\xff\xfe", 4);
			p = q;
		}
	}
	evbuffer_add(out, p, strlen(p));
	free(s);
	evbuffer_free(body);
	return out;
}

/* A run of spaces to pad big bodies without allocating them. */
static char pad_block[65536];

static struct evbuffer *pad_body(struct evbuffer *body, int mb)
{
	struct evbuffer *out = evbuffer_new();
	unsigned char *first = evbuffer_pullup(body, 1);
	if (first == NULL || *first != '{') {
		evbuffer_free(out);
		return body;
	}
	evbuffer_drain(body, 1);
	evbuffer_add(out, "{\"@sim.padding\":\"", 17);
	size_t total = (size_t)mb * 1024 * 1024;
	for (size_t done = 0; done < total; done += sizeof(pad_block))
		evbuffer_add_reference(out, pad_block,
			total - done < sizeof(pad_block) ? total - done : sizeof(pad_block), NULL, NULL);
	evbuffer_add(out, "\"", 1);
	if (evbuffer_get_length(body) > 1)
		evbuffer_add(out, ",", 1);
	evbuffer_add_buffer(out, body);
	evbuffer_free(body);
	return out;
}

void sim_reply(struct sim_req *r, int status, struct evbuffer *body)
{
	struct sim_fault *f = r->fault;
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
	if (evhttp_find_header(h, "Content-Type") == NULL)
		evhttp_add_header(h, "Content-Type", "application/json; charset=utf-8");
	if (f && f->bad_json) {
		size_t n = evbuffer_get_length(body);
		struct evbuffer *cut = evbuffer_new();
		evbuffer_remove_buffer(body, cut, n / 2 > 0 ? n / 2 : 1);
		evbuffer_free(body);
		body = cut;
	}
	if (f && f->invalid_utf8)
		body = inject_invalid_utf8(body);
	if (f && f->big_body_mb > 0)
		body = pad_body(body, f->big_body_mb);
	bool truncate = f && f->truncate;
	if (f && f->delay_ms > 0) {
		struct pending *p = calloc(1, sizeof(*p));
		if (p == NULL)
			abort();
		p->sim = r->sim;
		p->req = r->req;
		p->status = status;
		p->body = body;
		p->truncate = truncate;
		p->ev = evtimer_new(r->sim->base, pending_cb, p);
		struct timeval tv = { f->delay_ms / 1000, (f->delay_ms % 1000) * 1000 };
		evtimer_add(p->ev, &tv);
		p->next = r->sim->pending;
		if (p->next)
			p->next->prev = p;
		r->sim->pending = p;
		return;
	}
	send_now(r->sim, r->req, status, body, truncate);
}

void sim_reply_json(struct sim_req *r, int status, json_t *j)
{
	struct evbuffer *b = evbuffer_new();
	sim_json_add(b, j);
	json_decref(j);
	sim_reply(r, status, b);
}

static const char *client_request_id(struct sim_req *r)
{
	const char *c = evhttp_find_header(evhttp_request_get_input_headers(r->req), "client-request-id");
	return c ? c : r->request_id;
}

void sim_graph_error(struct sim_req *r, int status, const char *code, const char *fmt, ...)
{
	char msg[1024], date[40];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sim_iso_format(sim_now(r->sim), false, date, sizeof(date));
	date[strlen(date) - 1] = '\0'; /* Graph's innerError date has no Z */
	json_t *j = json_pack("{s:{s:s,s:s,s:{s:s,s:s,s:s}}}", "error", "code", code, "message", msg, "innerError",
		"date", date, "request-id", r->request_id, "client-request-id", client_request_id(r));
	if (status == 401)
		set_header(r->req, "WWW-Authenticate", "Bearer realm=\"\", error=\"invalid_token\"");
	sim_reply_json(r, status, j);
}

/* The answer a status fault gives, shaped like the endpoint's errors. */
static void fault_status_reply(struct sim_req *r, int status)
{
	if (r->ep == EP_TOKEN) {
		const char *err = "temporarily_unavailable", *desc = "AADSTS90033: A transient error has occurred. Please try again.";
		int code = 90033;
		if (status == 400) {
			err = "invalid_request";
			desc = "AADSTS900144: The request body must contain the following parameter: 'grant_type'.";
			code = 900144;
		} else if (status == 401) {
			err = "invalid_client";
			desc = "AADSTS7000215: Invalid client secret provided.";
			code = 7000215;
		} else if (status == 403) {
			err = "unauthorized_client";
			desc = "AADSTS7000112: Application is disabled.";
			code = 7000112;
		} else if (status == 429) {
			desc = "AADSTS90055: The request has been throttled.";
			code = 90055;
		}
		char date[40], full[512];
		sim_iso_format(sim_now(r->sim), false, date, sizeof(date));
		date[10] = ' ';
		snprintf(full, sizeof(full), "%s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", desc,
			r->request_id, r->request_id, date);
		sim_reply_json(r, status,
			json_pack("{s:s,s:s,s:[i],s:s,s:s,s:s}", "error", err, "error_description", full, "error_codes",
				code, "timestamp", date, "trace_id", r->request_id, "correlation_id", r->request_id));
		return;
	}
	if (r->ep == EP_HOOKS) {
		sim_reply_json(r, status, json_pack("{s:s,s:i}", "error", "simulated failure", "status", status));
		return;
	}
	if (r->ep == EP_MANAGE) {
		manage_fault_reply(r, status);
		return;
	}
	if (r->ep == EP_EXCHANGE && (status == 403 || status == 401) && r->cmdlet[0] != '\0') {
		/* What the admin API answers an app without the role that holds
		 * the cmdlet (Exchange Administrator for the Set-* ones). */
		char msg[160];
		snprintf(msg, sizeof(msg), "User is not allowed to call %s", r->cmdlet);
		sim_reply_json(r, status, json_pack("{s:{s:s,s:s,s:{s:s,s:s}}}", "error", "code",
			status == 403 ? "Forbidden" : "Unauthorized", "message", msg, "innererror", "message", msg, "type",
			"Microsoft.Exchange.Admin.OData.Core.ODataServiceException"));
		return;
	}
	const char *code, *msg;
	switch (status) {
	case 400: code = "BadRequest"; msg = "Simulated bad request."; break;
	case 401: code = "InvalidAuthenticationToken"; msg = "Access token validation failure."; break;
	case 403: code = "Authorization_RequestDenied"; msg = "Insufficient privileges to complete the operation."; break;
	case 404: code = "ResourceNotFound"; msg = "Resource not found."; break;
	case 429: code = "TooManyRequests"; msg = "Too many requests."; break;
	case 500: code = "UnknownError"; msg = "An internal server error occurred."; break;
	case 502: code = "BadGateway"; msg = "Bad gateway."; break;
	case 503: code = "ServiceUnavailable"; msg = "Service is unavailable."; break;
	case 504: code = "GatewayTimeout"; msg = "Gateway timeout."; break;
	default: code = "UnknownError"; msg = "Simulated failure."; break;
	}
	sim_graph_error(r, status, code, "%s", msg);
}

static bool fault_matches(const struct sim_fault *f, const struct sim_req *r, const char *tenant)
{
	if (f->endpoint != EP_ANY && f->endpoint != r->ep)
		return false;
	if (f->tenant) {
		if (tenant == NULL)
			return false;
		const struct sim_tenant *t = r->tenant;
		if (strcasecmp(f->tenant, tenant) != 0 &&
			!(t && (strcasecmp(f->tenant, t->name) == 0 || (t->tenant_id && strcasecmp(f->tenant, t->tenant_id) == 0))))
			return false;
	}
	if (f->hook && (r->hook == NULL || strcmp(f->hook, r->hook) != 0))
		return false;
	if (f->cmdlet && strcasecmp(f->cmdlet, r->cmdlet) != 0)
		return false;
	return true;
}

/* The CmdletName of an InvokeCommand body, for faults that name one. */
static void peek_cmdlet(struct sim_req *r)
{
	size_t n;
	char *body = sim_body(r->req, &n);
	json_t *j = json_loadb(body, n, 0, NULL);
	const char *c = json_string_value(json_object_get(json_object_get(j, "CmdletInput"), "CmdletName"));

	snprintf(r->cmdlet, sizeof(r->cmdlet), "%s", c ? c : "");
	json_decref(j);
	free(body);
}

/* Every matching fault counts the request (for "after"); the first one
 * with hits left applies.  Counting on all of them lets "after" mean the
 * n-th matching request overall, whatever earlier faults did with it. */
static struct sim_fault *fault_select(struct sim_req *r, const char *tenant)
{
	struct sim *sim = r->sim;
	struct sim_fault *chosen = NULL;
	for (size_t i = 0; i < sim->n_faults; i++) {
		struct sim_fault *f = sim->faults[i];
		if (!fault_matches(f, r, tenant))
			continue;
		long index = f->seen++;
		if (chosen || index < f->after || (f->count >= 0 && f->hits >= f->count))
			continue;
		f->hits++;
		chosen = f;
	}
	if (chosen) {
		sim->stats.faults_served++;
		if (sim->verbose) {
			char *spec = json_dumps(chosen->spec, JSON_COMPACT);
			sim_log(sim, "  fault on %s: %s", endpoint_names[r->ep], spec ? spec : "?");
			free(spec);
		}
	}
	return chosen;
}

/* Apply a fault that replaces the answer; true when answered. */
bool fault_answer(struct sim_req *r)
{
	struct sim_fault *f = r->fault;
	if (f == NULL)
		return false;
	if (f->reset) {
		sim_reset(r);
		return true;
	}
	if (f->retry_after >= 0) {
		char ra[16];
		snprintf(ra, sizeof(ra), "%d", f->retry_after);
		set_header(r->req, "Retry-After", ra);
	}
	if (f->status) {
		fault_status_reply(r, f->status);
		return true;
	}
	if (f->secret_expired) {
		token_secret_expired(r, r->tenant);
		return true;
	}
	if (f->expire_token) {
		if (r->ep == EP_TOKEN)
			fault_status_reply(r, 401);
		else
			sim_graph_error(r, 401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.");
		return true;
	}
	if (f->body) {
		struct evbuffer *b = evbuffer_new();
		evbuffer_add(b, f->body, strlen(f->body));
		sim_reply(r, 200, b);
		return true;
	}
	if (f->content_type) {
		set_header(r->req, "Content-Type", f->content_type);
		struct evbuffer *b = evbuffer_new();
		evbuffer_add_printf(b,
			"<!DOCTYPE html>\n<html><head><title>Sign in to your account</title></head>\n"
			"<body><h1>Service temporarily unavailable</h1><p>The proxy returned an HTML page "
			"(request %s).</p></body></html>\n",
			r->request_id);
		sim_reply(r, 200, b);
		return true;
	}
	return false;
}

/* See sim.h: the request's own URL is built like every nextLink, from the
 * Host header, so the client sees exactly what it asked for. */
bool fault_next_link(struct sim_req *r, struct evbuffer *link)
{
	struct sim_fault *f = r->fault;

	if (f == NULL || (f->next_link == NULL && !f->next_link_loop))
		return false;
	if (f->next_link != NULL) {
		evbuffer_add_printf(link, "%s", f->next_link);
	} else {
		const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(r->req);
		const char *q = u ? evhttp_uri_get_query(u) : NULL;
		evbuffer_add_printf(link, "%s%s%s", r->base_url, q ? "?" : "", q ? q : "");
	}
	evbuffer_add(link, "", 1);
	return true;
}

/* The sign-ins API allows throttle_requests per throttle_window per tenant. */
static bool throttled(struct sim_req *r)
{
	struct sim *sim = r->sim;
	struct sim_tenant *t = (struct sim_tenant *)r->tenant;
	if (sim->throttle_requests <= 0 || t == NULL || t->throttle_ring == NULL)
		return false;
	int64_t now = sim_wall_ticks();
	int64_t oldest = t->throttle_ring[t->throttle_pos];
	if (oldest != 0 && now - oldest < sim->throttle_window) {
		int64_t wait = (sim->throttle_window - (now - oldest) + TICKS_PER_SEC - 1) / TICKS_PER_SEC;
		char ra[24];
		snprintf(ra, sizeof(ra), "%lld", (long long)(sim->throttle_retry_after >= 0 ? sim->throttle_retry_after : wait));
		set_header(r->req, "Retry-After", ra);
		sim->stats.throttled++;
		sim_graph_error(r, 429, "TooManyRequests", "Too many requests. Retry after %s seconds.", ra);
		return true;
	}
	t->throttle_ring[t->throttle_pos] = now;
	t->throttle_pos = (t->throttle_pos + 1) % (size_t)sim->throttle_requests;
	return false;
}

/* ---- control endpoints under /_sim/ ---- */

static json_t *body_json(struct sim_req *r)
{
	size_t n;
	char *s = sim_body(r->req, &n);
	json_error_t e;
	json_t *j = json_loadb(s, n, 0, &e);
	free(s);
	if (j == NULL)
		sim_graph_error(r, 400, "BadRequest", "body is not JSON: line %d column %d: %s", e.line, e.column, e.text);
	return j;
}

static void control_stats(struct sim_req *r)
{
	struct sim *sim = r->sim;
	char now[40];
	sim_iso_format(sim_now(sim), false, now, sizeof(now));
	unsigned long records = 0;
	for (size_t i = 0; i < sim->n_tenants; i++)
		records += sim->tenants[i]->n_signins;
	json_t *j = json_pack("{s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I},s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:I}", "requests",
		"token", (json_int_t)sim->stats.token, "signins", (json_int_t)sim->stats.signins, "exchange",
		(json_int_t)sim->stats.exchange, "policies", (json_int_t)sim->stats.policies, "hooks",
		(json_int_t)sim->stats.hooks, "control",
		(json_int_t)sim->stats.control, "other", (json_int_t)sim->stats.other, "faults_served",
		(json_int_t)sim->stats.faults_served, "status_429", (json_int_t)sim->stats.status_429,
		"throttled", (json_int_t)sim->stats.throttled, "tokens_issued",
		(json_int_t)sim->stats.tokens_issued, "signin_records_served",
		(json_int_t)sim->stats.signin_records_served, "exchange_rows_served",
		(json_int_t)sim->stats.exchange_rows_served, "signin_records", (json_int_t)records, "sim_now", now,
		"clock_offset_s", (json_int_t)(sim->clock_offset / TICKS_PER_SEC));
	json_object_set_new(json_object_get(j, "requests"), "manage", json_integer((json_int_t)sim->stats.manage));
	json_object_set_new(j, "connections", json_integer((json_int_t)sim->stats.connections));
	json_object_set_new(j, "audit_blobs_listed", json_integer((json_int_t)sim->stats.audit_blobs_listed));
	json_object_set_new(j, "audit_records_served", json_integer((json_int_t)sim->stats.audit_records_served));
	json_object_set_new(j, "audit_no_publisher", json_integer((json_int_t)sim->stats.audit_no_publisher));
	json_object_set_new(j, "usage", json_pack("{s:I,s:I,s:I,s:I,s:i}", "reports", (json_int_t)sim->stats.reports,
		"downloads", (json_int_t)sim->stats.report_downloads, "downloads_with_authorization",
		(json_int_t)sim->stats.report_downloads_authz, "traces", (json_int_t)sim->stats.traces, "download_port",
		sim->dl_port));
	sim_reply_json(r, 200, j);
}

static void control_faults(struct sim_req *r, enum evhttp_cmd_type method)
{
	struct sim *sim = r->sim;
	if (method == EVHTTP_REQ_DELETE) {
		for (size_t i = 0; i < sim->n_faults; i++)
			fault_free(sim->faults[i]);
		sim->n_faults = 0;
		sim_reply_json(r, 200, json_pack("{s:b,s:i}", "ok", 1, "faults", 0));
		return;
	}
	if (method == EVHTTP_REQ_POST) {
		json_t *j = body_json(r);
		if (j == NULL)
			return;
		json_t *arr = json_object_get(j, "faults");
		if (!json_is_array(arr)) {
			json_decref(j);
			sim_graph_error(r, 400, "BadRequest", "expected {\"faults\":[...]}");
			return;
		}
		/* validate all before adding any */
		size_t n = json_array_size(arr), i;
		struct sim_fault **tmp = calloc(n ? n : 1, sizeof(*tmp));
		char err[512];
		for (i = 0; i < n; i++) {
			char where[64];
			snprintf(where, sizeof(where), "faults[%zu]", i);
			if ((tmp[i] = fault_parse(json_array_get(arr, i), where, err, sizeof(err))) == NULL)
				break;
		}
		if (i < n) {
			for (size_t k = 0; k < i; k++)
				fault_free(tmp[k]);
			free(tmp);
			json_decref(j);
			sim_graph_error(r, 400, "BadRequest", "%s", err);
			return;
		}
		for (i = 0; i < n; i++)
			sim_add_fault(sim, tmp[i]);
		free(tmp);
		json_decref(j);
		sim_reply_json(r, 200, json_pack("{s:b,s:I}", "ok", 1, "faults", (json_int_t)sim->n_faults));
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < sim->n_faults; i++) {
		struct sim_fault *f = sim->faults[i];
		json_array_append_new(arr, json_pack("{s:O,s:I,s:I}", "fault", f->spec, "seen", (json_int_t)f->seen,
						   "hits", (json_int_t)f->hits));
	}
	sim_reply_json(r, 200, json_pack("{s:o}", "faults", arr));
}

static void control_clock(struct sim_req *r, enum evhttp_cmd_type method)
{
	struct sim *sim = r->sim;
	if (method == EVHTTP_REQ_POST) {
		json_t *j = body_json(r);
		if (j == NULL)
			return;
		json_t *adv = json_object_get(j, "advance"), *set = json_object_get(j, "set");
		int64_t d;
		if (json_is_string(adv) && sim_duration_parse(json_string_value(adv), &d) == 0) {
			sim->clock_offset += d;
		} else if (json_is_integer(adv) && json_integer_value(adv) >= 0) {
			sim->clock_offset += json_integer_value(adv) * TICKS_PER_SEC;
		} else if (json_is_string(set) && sim_time_parse(json_string_value(set), sim->start, &d) == 0) {
			sim->clock_offset = d - sim_wall_ticks();
		} else {
			json_decref(j);
			sim_graph_error(r, 400, "BadRequest",
				"expected {\"advance\":\"30m\"} or {\"set\":\"+2h\"} or {\"set\":\"2026-11-20T08:00:00Z\"}");
			return;
		}
		json_decref(j);
	}
	char now[40];
	sim_iso_format(sim_now(sim), false, now, sizeof(now));
	sim_log(sim, "  sim clock now %s", now);
	sim_reply_json(r, 200, json_pack("{s:s,s:I}", "sim_now", now, "clock_offset_s",
				       (json_int_t)(sim->clock_offset / TICKS_PER_SEC)));
}

/* POST /_sim/tenants/T/audit {"records":[...],"subscription":"none|enabled|disabled"}:
 * add audit records (times relative to sim now) or set the subscription. */
static void control_audit(struct sim_req *r, struct sim_tenant *t)
{
	json_t *j = body_json(r);
	char err[512];

	if (j == NULL)
		return;
	const char *sub = json_string_value(json_object_get(j, "subscription"));
	if (sub != NULL) {
		if (strcmp(sub, "none") == 0)
			t->audit_sub = AUDIT_SUB_NONE;
		else if (strcmp(sub, "enabled") == 0)
			t->audit_sub = AUDIT_SUB_ENABLED;
		else if (strcmp(sub, "disabled") == 0)
			t->audit_sub = AUDIT_SUB_DISABLED;
		else if (strcmp(sub, "off") == 0)
			t->audit_sub = AUDIT_OFF;
		else {
			json_decref(j);
			sim_graph_error(r, 400, "BadRequest", "subscription: expected none, enabled, disabled or off");
			return;
		}
	}
	size_t before = t->n_audit;
	if (json_object_get(j, "records") != NULL &&
		scenario_add_audit(t, json_object_get(j, "records"), sim_now(r->sim), "records", err, sizeof(err)) < 0) {
		json_decref(j);
		sim_graph_error(r, 400, "BadRequest", "%s", err);
		return;
	}
	json_decref(j);
	sim_reply_json(r, 200, json_pack("{s:b,s:I,s:I}", "ok", 1, "added", (json_int_t)(t->n_audit - before), "total",
				       (json_int_t)t->n_audit));
}

/* POST /_sim/tenants/T/signins or /changes: times relative to sim now. */
static void control_tenant(struct sim_req *r, const char *rest)
{
	struct sim *sim = r->sim;
	const char *slash = strchr(rest, '/');
	if (slash == NULL) {
		sim_graph_error(r, 404, "ResourceNotFound", "expected /_sim/tenants/TENANT/signins or /changes");
		return;
	}
	char *name = evhttp_uridecode(rest, 0, NULL);
	name[slash - rest] = '\0';
	struct sim_tenant *t = scenario_tenant(sim, name);
	if (t == NULL) {
		sim_graph_error(r, 404, "ResourceNotFound", "no tenant '%s' in the scenario", name);
		free(name);
		return;
	}
	free(name);
	const char *what = slash + 1;
	if (strcmp(what, "audit") == 0) {
		control_audit(r, t);
		return;
	}
	if (strcmp(what, "usage") == 0) {
		json_t *j = body_json(r);
		if (j != NULL)
			usage_control(r, t, j);
		json_decref(j);
		return;
	}
	if (strcmp(what, "signins") != 0 && strcmp(what, "changes") != 0) {
		sim_graph_error(r, 404, "ResourceNotFound", "expected /_sim/tenants/TENANT/signins, /changes or /audit");
		return;
	}
	json_t *j = body_json(r);
	if (j == NULL)
		return;
	char err[512];
	int rc;
	size_t before = strcmp(what, "signins") == 0 ? t->n_signins : t->n_changes;
	if (strcmp(what, "signins") == 0)
		rc = scenario_add_series(t, json_object_get(j, "signins"), sim_now(sim), "signins", err, sizeof(err));
	else
		rc = scenario_add_changes(t, json_object_get(j, "changes"), sim_now(sim), "changes", err, sizeof(err));
	json_decref(j);
	if (rc < 0) {
		sim_graph_error(r, 400, "BadRequest", "%s", err);
		return;
	}
	size_t after = strcmp(what, "signins") == 0 ? t->n_signins : t->n_changes;
	sim_reply_json(r, 200, json_pack("{s:b,s:I,s:I}", "ok", 1, "added", (json_int_t)(after - before), "total",
				       (json_int_t)after));
}

static void control_handle(struct sim_req *r, const char *path, enum evhttp_cmd_type method)
{
	const char *p = path + strlen("/_sim/");
	if (strcmp(p, "stats") == 0)
		control_stats(r);
	else if (strcmp(p, "faults") == 0)
		control_faults(r, method);
	else if (strcmp(p, "clock") == 0)
		control_clock(r, method);
	else if (strcmp(p, "health") == 0)
		sim_reply_json(r, 200, json_pack("{s:b}", "ok", 1));
	else if (strncmp(p, "tenants/", 8) == 0 && method == EVHTTP_REQ_POST)
		control_tenant(r, p + 8);
	else if (strcmp(p, "hooks") == 0)
		hooks_list(r);
	else if (strcmp(p, "exchange-writes") == 0) {
		/* The Set-* cmdlets InvokeCommand ran, oldest first; DELETE forgets them. */
		if (method == EVHTTP_REQ_DELETE && r->sim->exo_writes != NULL)
			json_array_clear(r->sim->exo_writes);
		json_t *w = r->sim->exo_writes ? json_incref(r->sim->exo_writes) : json_array();
		sim_reply_json(r, 200, json_pack("{s:o}", "writes", w));
	}
	else if (strncmp(p, "hooks/", 6) == 0) {
		char *name = evhttp_uridecode(p + 6, 0, NULL);
		size_t n = strlen(name);
		if (n > 7 && strcmp(name + n - 7, "/status") == 0 && method == EVHTTP_REQ_POST) {
			name[n - 7] = '\0';
			hooks_set_status(r, name);
		} else if (method == EVHTTP_REQ_DELETE) {
			hooks_delete(r, name);
		} else {
			hooks_get(r, name);
		}
		free(name);
	} else
		sim_graph_error(r, 404, "ResourceNotFound", "no control endpoint %s", path);
}

/* ---- routing ---- */

static bool ends_with_ci(const char *s, const char *suffix, size_t *ret_prefix)
{
	size_t n = strlen(s), m = strlen(suffix);
	if (n < m || strcasecmp(s + n - m, suffix) != 0)
		return false;
	*ret_prefix = n - m;
	return true;
}

/* "http://" + Host (or the listen address) + the path prefix of the route. */
static void base_url(struct sim_req *r, const char *path, size_t prefix_len)
{
	const char *host = evhttp_find_header(evhttp_request_get_input_headers(r->req), "Host");
	char hostbuf[128];
	if (host == NULL || *host == '\0' || strpbrk(host, " /\"\\") != NULL) {
		if (strchr(r->sim->listen_host, ':'))
			snprintf(hostbuf, sizeof(hostbuf), "[%s]:%d", r->sim->listen_host, r->sim->port);
		else
			snprintf(hostbuf, sizeof(hostbuf), "%s:%d", r->sim->listen_host, r->sim->port);
		host = hostbuf;
	}
	snprintf(r->base_url, sizeof(r->base_url), "http://%s%.*s", host, (int)(prefix_len < 200 ? prefix_len : 200),
		path);
}

/* A counted connection closed: forget it (its address may come back). */
static void conn_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	struct sim *sim = arg;

	for (size_t i = 0; i < sim->n_conns; i++)
		if (sim->conns[i] == evcon) {
			sim->conns[i] = sim->conns[--sim->n_conns];
			return;
		}
}

/* Count the connection of a request once (stats "connections"): against
 * the requests, how well the client keeps its connections alive. */
static void conn_note(struct sim *sim, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);

	if (evcon == NULL)
		return;
	for (size_t i = 0; i < sim->n_conns; i++)
		if (sim->conns[i] == evcon)
			return;
	if (sim->n_conns == sim->cap_conns) {
		size_t cap = sim->cap_conns ? sim->cap_conns * 2 : 64;
		struct evhttp_connection **n = realloc(sim->conns, cap * sizeof(*n));
		if (n == NULL)
			return;
		sim->conns = n;
		sim->cap_conns = cap;
	}
	sim->conns[sim->n_conns++] = evcon;
	sim->stats.connections++;
	evhttp_connection_set_closecb(evcon, conn_closed_cb, sim);
}

static void request_cb(struct evhttp_request *req, void *arg)
{
	struct sim *sim = arg;
	struct sim_req r = { .sim = sim, .req = req, .ep = EP_OTHER };
	sim_random_guid(r.request_id);
	set_nodelay(req_fd(req));

	const char *uri = evhttp_request_get_uri(req);
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	sim_log(sim, "%s %s", method == EVHTTP_REQ_GET ? "GET" : method == EVHTTP_REQ_POST ? "POST"
		: method == EVHTTP_REQ_DELETE ? "DELETE" : method == EVHTTP_REQ_PUT ? "PUT" : "OTHER", uri);

	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *path = u ? evhttp_uri_get_path(u) : NULL;
	if (path == NULL || *path == '\0')
		path = "/";
	set_header(req, "request-id", r.request_id);
	set_header(req, "client-request-id", client_request_id(&r));

	size_t pre;
	char *tenant = NULL;
	if (strncmp(path, "/_sim/", 6) == 0) {
		sim->stats.control++;
		r.ep = EP_CONTROL;
		control_handle(&r, path, method);
		return;
	}
	conn_note(sim, req);
	if (strncmp(path, "/hooks/", 7) == 0) {
		r.ep = EP_HOOKS;
		sim->stats.hooks++;
		char *name = sim_xstrdup(path + 7);
		char *slash = strchr(name, '/');
		if (slash)
			*slash = '\0';
		r.hook = name;
		r.fault = fault_select(&r, NULL);
		hooks_handle(&r, path); /* records, then answers unless a fault does */
		free(name);
		return;
	}
	if (ends_with_ci(path, "/oauth2/v2.0/token", &pre)) {
		r.ep = EP_TOKEN;
		sim->stats.token++;
		size_t s = pre;
		while (s > 0 && path[s - 1] != '/')
			s--;
		char *raw = strndup(path + s, pre - s);
		tenant = evhttp_uridecode(raw, 0, NULL);
		free(raw);
		r.tenant = scenario_tenant(sim, tenant);
		r.fault = fault_select(&r, tenant);
		if (!fault_answer(&r)) {
			if (method != EVHTTP_REQ_POST)
				sim_graph_error(&r, 405, "MethodNotAllowed", "use POST");
			else
				token_handle(&r, tenant);
		}
		free(tenant);
		return;
	}
	if (ends_with_ci(path, "/v1.0/auditLogs/signIns", &pre) || ends_with_ci(path, "/beta/auditLogs/signIns", &pre)) {
		r.ep = EP_SIGNINS;
		sim->stats.signins++;
		base_url(&r, path, strlen(path));
		struct sim_token *tok = token_lookup(sim, req);
		r.tenant = tok ? tok->tenant : NULL;
		r.fault = fault_select(&r, r.tenant ? r.tenant->name : NULL);
		if (!fault_answer(&r) && !throttled(&r) && !usage_no_p1(&r))
			signins_handle(&r);
		return;
	}
	const char *mg = strstr(path, "/api/v1.0/");
	if (mg && strstr(mg, "/activity/feed/") != NULL) {
		r.ep = EP_MANAGE;
		sim->stats.manage++;
		const char *rest = mg + 10;
		const char *slash = strchr(rest, '/');
		char *raw = strndup(rest, (size_t)(slash - rest));
		tenant = evhttp_uridecode(raw, 0, NULL);
		free(raw);
		base_url(&r, path, (size_t)(mg - path));
		r.tenant = scenario_tenant(sim, tenant);
		r.fault = fault_select(&r, tenant);
		if (!fault_answer(&r))
			manage_handle(&r, rest, method);
		free(tenant);
		return;
	}
	const char *ab = strstr(path, "/adminapi/beta/");
	if (ab && ends_with_ci(path, "/InvokeCommand", &pre) && path + pre > ab + 15) {
		r.ep = EP_EXCHANGE;
		sim->stats.exchange++;
		char *raw = strndup(ab + 15, (size_t)(path + pre - (ab + 15)));
		tenant = evhttp_uridecode(raw, 0, NULL);
		free(raw);
		base_url(&r, path, strlen(path));
		r.tenant = scenario_tenant(sim, tenant);
		peek_cmdlet(&r);
		r.fault = fault_select(&r, tenant);
		if (!fault_answer(&r))
			exchange_handle(&r, tenant);
		free(tenant);
		return;
	}
	/* The email app usage report, report settings, message trace (usage.c). */
	const char *rep = strstr(path, "/v1.0/reports/getEmailAppUsageUserDetail(");
	bool rs = ends_with_ci(path, "/v1.0/admin/reportSettings", &pre);
	bool mt = !rs && ends_with_ci(path, "/v1.0/admin/exchange/tracing/messageTraces", &pre);
	if (rep || rs || mt) {
		r.ep = EP_POLICIES;
		sim->stats.policies++;
		base_url(&r, path, strlen(path));
		struct sim_token *tok = token_lookup(sim, req);
		r.tenant = tok ? tok->tenant : NULL;
		r.fault = fault_select(&r, r.tenant ? r.tenant->name : NULL);
		if (fault_answer(&r))
			return;
		if (rep) {
			char *fn = evhttp_uridecode(rep + 41, 0, NULL);
			size_t l = fn ? strlen(fn) : 0;
			if (l > 0 && fn[l - 1] == ')')
				fn[l - 1] = '\0';
			usage_report_handle(&r, fn ? fn : "");
			free(fn);
		} else if (rs) {
			usage_settings_handle(&r);
		} else {
			trace_handle(&r);
		}
		return;
	}
	/* Entra policies and group members (capolicy.c). */
	const char *groups = strstr(path, "/v1.0/groups/");
	bool ca = ends_with_ci(path, "/v1.0/identity/conditionalAccess/policies", &pre);
	bool ev = !ca && ends_with_ci(path, "/v1.0/identity/conditionalAccess/evaluate", &pre);
	bool sd = !ca && !ev && ends_with_ci(path, "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy", &pre);
	bool gm = !ca && !ev && !sd && groups && ends_with_ci(path, "/transitiveMembers/microsoft.graph.user", &pre) &&
		path + pre > groups + 13;
	if (ca || ev || sd || gm) {
		r.ep = EP_POLICIES;
		sim->stats.policies++;
		base_url(&r, path, strlen(path));
		struct sim_token *tok = token_lookup(sim, req);
		r.tenant = tok ? tok->tenant : NULL;
		r.fault = fault_select(&r, r.tenant ? r.tenant->name : NULL);
		if (fault_answer(&r))
			return;
		if (ca) {
			ca_policies_handle(&r);
		} else if (ev) {
			ca_evaluate_handle(&r);
		} else if (sd) {
			secdefaults_handle(&r);
		} else {
			char *raw = strndup(groups + 13, (size_t)(path + pre - (groups + 13)));
			char *group = evhttp_uridecode(raw, 0, NULL);
			group_members_handle(&r, group);
			free(group);
			free(raw);
		}
		return;
	}
	sim->stats.other++;
	sim_graph_error(&r, 404, "ResourceNotFound", "Resource not found for the segment '%s'.", path);
}

/* ---- startup ---- */

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct sim *sim = arg;
	sim_log(sim, "signal %d, exiting", (int)sig);
	event_base_loopbreak(sim->base);
}

static int write_port_file(const char *file, int port)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", file, (int)getpid());
	FILE *f = fopen(tmp, "w");
	if (f == NULL)
		return -errno;
	fprintf(f, "%d\n", port);
	if (fclose(f) != 0 || rename(tmp, file) != 0) {
		int e = -errno;
		unlink(tmp);
		return e;
	}
	return 0;
}

static bool is_loopback(const char *addr)
{
	struct in_addr a4;
	struct in6_addr a6;
	if (inet_pton(AF_INET, addr, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, addr, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: smtpwatch-sim -s SCENARIO.json [-l 127.0.0.1] [-p PORT] [--port-file FILE] [-v]\n"
		   "  -s, --scenario FILE   scenario to serve (see sim/README.md)\n"
		   "  -l, --listen ADDR     loopback address to listen on (127.0.0.0/8 or ::1)\n"
		   "  -p, --port PORT       TCP port, 0 (default) for an ephemeral one\n"
		   "      --port-file FILE  write the port number to FILE once listening\n"
		   "  -v, --verbose         log each request to stderr\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "scenario", required_argument, NULL, 's' },
		{ "listen", required_argument, NULL, 'l' }, { "port", required_argument, NULL, 'p' },
		{ "port-file", required_argument, NULL, 'P' }, { "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	const char *scenario = NULL, *listen = "127.0.0.1", *port_file = NULL;
	long port = 0;
	struct sim sim = { 0 };
	struct event *sigterm = NULL, *sigint = NULL;
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "s:l:p:vh", opts, NULL)) != -1) {
		switch (c) {
		case 's': scenario = optarg; break;
		case 'l': listen = optarg; break;
		case 'p': {
			char *end;
			port = strtol(optarg, &end, 10);
			if (*end || port < 0 || port > 65535) {
				fprintf(stderr, "smtpwatch-sim: bad port '%s'\n", optarg);
				return 2;
			}
			break;
		}
		case 'P': port_file = optarg; break;
		case 'v': sim.verbose = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (scenario == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (strcmp(listen, "localhost") == 0)
		listen = "127.0.0.1";
	if (!is_loopback(listen)) {
		fprintf(stderr, "smtpwatch-sim: refusing to listen on '%s': only loopback addresses (127.0.0.0/8, ::1) "
				"are allowed\n",
			listen);
		return 1;
	}
	snprintf(sim.listen_host, sizeof(sim.listen_host), "%s", listen);
	memset(pad_block, ' ', sizeof(pad_block));
	signal(SIGPIPE, SIG_IGN);

	sim.start = (sim_wall_ticks() / TICKS_PER_SEC) * TICKS_PER_SEC;
	if (scenario_load(&sim, scenario) < 0)
		goto out;

	sim.base = event_base_new();
	sim.http = evhttp_new(sim.base);
	if (sim.base == NULL || sim.http == NULL) {
		fprintf(stderr, "smtpwatch-sim: cannot set up libevent\n");
		goto out;
	}
	evhttp_set_allowed_methods(sim.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
		EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH | EVHTTP_REQ_HEAD | EVHTTP_REQ_OPTIONS);
	evhttp_set_max_body_size(sim.http, 256 * 1024 * 1024);
	evhttp_set_timeout(sim.http, 120);
	evhttp_set_gencb(sim.http, request_cb, &sim);
	struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(sim.http, listen, (ev_uint16_t)port);
	if (bound == NULL) {
		fprintf(stderr, "smtpwatch-sim: cannot listen on %s port %ld: %s\n", listen, port, strerror(errno));
		goto out;
	}
	evutil_socket_t lfd = evhttp_bound_socket_get_fd(bound);
	set_nodelay(lfd); /* Linux hands TCP_NODELAY down to accepted sockets */
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(lfd, (struct sockaddr *)&ss, &sl) != 0) {
		fprintf(stderr, "smtpwatch-sim: getsockname: %s\n", strerror(errno));
		goto out;
	}
	sim.port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						  : ((struct sockaddr_in *)&ss)->sin_port);

	if (usage_listen(&sim, listen) < 0) {
		fprintf(stderr, "smtpwatch-sim: cannot listen on %s for the report downloads: %s\n", listen, strerror(errno));
		goto out;
	}

	sigterm = evsignal_new(sim.base, SIGTERM, signal_cb, &sim);
	sigint = evsignal_new(sim.base, SIGINT, signal_cb, &sim);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);

	if (port_file && write_port_file(port_file, sim.port) < 0) {
		fprintf(stderr, "smtpwatch-sim: cannot write %s: %s\n", port_file, strerror(errno));
		goto out;
	}
	if (strchr(listen, ':'))
		printf("smtpwatch-sim: listening on http://[%s]:%d\n", listen, sim.port);
	else
		printf("smtpwatch-sim: listening on http://%s:%d\n", listen, sim.port);
	fflush(stdout);

	event_base_dispatch(sim.base);
	rc = 0;

	/* answer held-back replies now so evhttp can free their requests */
	while (sim.pending) {
		struct pending *p = sim.pending;
		pending_unlink(&sim, p);
		event_free(p->ev);
		send_now(&sim, p->req, p->status, p->body, p->truncate);
		free(p);
	}
out:
	if (sigterm)
		event_free(sigterm);
	if (sigint)
		event_free(sigint);
	usage_shutdown(&sim);
	if (sim.http)
		evhttp_free(sim.http);
	free(sim.conns);
	if (sim.base)
		event_base_free(sim.base);
	tokens_free(&sim);
	receivers_free(&sim);
	json_decref(sim.exo_writes);
	scenario_free(&sim);
	return rc;
}
