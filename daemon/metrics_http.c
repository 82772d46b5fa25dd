/* metrics_http.c: [daemon] metrics_listen: GET /metrics over HTTP with
 * libevent's evhttp, on the daemon's event base, so Prometheus scrapes
 * the daemon itself instead of a textfile that a cron job of root's
 * writes.
 *
 * The text is metrics_render()'s, the same as `smtpwatchctl metrics`.
 * The listener is a plain socket made here (a unix one gets the control
 * socket's mode and group; a TCP one an address that config.c has
 * checked is loopback unless metrics_allow_remote) and handed to
 * evhttp_accept_socket_with_handle().  evhttp reads and writes without
 * blocking; what it may hold per connection is bounded by the limits
 * below, and a client that never finishes its request is dropped after
 * METRICS_TIMEOUT_S without stopping anything else. */
#include "metrics.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <grp.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "log.h"
#include "smtpwatchd.h"

/* A scrape is one short GET: anything bigger is not Prometheus. */
#define METRICS_MAX_HEADERS 8192
#define METRICS_MAX_BODY 1024
#define METRICS_TIMEOUT_S 10
#define METRICS_BACKLOG 16

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics_http {
	struct daemon *d;
	struct evhttp *http;
	char *addr;   /* as configured, to compare at reload */
	char *group;  /* a unix socket's group, as configured (may be NULL) */
	char *path;   /* a unix socket's path, removed at free */
	dev_t dev;    /* ... only while it is still ours */
	ino_t ino;
};

/* A short text answer (errors). */
static void reply_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
	struct evbuffer *buf = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain; charset=utf-8");
	if (buf != NULL)
		evbuffer_add_printf(buf, "%s\n", text);
	evhttp_send_reply(req, code, reason, buf);
	if (buf != NULL)
		evbuffer_free(buf);
}

/* Every request: GET or HEAD /metrics, 404 elsewhere, 405 otherwise. */
static void metrics_request_cb(struct evhttp_request *req, void *arg)
{
	struct metrics_http *m = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct evbuffer *buf;
	char why[256] = "", *text = NULL;
	size_t len = 0;

	if (path == NULL || strcmp(path, "/metrics") != 0) {
		reply_text(req, HTTP_NOTFOUND, "Not Found", "not found: smtpwatchd serves GET /metrics");
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(out, "Allow", "GET, HEAD");
		reply_text(req, 405, "Method Not Allowed", "method not allowed: GET /metrics");
		return;
	}
	if (metrics_render(m->d, &text, &len, why, sizeof(why)) < 0) {
		log_warn("metrics: GET /metrics: %s", why);
		reply_text(req, HTTP_INTERNAL, "Internal Server Error", why);
		return;
	}
	buf = evbuffer_new();
	if (buf == NULL || evbuffer_add(buf, text, len) < 0) {
		free(text);
		if (buf != NULL)
			evbuffer_free(buf);
		reply_text(req, HTTP_INTERNAL, "Internal Server Error", "out of memory");
		return;
	}
	free(text);
	evhttp_add_header(out, "Content-Type", METRICS_CONTENT_TYPE);
	evhttp_add_header(out, "Cache-Control", "no-store");
	evhttp_send_reply(req, HTTP_OK, "OK", buf);
	evbuffer_free(buf);
}

/* A listening TCP socket on l's address.  -errno with why. */
static int listen_inet(const struct sw_listen *l, char *why, size_t n)
{
	struct sockaddr_storage ss = {0};
	socklen_t sslen;
	int fd, one = 1, r;

	if (l->family == SW_LISTEN_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)l->port);
		inet_pton(AF_INET, l->host, &sin->sin_addr);
		sslen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)l->port);
		inet_pton(AF_INET6, l->host, &sin6->sin6_addr);
		sslen = sizeof(*sin6);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		r = -errno;
		snprintf(why, n, "socket: %s", strerror(-r));
		return r;
	}
	/* A restart must not wait for the old connections' TIME_WAIT. */
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* [::] means IPv6 only; 0.0.0.0 is written for IPv4. */
	if (l->family == SW_LISTEN_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sslen) < 0 || listen(fd, METRICS_BACKLOG) < 0) {
		r = -errno;
		snprintf(why, n, "cannot listen: %s", strerror(-r));
		close(fd);
		return r;
	}
	return fd;
}

/* A listening unix socket at l->path, mode 0660, group group if it
 * exists: bound as PATH.new and renamed into place once it listens, as
 * control.c does, so a reader never finds it half set up.  -errno. */
static int listen_unix(struct metrics_http *m, const struct sw_listen *l, const char *group, char *why, size_t n)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char tmp[sizeof(sun.sun_path)];
	struct stat st;
	mode_t old_mask;
	int fd, r;

	if (snprintf(tmp, sizeof(tmp), "%s.new", l->path) >= (int)sizeof(tmp)) {
		snprintf(why, n, "socket path is longer than %zu bytes", sizeof(tmp) - 5);
		return -ENAMETOOLONG;
	}
	r = control_unlink_stale(l->path, why, n);
	if (r == 0)
		r = control_unlink_stale(tmp, why, n);
	if (r < 0)
		return r;
	memcpy(sun.sun_path, tmp, strlen(tmp) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		r = -errno;
		snprintf(why, n, "socket: %s", strerror(-r));
		return r;
	}
	old_mask = umask(S_IXUSR | S_IXGRP | S_IRWXO);
	r = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old_mask);
	if (r < 0) {
		r = -errno;
		snprintf(why, n, "cannot bind %s: %s", tmp, strerror(-r));
		close(fd);
		return r;
	}
	if (group != NULL && group[0] != '\0') {
		struct group *gr = getgrnam(group);
		if (gr == NULL)
			log_warn("metrics: group %s does not exist; only root and uid %u may read %s", group,
			         (unsigned)geteuid(), l->path);
		else if (chown(tmp, geteuid(), gr->gr_gid) < 0)
			log_warn("metrics: cannot give %s to group %s: %s", l->path, group, strerror(errno));
	}
	if (listen(fd, METRICS_BACKLOG) < 0 || stat(tmp, &st) < 0 || rename(tmp, l->path) < 0) {
		r = -errno;
		snprintf(why, n, "cannot listen on %s: %s", l->path, strerror(-r));
		unlink(tmp);
		close(fd);
		return r;
	}
	m->dev = st.st_dev;
	m->ino = st.st_ino;
	m->path = strdup(l->path);
	if (m->path == NULL) {
		unlink(l->path);
		close(fd);
		snprintf(why, n, "out of memory");
		return -ENOMEM;
	}
	return fd;
}

/* See metrics.h. */
int metrics_http_new(struct daemon *d, const char *addr, const char *group, struct metrics_http **ret, char *why,
                     size_t n)
{
	struct metrics_http *m = calloc(1, sizeof(*m));
	struct sw_listen l;
	int fd = -1, r;

	if (m == NULL || (m->addr = strdup(addr)) == NULL || (group != NULL && (m->group = strdup(group)) == NULL)) {
		snprintf(why, n, "out of memory");
		r = -ENOMEM;
		goto fail;
	}
	m->d = d;
	r = sw_listen_parse(addr, &l, why, n);
	if (r < 0)
		goto fail;
	m->http = evhttp_new(d->base);
	if (m->http == NULL) {
		snprintf(why, n, "out of memory");
		r = -ENOMEM;
		goto fail;
	}
	evhttp_set_max_headers_size(m->http, METRICS_MAX_HEADERS);
	evhttp_set_max_body_size(m->http, METRICS_MAX_BODY);
	evhttp_set_timeout(m->http, METRICS_TIMEOUT_S);
	/* Every method evhttp knows reaches the callback, which answers 405;
	 * left to evhttp, a POST would get 501. */
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
	                                        EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
	                                        EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(m->http, metrics_request_cb, m);
	fd = l.family == SW_LISTEN_UNIX ? listen_unix(m, &l, group, why, n) : listen_inet(&l, why, n);
	if (fd < 0) {
		r = fd;
		goto fail;
	}
	if (evhttp_accept_socket_with_handle(m->http, fd) == NULL) {
		close(fd);
		snprintf(why, n, "cannot accept on the socket");
		r = -EIO;
		goto fail;
	}
	*ret = m;
	return 0;
fail:
	metrics_http_free(m);
	return r;
}

/* See metrics.h. */
void metrics_http_free(struct metrics_http *m)
{
	struct stat st;

	if (m == NULL)
		return;
	if (m->http != NULL)
		evhttp_free(m->http);
	/* Only our own socket: another process may have taken the path. */
	if (m->path != NULL && lstat(m->path, &st) == 0 && st.st_dev == m->dev && st.st_ino == m->ino)
		unlink(m->path);
	free(m->path);
	free(m->addr);
	free(m->group);
	free(m);
}

/* NULL-safe string equality. */
static bool same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* See metrics.h. */
int metrics_http_reload(struct daemon *d, struct metrics_http **m, char *why, size_t n)
{
	const char *addr = d->cfg->daemon.metrics_listen, *group = d->cfg->daemon.socket_group;
	struct metrics_http *next = NULL;
	char old[256] = "";
	int r;

	if (*m == NULL && addr == NULL)
		return 0;
	if (*m != NULL && same((*m)->addr, addr) && same((*m)->group, group))
		return 0;
	if (addr == NULL) {
		log_info("metrics: no longer listening on %s (metrics_listen is unset)", (*m)->addr);
		metrics_http_free(*m);
		*m = NULL;
		return 0;
	}
	r = metrics_http_new(d, addr, group, &next, why, n);
	if (r < 0 && *m != NULL) {
		/* The new address may be the old one's port on another address,
		 * or its unix path: let go of the old one and try again, and
		 * fall back to it if that fails too. */
		snprintf(old, sizeof(old), "%s", (*m)->addr);
		char *old_group = (*m)->group != NULL ? strdup((*m)->group) : NULL;
		metrics_http_free(*m);
		*m = NULL;
		r = metrics_http_new(d, addr, group, &next, why, n);
		if (r < 0) {
			char why2[256];
			size_t len = strlen(why);
			if (metrics_http_new(d, old, old_group, m, why2, sizeof(why2)) == 0)
				snprintf(why + len, n - len, "; still serving GET /metrics on %s", old);
			else
				snprintf(why + len, n - len, "; and %s cannot be bound again (%s): not serving GET /metrics",
				         old, why2);
		}
		free(old_group);
	}
	if (r < 0)
		return r;
	metrics_http_free(*m);
	*m = next;
	log_info("metrics: serving GET /metrics on %s", addr);
	return 0;
}
