/* http.c: asynchronous HTTP on one libcurl multi handle driven by libevent,
 * laid out as curl's docs/examples/hiperfifo.c: the socket callback keeps a
 * persistent event per socket, the timer callback arms one evtimer, and
 * after every curl_multi_socket_action() the finished transfers are drained
 * with curl_multi_info_read().  Completion callbacks therefore run from the
 * event loop, never from inside libcurl. */
#include "http.h"

#include <curl/curl.h>
#include <errno.h>
#include <event2/event_struct.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

struct http_xfer {
	struct http *http;
	CURL *easy;
	struct curl_slist *headers;
	struct curl_slist *resolve; /* localhost pinned to loopback */
	char *body; /* request body copy */
	struct http_response res;
	http_done_cb cb;
	void *arg;
	char errbuf[CURL_ERROR_SIZE];
	struct http_xfer *prev, *next;
};

struct http_sock {
	struct http *http;
	curl_socket_t fd;
	struct event ev;
	bool ev_set;
};

/* A request waiting for a transfer slot: the copies http_submit made,
 * without an easy handle (about 5.5 KB with libcurl 7.88) or a response
 * (4.7 KB) yet. */
struct http_wait {
	bool post;
	char *url;
	struct curl_slist *headers;
	char *body; /* POST body copy */
	size_t body_len;
	long timeout_ms;
	http_done_cb cb;
	void *arg;
	struct http_wait *next;
};

/* Transfers kept between requests with their easy handles
 * (curl_easy_reset: the options go, the allocation and its buffers stay):
 * a request no longer makes and frees its 5.6 KB handle, its 4.7 KB
 * response and, once it connected, libcurl's 16 KB download buffer.  The
 * idle pollers of many tenants have a few requests
 * in flight at once; past this many (the start's storm) handles are
 * freed as they finish. */
#define HTTP_POOL 32

/* HTTP_MAX_ACTIVE (http.h): each transfer holds its easy handle, its
 * response and, from its connect on, libcurl's 16 KB download buffer; at
 * the start of 10,000 tenants every source asking at once held about
 * 80 KB a tenant, which the heap kept after they were done.  The pool has
 * as many connections (CURLMOPT_MAX_TOTAL_CONNECTIONS), so the limit takes
 * nothing from what could be on the wire at once. */

struct http {
	struct event_base *base;
	CURLM *multi;
	CURLSH *share; /* DNS answers and TLS sessions, for every transfer */
	struct event timer;
	struct event kick; /* starts waiting requests from the loop (a slot freed outside a callback) */
	int running;
	struct http_xfer *xfers; /* in flight */
	int n_xfers;
	struct http_wait *wait, *wait_tail; /* waiting for a slot, oldest first */
	int n_wait;
	struct http_slot *slots, *slots_tail; /* slots asked for (http_slot_take), oldest first */
	int n_slots;
	struct http_slot *granted; /* the slot whose callback runs now */
	char *proxy; /* [daemon] proxy, NULL: none */
	struct http_xfer *pool[HTTP_POOL]; /* transfers done with, their handles reset, for the next ones */
	int n_pool;
};

static void http_check_done(struct http *h);
static void http_dispatch(struct http *h);
static void http_dispatch_copies(struct http *h);

/* Free a waiting request (unlinked). */
static void http_wait_free(struct http_wait *w)
{
	if (w == NULL)
		return;
	free(w->url);
	curl_slist_free_all(w->headers);
	free(w->body);
	free(w);
}

/* A transfer, cleared, with its easy handle: one the pool kept, or a new
 * one.  NULL without memory. */
static struct http_xfer *http_xfer_get(struct http *h)
{
	struct http_xfer *x;
	CURL *e;

	if (h->n_pool > 0) {
		x = h->pool[--h->n_pool];
		e = x->easy;
		memset(x, 0, sizeof(*x));
	} else {
		x = malloc(sizeof(*x));
		e = x != NULL ? curl_easy_init() : NULL;
		if (e == NULL) {
			free(x);
			return NULL;
		}
		memset(x, 0, sizeof(*x));
	}
	x->easy = e;
	x->http = h;
	return x;
}

/* Free what a transfer (unlinked, its easy handle out of the multi) holds
 * for its request; the transfer and its handle, reset, go back to the
 * pool, or are freed when it is full. */
static void http_xfer_free(struct http_xfer *x)
{
	if (x == NULL)
		return;
	curl_slist_free_all(x->headers);
	curl_slist_free_all(x->resolve);
	free(x->body);
	sw_buf_clear(&x->res.body);
	x->headers = x->resolve = NULL;
	x->body = NULL;
	struct http *h = x->http;
	if (h->n_pool < HTTP_POOL) {
		curl_easy_reset(x->easy);
		h->pool[h->n_pool++] = x;
		return;
	}
	curl_easy_cleanup(x->easy);
	free(x);
}

/* Unlink a transfer from the in-flight list. */
static void http_xfer_unlink(struct http *h, struct http_xfer *x)
{
	if (x->prev != NULL)
		x->prev->next = x->next;
	else
		h->xfers = x->next;
	if (x->next != NULL)
		x->next->prev = x->prev;
	x->prev = x->next = NULL;
	h->n_xfers--;
}

/* libcurl has data or room on a socket for us. */
static void http_event_cb(evutil_socket_t fd, short kind, void *arg)
{
	struct http *h = arg;
	int action = ((kind & EV_READ) ? CURL_CSELECT_IN : 0) | ((kind & EV_WRITE) ? CURL_CSELECT_OUT : 0);

	curl_multi_socket_action(h->multi, fd, action, &h->running);
	/* Callbacks run from here may add transfers, which arm the timer:
	 * unlike hiperfifo, never disarm it after this. */
	http_check_done(h);
}

/* libcurl's timeout expired. */
static void http_timer_cb(evutil_socket_t fd, short kind, void *arg)
{
	struct http *h = arg;

	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &h->running);
	http_check_done(h);
}

/* CURLMOPT_TIMERFUNCTION: arm (or disarm) our single timer. */
static int http_multi_timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
	struct http *h = arg;
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};

	if (timeout_ms < 0)
		evtimer_del(&h->timer);
	else
		evtimer_add(&h->timer, &tv);
	return 0;
}

/* CURLMOPT_SOCKETFUNCTION: keep one persistent event per socket. */
static int http_sock_cb(CURL *e, curl_socket_t s, int what, void *cbp, void *sockp)
{
	struct http *h = cbp;
	struct http_sock *hs = sockp;

	if (what == CURL_POLL_REMOVE) {
		if (hs != NULL) {
			if (hs->ev_set)
				event_del(&hs->ev);
			free(hs);
			curl_multi_assign(h->multi, s, NULL);
		}
		return 0;
	}
	if (hs == NULL) {
		hs = calloc(1, sizeof(*hs));
		if (hs == NULL)
			return -1;
		hs->http = h;
		hs->fd = s;
		curl_multi_assign(h->multi, s, hs);
	}
	short kind = ((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0) | EV_PERSIST;
	if (hs->ev_set)
		event_del(&hs->ev);
	event_assign(&hs->ev, h->base, s, kind, http_event_cb, h);
	hs->ev_set = true;
	event_add(&hs->ev, NULL);
	return 0;
}

/* CURLOPT_WRITEFUNCTION: collect the body, refusing absurd sizes. */
static size_t http_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct http_xfer *x = arg;
	size_t n = size * nmemb;

	if (x->res.body.len + n > (size_t)HTTP_MAX_BODY) {
		snprintf(x->res.error, sizeof(x->res.error), "response body larger than %ld MiB",
		         HTTP_MAX_BODY / (1024 * 1024));
		return 0;
	}
	if (sw_buf_append(&x->res.body, ptr, n) < 0)
		return 0;
	return n;
}

/* Finished transfers: fill the response and call back. */
static void http_check_done(struct http *h)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct http_xfer *x = NULL;
		CURL *easy = msg->easy_handle;
		CURLcode rc = msg->data.result;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
		curl_multi_remove_handle(h->multi, easy);
		http_xfer_unlink(h, x);

		x->res.curl_code = rc;
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &x->res.status);
		curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME, &x->res.total_time);
		char *ct = NULL;
		if (curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct != NULL)
			snprintf(x->res.content_type, sizeof(x->res.content_type), "%s", ct);
		curl_off_t ra = -1;
		if (curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
			x->res.retry_after = ra;
		char *loc = NULL;
		if (curl_easy_getinfo(easy, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc != NULL)
			snprintf(x->res.location, sizeof(x->res.location), "%s", loc);
		struct curl_header *hd = NULL;
		if (curl_easy_header(easy, "NextPageUri", 0, CURLH_HEADER, -1, &hd) == CURLHE_OK && hd != NULL &&
		    hd->value != NULL)
			snprintf(x->res.next_page_uri, sizeof(x->res.next_page_uri), "%s", hd->value);
		if (rc != CURLE_OK && x->res.error[0] == '\0')
			snprintf(x->res.error, sizeof(x->res.error), "%s",
			         x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
		if (x->res.body.data == NULL)
			sw_buf_append(&x->res.body, "", 0);
		x->cb(&x->res, x->arg);
		http_xfer_free(x);
	}
	http_dispatch(h);
}

/* A slot was freed outside a completion (a cancel): start waiting requests. */
static void http_kick_cb(evutil_socket_t fd, short kind, void *arg)
{
	struct http *h = arg;

	http_dispatch(h);
	http_check_done(h);
}

/* Create the multi handle and hook it to the event base. */
struct http *http_new(struct event_base *base)
{
	struct http *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->base = base;
	h->multi = curl_multi_init();
	if (h->multi == NULL) {
		free(h);
		return NULL;
	}
	/* Every request is a new easy handle, and a handle's own DNS and TLS
	 * session caches die with it: kept here instead, a connection that
	 * libcurl's cache (in the multi) had to close is opened again without
	 * a lookup and with an abbreviated TLS handshake (session resumption).
	 * One thread: no lock callbacks. */
	h->share = curl_share_init();
	if (h->share == NULL) {
		curl_multi_cleanup(h->multi);
		free(h);
		return NULL;
	}
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	evtimer_assign(&h->timer, base, http_timer_cb, h);
	evtimer_assign(&h->kick, base, http_kick_cb, h);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, http_sock_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, http_multi_timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	/* Sinks keep up to max_in_flight requests (at most 32) each to their
	 * receivers, and several sinks may share one host (a SIEM's webhook
	 * and HEC, the simulator): enough connections per host that a sink's
	 * requests never queue behind another's.  The pollers pace themselves
	 * and never hold more than a few. */
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 64L);
	curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 256L);
	/* Idle connections kept for the next request.  libcurl's default is
	 * four per easy handle in the multi, and ours come and go with each
	 * request: with a few in flight it closed most connections as soon
	 * as a burst of runs ended (bench/scale at 1,000 tenants: a new
	 * connection every 10-12 requests, each a TLS handshake against
	 * Microsoft).  The cache counts the connections in use too, for
	 * every host (the service, the usage reports' download host), and
	 * once it holds more than this it closes its oldest idle one each
	 * time a transfer ends: at 64, the first runs of 2,000 tenants
	 * (256 transfers at once) opened 2,911 connections for 14,767
	 * requests; as large as the pool (HTTP_MAX_ACTIVE), none. */
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)HTTP_MAX_ACTIVE);
	return h;
}

/* Abort every transfer without calling back, then free. */
void http_free(struct http *h)
{
	if (h == NULL)
		return;
	while (h->xfers != NULL) {
		struct http_xfer *x = h->xfers;
		curl_multi_remove_handle(h->multi, x->easy);
		http_xfer_unlink(h, x);
		http_xfer_free(x);
	}
	while (h->wait != NULL) {
		struct http_wait *w = h->wait;
		h->wait = w->next;
		http_wait_free(w);
	}
	for (struct http_slot *sl = h->slots; sl != NULL; sl = sl->next)
		sl->queued = false;
	h->slots = h->slots_tail = NULL;
	/* Before the share: a reset handle still holds it. */
	while (h->n_pool > 0) {
		struct http_xfer *x = h->pool[--h->n_pool];
		curl_easy_cleanup(x->easy);
		free(x);
	}
	evtimer_del(&h->timer);
	evtimer_del(&h->kick);
	curl_multi_cleanup(h->multi);
	curl_share_cleanup(h->share);
	free(h->proxy);
	free(h);
}

/* See http.h. */
void http_cancel_arg(struct http *h, void *arg)
{
	struct http_xfer *x = h->xfers;
	struct http_wait **wp = &h->wait, *last = NULL;
	bool freed = false;

	while (x != NULL) {
		struct http_xfer *next = x->next;
		if (x->arg == arg) {
			curl_multi_remove_handle(h->multi, x->easy);
			http_xfer_unlink(h, x);
			http_xfer_free(x);
			freed = true;
		}
		x = next;
	}
	while (*wp != NULL) {
		struct http_wait *w = *wp;
		if (w->arg == arg) {
			*wp = w->next;
			h->n_wait--;
			http_wait_free(w);
		} else {
			last = w;
			wp = &w->next;
		}
	}
	h->wait_tail = last;
	struct http_slot **sp = &h->slots, *slast = NULL;
	while (*sp != NULL) {
		struct http_slot *sl = *sp;
		if (sl->arg == arg) {
			*sp = sl->next;
			sl->next = NULL;
			sl->queued = false;
			h->n_slots--;
		} else {
			slast = sl;
			sp = &sl->next;
		}
	}
	h->slots_tail = slast;
	/* Not from here: the caller may be in the middle of tearing its
	 * owner down, and a request that cannot start calls back. */
	if (freed && (h->wait != NULL || h->slots != NULL)) {
		struct timeval now = {0, 0};
		evtimer_add(&h->kick, &now);
	}
}

/* See http.h. */
int http_set_proxy(struct http *h, const char *proxy)
{
	char *copy = NULL;

	if (proxy != NULL && *proxy != '\0' && (copy = strdup(proxy)) == NULL)
		return -ENOMEM;
	free(h->proxy);
	h->proxy = copy;
	return 0;
}

/* "localhost" is loopback only if no resolver decides what it means: pin
 * it to 127.0.0.1 and ::1 for the URL's port (libcurl 7.88 does so itself,
 * other builds ask /etc/hosts or DNS).  0, or -ENOMEM. */
static int http_pin_localhost(struct http_xfer *x, const char *url)
{
	char origin[300], entry[64];
	const char *host;

	if (sw_url_origin(url, origin, sizeof(origin)) < 0)
		return 0;
	host = strstr(origin, "://") + 3;
	if (strncmp(host, "localhost:", 10) != 0)
		return 0;
	snprintf(entry, sizeof(entry), "localhost:%s:127.0.0.1,[::1]", host + 10);
	x->resolve = curl_slist_append(NULL, entry);
	if (x->resolve == NULL)
		return -ENOMEM;
	curl_easy_setopt(x->easy, CURLOPT_RESOLVE, x->resolve);
	return 0;
}

/* See http.h. */
int http_active(const struct http *h)
{
	return h->n_xfers + h->n_wait + h->n_slots;
}

/* See http.h. */
bool http_slot_take(struct http *h, struct http_slot *s, void (*cb)(void *arg), void *arg)
{
	if (s->queued)
		return false;
	/* In its callback the slot is the caller's, whoever waits behind. */
	if (s == h->granted && h->n_xfers < HTTP_MAX_ACTIVE)
		return true;
	if (h->wait == NULL && h->slots == NULL && h->n_xfers < HTTP_MAX_ACTIVE)
		return true;
	s->cb = cb;
	s->arg = arg;
	s->next = NULL;
	s->queued = true;
	if (h->slots_tail != NULL)
		h->slots_tail->next = s;
	else
		h->slots = s;
	h->slots_tail = s;
	h->n_slots++;
	return false;
}

/* See http.h. */
int http_running(const struct http *h)
{
	return h->n_xfers;
}

/* Give a waiting request its transfer (w is consumed).  0, or -ENOMEM
 * or -EIO with nothing started. */
static int http_start(struct http *h, struct http_wait *w)
{
	struct http_xfer *x = NULL;
	int r = -ENOMEM;

	x = http_xfer_get(h);
	if (x == NULL)
		goto fail;
	x->cb = w->cb;
	x->arg = w->arg;
	x->res.retry_after = -1;
	x->headers = w->headers;
	w->headers = NULL;
	x->body = w->body;
	w->body = NULL;

	CURL *e = x->easy;
	curl_easy_setopt(e, CURLOPT_URL, w->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_SHARE, h->share);
	/* HTTP/2 where the server offers it in the TLS handshake (ALPN), one
	 * connection multiplexing a host's requests; HTTP/1.1 with keep-alive
	 * otherwise (and always over plain http on loopback).  libcurl 7.88's
	 * default, said here because the connection count depends on it. */
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, w->timeout_ms > 0 ? w->timeout_ms : 60000L);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_USERAGENT, "smtpwatch/" SW_VERSION);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
	/* Only the configured proxy, never one from http_proxy, https_proxy or
	 * ALL_PROXY in the environment ("" turns those off), and never for
	 * loopback, where the simulator and local sinks get secrets in clear. */
	curl_easy_setopt(e, CURLOPT_PROXY, sw_proxy_for(w->url, h->proxy));
	if (sw_url_is_loopback(w->url))
		curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	if (http_pin_localhost(x, w->url) < 0)
		goto fail;
	if (w->post) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)w->body_len);
	}

	x->next = h->xfers;
	if (h->xfers != NULL)
		h->xfers->prev = x;
	h->xfers = x;
	h->n_xfers++;
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
		http_xfer_unlink(h, x);
		r = -EIO;
		goto fail;
	}
	http_wait_free(w);
	return 0;
fail:
	http_xfer_free(x);
	http_wait_free(w);
	return r;
}

/* Start waiting requests while there are slots, the copies first (the
 * tokens' requests and the sinks'), then the slots asked for.  One that
 * cannot start is answered like a transfer that failed (no HTTP status),
 * from here, which runs from the event loop only. */
static void http_dispatch(struct http *h)
{
	http_dispatch_copies(h);
	while (h->slots != NULL && h->wait == NULL && h->n_xfers < HTTP_MAX_ACTIVE) {
		struct http_slot *sl = h->slots;
		h->slots = sl->next;
		if (h->slots == NULL)
			h->slots_tail = NULL;
		h->n_slots--;
		sl->next = NULL;
		sl->queued = false;
		/* It submits now, and the request starts: no copy waits. */
		h->granted = sl;
		sl->cb(sl->arg);
		h->granted = NULL;
		http_dispatch_copies(h);
	}
}

/* The waiting copies, while there are slots. */
static void http_dispatch_copies(struct http *h)
{
	while (h->wait != NULL && h->n_xfers < HTTP_MAX_ACTIVE) {
		struct http_wait *w = h->wait;
		http_done_cb cb = w->cb;
		void *arg = w->arg;
		h->wait = w->next;
		if (h->wait == NULL)
			h->wait_tail = NULL;
		h->n_wait--;
		w->next = NULL;
		int r = http_start(h, w);
		if (r < 0) {
			struct http_response res = {.curl_code = r == -ENOMEM ? CURLE_OUT_OF_MEMORY : CURLE_FAILED_INIT,
			                            .retry_after = -1};
			snprintf(res.error, sizeof(res.error), "%s",
			         r == -ENOMEM ? "out of memory" : "the transfer could not be started");
			sw_buf_append(&res.body, "", 0);
			cb(&res, arg);
			sw_buf_clear(&res.body);
		}
	}
}

/* Start a request; see http.h.  Past HTTP_MAX_ACTIVE transfers it waits
 * for a slot, holding only its copies. */
int http_submit(struct http *h, const struct http_request *req)
{
	struct http_wait *w = NULL;
	char why[128];

	/* Every URL is checked here too, not only in the config: next links
	 * come from the server and must not lead us to plain http elsewhere. */
	if (sw_url_check(req->url, why, sizeof(why)) < 0)
		return -EINVAL;
	if (strcasecmp(req->method, "POST") != 0 && strcasecmp(req->method, "GET") != 0)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (w == NULL || (w->url = strdup(req->url)) == NULL)
		goto fail;
	w->cb = req->cb;
	w->arg = req->arg;
	w->timeout_ms = req->timeout_ms;
	for (const char *const *hd = req->headers; hd != NULL && *hd != NULL; hd++) {
		struct curl_slist *n = curl_slist_append(w->headers, *hd);
		if (n == NULL)
			goto fail;
		w->headers = n;
	}
	/* No "Expect: 100-continue" round trip for our small POSTs. */
	struct curl_slist *n = curl_slist_append(w->headers, "Expect:");
	if (n == NULL)
		goto fail;
	w->headers = n;
	if (strcasecmp(req->method, "POST") == 0) {
		w->post = true;
		w->body = malloc(req->body_len + 1);
		if (w->body == NULL)
			goto fail;
		if (req->body_len > 0)
			memcpy(w->body, req->body, req->body_len);
		w->body[req->body_len] = '\0';
		w->body_len = req->body_len;
	}
	if (h->wait == NULL && h->n_xfers < HTTP_MAX_ACTIVE)
		return http_start(h, w);
	if (h->wait_tail != NULL)
		h->wait_tail->next = w;
	else
		h->wait = w;
	h->wait_tail = w;
	h->n_wait++;
	return 0;
fail:
	http_wait_free(w);
	return -ENOMEM;
}
