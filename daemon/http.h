/* http.h: asynchronous HTTP over one libcurl multi handle driven by
 * libevent (hiperfifo style).  The only user of curl_multi_*. */
#pragma once

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "util.h"

#define HTTP_MAX_BODY (32L * 1024 * 1024) /* a Graph page of 1000 records is about 2.5 MB */

struct http_response {
	long status;          /* 0 when no HTTP answer (network error) */
	int curl_code;        /* CURLE_OK or the failure */
	char error[256];      /* curl's text when curl_code != 0 */
	struct sw_buf body;   /* owned by http: valid during the callback */
	char content_type[128];
	int64_t retry_after;  /* seconds from Retry-After, -1 when absent */
	char location[2048];  /* a redirect's target, absolute ("" none); never followed by http.c */
	double total_time;    /* seconds */
	char next_page_uri[2048]; /* the NextPageUri header (Management Activity API), "" when none */
};

typedef void (*http_done_cb)(struct http_response *res, void *arg);

struct http_request {
	const char *method;             /* "GET" or "POST" */
	const char *url;
	const char *const *headers;     /* NULL-terminated "Name: value" lines, may be NULL */
	const char *body;               /* POST body, may be NULL */
	size_t body_len;
	long timeout_ms;                /* whole transfer; 0 = 60 s */
	http_done_cb cb;
	void *arg;
};

struct http;
struct http *http_new(struct event_base *base);
/* Aborts transfers in flight without calling their callbacks. */
void http_free(struct http *h);
/* Start a request; everything in req is copied.  The callback runs from the
 * event loop, never from inside http_submit. */
int http_submit(struct http *h, const struct http_request *req);
/* Abort, without calling back, every transfer whose callback argument is
 * arg (an owner going away: a poller on reload, a sink worker). */
void http_cancel_arg(struct http *h, void *arg);
/* Transfers at once; past this many a request waits for a slot (in
 * submission order), holding only its copies. */
#define HTTP_MAX_ACTIVE 256

/* A transfer slot asked for before the request is built (a poller: its
 * URL, its token's Authorization header and its body are made once the
 * slot is there, and nothing is copied while it waits).  The caller's
 * memory, linked in while it waits. */
struct http_slot {
	void (*cb)(void *arg);
	void *arg;
	struct http_slot *next;
	bool queued;
};
/* A slot now: true, and the caller submits at once.  false when there is
 * none free, or requests or slots are already waiting: s is queued behind
 * them, and cb(arg) runs from the event loop when a slot is free, where
 * the request it submits starts at once (the slot is not kept if it
 * submits none).  http_cancel_arg(arg) takes it out of the queue. */
bool http_slot_take(struct http *h, struct http_slot *s, void (*cb)(void *arg), void *arg);

/* Requests submitted and not done yet: in flight or waiting for a slot
 * (with their copies or as a http_slot). */
int http_active(const struct http *h);
/* Of those, the ones in flight (at most HTTP_MAX_ACTIVE). */
int http_running(const struct http *h);
/* The proxy for every later request to a host that is not loopback
 * (copied; NULL or "" for none).  The proxy variables of the environment
 * are never used.  0 or -ENOMEM. */
int http_set_proxy(struct http *h, const char *proxy);
