/* sink_syslog.c: syslog messages over a unix socket (datagram, or a
 * stream when the socket is one), UDP, TCP with octet counting (RFC 6587)
 * or TLS (RFC 5425: the same frames, the peer verified as curl verifies
 * https).  format = auto writes what syslog(3) writes on a unix socket
 * (journald and rsyslog read it as written) and RFC 5424 elsewhere;
 * rfc5424 and rfc3164 force one (rfc3164 on a unix socket is the
 * syslog(3) form, without the host name).  A stream connection stays open for the next frames and is
 * checked for a close by the receiver before each one.  A digest is one
 * message for it plus one for each of its first 20 alerts: one write of
 * their frames on a stream, one datagram each otherwise. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "digest.h"
#include "render.h"
#include "sink.h"

#define SYSLOG_STREAM_TIMEOUT 10 /* s, connect plus write of one frame */
#define SYSLOG_DIGEST_ALERTS 20  /* alerts of a digest written after its message */
#define SYSLOG_MSGS (1 + SYSLOG_DIGEST_ALERTS)
#define SYSLOG_DGRAM_WAIT_MS 20  /* a datagram queue full mid-digest: try again after */

enum transport {
	TRANSPORT_UNIX,
	TRANSPORT_UDP,
	TRANSPORT_TCP,
	TRANSPORT_TLS, /* TCP, then TLS (RFC 5425): same octet-counted frames */
};

/* The sink's priv. */
struct syslog {
	struct sink *sink;
	struct sink_attempt *cur;   /* the frame being written, for the I/O callback */
	enum transport transport;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int dfd;                    /* datagram socket, -1 none */
	int sfd;                    /* stream connection, -1 none */
	bool unix_stream;           /* the unix socket is SOCK_STREAM */
	bool connected;
	struct event io;            /* sfd: connect / write readiness */
	bool io_assigned;
	enum sw_render_syslog_form form; /* from format and the transport */
	long pid;                   /* the tag's [PID] in the syslog(3) and RFC 3164 forms */
	struct sw_buf msg;          /* the rendered messages, one after the other */
	size_t lens[SYSLOG_MSGS];   /* their lengths */
	size_t nmsg;                /* how many (1, or 1 + up to 20 for a digest) */
	size_t next, moff;          /* datagrams: the next one to send, its offset in msg */
	struct event again;         /* datagrams: the receiver's queue was full mid-digest */
	bool again_assigned;
	int again_left;             /* waits left before the attempt fails */
	struct sw_buf frame;        /* stream: "LEN SP MSG" */
	size_t off;                 /* bytes of frame written */
	SSL_CTX *tls_ctx;           /* tls://: verification set up at (re)load */
	SSL *ssl;                   /* the TLS session on sfd, NULL none */
	bool handshaken;            /* ssl is past its handshake */
	char host[256];             /* tls://: the name (or address) the certificate must carry */
};

static int stream_write(struct syslog *sl);

/* Close the stream connection, if any (a TLS one with a close_notify
 * when the socket takes it at once: nobody waits for the answer). */
static void stream_close(struct syslog *sl)
{
	if (sl->io_assigned) {
		event_del(&sl->io);
		sl->io_assigned = false;
	}
	if (sl->ssl != NULL) {
		if (sl->handshaken)
			SSL_shutdown(sl->ssl);
		SSL_free(sl->ssl);
		sl->ssl = NULL;
	}
	sl->handshaken = false;
	if (sl->sfd >= 0)
		close(sl->sfd);
	sl->sfd = -1;
	sl->connected = false;
}

/* Has the receiver closed the idle connection?  A syslog receiver never
 * talks back, so readable means EOF or reset; checking before each frame
 * keeps the frame from vanishing into a half-closed socket. */
static bool stream_gone(struct syslog *sl)
{
	char scratch[512];
	ssize_t n;

	/* Through TLS: the bytes on the socket are records (a TLS 1.3 server
	 * sends session tickets after the handshake), so read them as such. */
	while (sl->ssl != NULL) {
		int r;

		ERR_clear_error();
		r = SSL_read(sl->ssl, scratch, sizeof(scratch));
		if (r > 0)
			continue;
		r = SSL_get_error(sl->ssl, r);
		return r != SSL_ERROR_WANT_READ && r != SSL_ERROR_WANT_WRITE;
	}
	for (;;) {
		n = recv(sl->sfd, scratch, sizeof(scratch), MSG_DONTWAIT);
		if (n > 0)
			continue; /* chatter: discard */
		if (n == 0)
			return true;
		if (errno == EINTR)
			continue;
		return errno != EAGAIN && errno != EWOULDBLOCK;
	}
}

static void stream_io_cb(evutil_socket_t fd, short what, void *arg);

/* Wait until the connection is connected or can take more (EV_WRITE),
 * or, for TLS, has the bytes the handshake needs (EV_READ). */
static int stream_wait(struct syslog *sl, short what)
{
	struct timeval tv = {SYSLOG_STREAM_TIMEOUT, 0};

	if (sl->io_assigned)
		event_del(&sl->io);
	event_assign(&sl->io, sl->sink->base, sl->sfd, what, stream_io_cb, sl);
	sl->io_assigned = true;
	event_add(&sl->io, &tv);
	return SINK_PENDING;
}

/* A TLS call failed with SSL_get_error() code err: the reason in the
 * attempt's error (the certificate's, when verification failed), the
 * connection closed. */
static int tls_fail(struct syslog *sl, const char *what, int err)
{
	struct sink_attempt *a = sl->cur;
	long v = sl->ssl != NULL ? SSL_get_verify_result(sl->ssl) : X509_V_OK;
	unsigned long e = ERR_peek_last_error();
	char buf[120];

	if (v != X509_V_OK && !sl->handshaken)
		snprintf(a->error, sizeof(a->error), "%s with %.100s: certificate verify failed: %s", what, sl->host,
		         X509_verify_cert_error_string(v));
	else if (e != 0)
		snprintf(a->error, sizeof(a->error), "%s with %.100s: %s", what, sl->host,
		         (ERR_error_string_n(e, buf, sizeof(buf)), buf));
	else if (err == SSL_ERROR_SYSCALL && errno != 0)
		snprintf(a->error, sizeof(a->error), "%s with %.100s: %s", what, sl->host, strerror(errno));
	else
		snprintf(a->error, sizeof(a->error), "%s with %.100s: the connection was closed", what, sl->host);
	ERR_clear_error();
	stream_close(sl);
	return SINK_FAILED;
}

/* Run the TLS handshake on the connected socket as far as it goes without
 * blocking; the frame follows once it is done.  The certificate is
 * checked as curl checks https: a chain to the system's CAs (or ca_file)
 * and the configured host name, or IP address, in it. */
static int tls_handshake(struct syslog *sl)
{
	unsigned char ip[16];
	int r;

	if (sl->ssl == NULL) {
		bool literal = inet_pton(AF_INET, sl->host, ip) == 1 || inet_pton(AF_INET6, sl->host, ip) == 1;

		sl->ssl = SSL_new(sl->tls_ctx);
		if (sl->ssl == NULL || SSL_set_fd(sl->ssl, sl->sfd) != 1 ||
		    (literal ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(sl->ssl), sl->host) != 1
		             : SSL_set1_host(sl->ssl, sl->host) != 1 || SSL_set_tlsext_host_name(sl->ssl, sl->host) != 1))
			return tls_fail(sl, "TLS setup", SSL_ERROR_SSL);
		SSL_set_hostflags(sl->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS); /* as curl does */
		SSL_set_mode(sl->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	}
	ERR_clear_error();
	errno = 0;
	r = SSL_connect(sl->ssl);
	if (r == 1) {
		sl->handshaken = true;
		return stream_write(sl);
	}
	r = SSL_get_error(sl->ssl, r);
	if (r == SSL_ERROR_WANT_READ)
		return stream_wait(sl, EV_READ);
	if (r == SSL_ERROR_WANT_WRITE)
		return stream_wait(sl, EV_WRITE);
	return tls_fail(sl, "TLS handshake", r);
}

/* Write what is left of the frame through TLS without blocking. */
static int tls_write(struct syslog *sl)
{
	while (sl->off < sl->frame.len) {
		int n, err;

		ERR_clear_error();
		errno = 0;
		n = SSL_write(sl->ssl, sl->frame.data + sl->off, (int)(sl->frame.len - sl->off));
		if (n > 0) {
			sl->off += (size_t)n;
			continue;
		}
		err = SSL_get_error(sl->ssl, n);
		if (err == SSL_ERROR_WANT_WRITE)
			return stream_wait(sl, EV_WRITE);
		if (err == SSL_ERROR_WANT_READ)
			return stream_wait(sl, EV_READ);
		return tls_fail(sl, "TLS write", err);
	}
	return SINK_OK;
}

/* Write what is left of the frame without blocking. */
static int stream_write(struct syslog *sl)
{
	if (sl->ssl != NULL)
		return tls_write(sl);
	while (sl->off < sl->frame.len) {
		ssize_t n = send(sl->sfd, sl->frame.data + sl->off, sl->frame.len - sl->off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return stream_wait(sl, EV_WRITE);
		if (n < 0) {
			int err = errno;
			stream_close(sl);
			return sink_fail(sl->cur, "send", err);
		}
		sl->off += (size_t)n;
	}
	return SINK_OK;
}

/* The stream connection became writable (or readable, for TLS), or timed out. */
static void stream_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct syslog *sl = arg;
	struct sink_attempt *a = sl->cur;
	int r;

	if (what & EV_TIMEOUT) {
		snprintf(a->error, sizeof(a->error), "%s timed out after %ds",
		         !sl->connected                                 ? "connect"
		         : sl->transport == TRANSPORT_TLS && !sl->handshaken ? "TLS handshake"
		                                                         : "send",
		         SYSLOG_STREAM_TIMEOUT);
		stream_close(sl);
		r = SINK_FAILED;
	} else if (!sl->connected) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(sl->sfd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err != 0) {
			stream_close(sl);
			r = sink_fail(a, "connect", err);
		} else {
			sl->connected = true;
			r = sl->transport == TRANSPORT_TLS ? tls_handshake(sl) : stream_write(sl);
		}
	} else if (sl->transport == TRANSPORT_TLS && !sl->handshaken) {
		r = tls_handshake(sl);
	} else {
		r = stream_write(sl);
	}
	if (r != SINK_PENDING) {
		sl->cur = NULL;
		sink_attempt_done(a, r == SINK_OK);
	}
}

/* Send the message on the stream (TCP, TLS, or a SOCK_STREAM unix socket)
 * with octet counting (RFC 6587, and RFC 5425 for TLS: "LEN SP MSG"),
 * connecting (and shaking hands) first when needed. */
static int stream_send(struct syslog *sl)
{
	int family = sl->addr.ss_family, err;

	size_t moff = 0;

	sl->frame.len = 0;
	sl->off = 0;
	for (size_t i = 0; i < sl->nmsg; moff += sl->lens[i], i++)
		if (sw_buf_printf(&sl->frame, "%zu ", sl->lens[i]) < 0 ||
		    sw_buf_append(&sl->frame, sl->msg.data + moff, sl->lens[i]) < 0)
			return sink_fail(sl->cur, "frame", ENOMEM);
	if (sl->sfd >= 0 && sl->connected && (sl->transport != TRANSPORT_TLS || sl->handshaken) && stream_gone(sl))
		stream_close(sl);
	if (sl->sfd >= 0)
		return sl->transport == TRANSPORT_TLS && !sl->handshaken ? tls_handshake(sl) : stream_write(sl);
	sl->sfd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (sl->sfd < 0)
		return sink_fail(sl->cur, "socket", errno);
	if (connect(sl->sfd, (const struct sockaddr *)&sl->addr, sl->addrlen) == 0) {
		sl->connected = true;
		return sl->transport == TRANSPORT_TLS ? tls_handshake(sl) : stream_write(sl);
	}
	if (errno == EINPROGRESS)
		return stream_wait(sl, EV_WRITE);
	err = errno;
	stream_close(sl);
	if (sl->transport == TRANSPORT_UNIX)
		sl->unix_stream = false; /* next time, try a datagram first again */
	return sink_fail(sl->cur, "connect", err);
}

static void dgram_again_cb(evutil_socket_t fd, short what, void *arg);

/* One datagram per message: UDP (connected socket) or a unix datagram
 * socket (sendto, falling back to a stream when the socket is not a
 * datagram one).  The receiver's queue full after a digest's first
 * message (a unix socket queues 10 datagrams by default): the rest
 * follow once it has room, within SYSLOG_STREAM_TIMEOUT. */
static int dgram_send(struct syslog *sl)
{
	ssize_t n = 0;

	if (sl->dfd < 0) {
		sl->dfd = socket(sl->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (sl->dfd < 0)
			return sink_fail(sl->cur, "socket", errno);
		if (sl->transport == TRANSPORT_UDP &&
		    connect(sl->dfd, (const struct sockaddr *)&sl->addr, sl->addrlen) < 0) {
			int err = errno;
			close(sl->dfd);
			sl->dfd = -1;
			return sink_fail(sl->cur, "connect", err);
		}
	}
	while (sl->next < sl->nmsg) {
		const char *m = sl->msg.data + sl->moff;
		size_t len = sl->lens[sl->next];

		if (sl->transport == TRANSPORT_UDP)
			n = send(sl->dfd, m, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		else
			n = sendto(sl->dfd, m, len, MSG_NOSIGNAL | MSG_DONTWAIT, (const struct sockaddr *)&sl->addr,
			           sl->addrlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		sl->moff += len;
		sl->next++;
	}
	if (sl->next == sl->nmsg)
		return SINK_OK;
	if (sl->next == 0 && sl->transport == TRANSPORT_UNIX && (errno == EPROTOTYPE || errno == ECONNREFUSED)) {
		sl->unix_stream = true;
		return stream_send(sl);
	}
	if (sl->next > 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && sl->again_left-- > 0) {
		struct timeval tv = {0, SYSLOG_DGRAM_WAIT_MS * 1000};

		if (!sl->again_assigned) {
			evtimer_assign(&sl->again, sl->sink->base, dgram_again_cb, sl);
			sl->again_assigned = true;
		}
		evtimer_add(&sl->again, &tv);
		return SINK_PENDING;
	}
	/* EAGAIN: the receiver's queue is full; the item is retried later. */
	return sink_fail(sl->cur, "send", errno);
}

/* The wait for room in the receiver's datagram queue is over. */
static void dgram_again_cb(evutil_socket_t fd, short what, void *arg)
{
	struct syslog *sl = arg;
	struct sink_attempt *a = sl->cur;
	int r;

	(void)fd;
	(void)what;
	if (a == NULL)
		return;
	r = dgram_send(sl);
	if (r != SINK_PENDING) {
		sl->cur = NULL;
		sink_attempt_done(a, r == SINK_OK);
	}
}

/* Append doc rendered in the sink's form to sl->msg as the next message. */
static int syslog_render(struct syslog *sl, const json_t *doc, const struct sw_render_syslog_opts *ro, int64_t now)
{
	size_t mark = sl->msg.len;
	int r = sw_render_syslog(doc, ro, now, &sl->msg);

	if (r < 0)
		return r;
	sl->lens[sl->nmsg++] = sl->msg.len - mark;
	return 0;
}

/* The messages of a document: one for an alert; for a digest one for it
 * (its fields but the alerts, status "digest", the count and summary
 * saying how many) and one for each of its first SYSLOG_DIGEST_ALERTS. */
static int syslog_render_all(struct syslog *sl, const json_t *doc, const struct sw_render_syslog_opts *ro, int64_t now)
{
	const json_t *alerts, *item;
	json_t *head;
	size_t i;
	int r;

	sl->msg.len = 0;
	sl->nmsg = 0;
	if (!sw_digest_is(doc))
		return syslog_render(sl, doc, ro, now);
	head = json_copy((json_t *)doc);
	if (head == NULL)
		return -ENOMEM;
	json_object_del(head, "alerts");
	json_object_del(head, "more");
	json_object_set_new(head, "status", json_string("digest"));
	r = syslog_render(sl, head, ro, now);
	json_decref(head);
	alerts = json_object_get(doc, "alerts");
	json_array_foreach(alerts, i, item) {
		if (r < 0 || i == SYSLOG_DIGEST_ALERTS)
			break;
		r = syslog_render(sl, item, ro, now);
	}
	return r;
}

/* Render the stored document in the sink's form and send it. */
static int syslog_send(struct sink *s, struct sink_attempt *a)
{
	struct syslog *sl = s->priv;
	struct sw_render_syslog_opts ro = {
		.form = sl->form,
		.facility = s->cfg->facility,
		.hostname = s->hostname,
		.sd_id = s->cfg->sd_id,
		.pid = sl->pid,
	};
	json_t *doc;
	int r;

	doc = sink_doc(a);
	if (doc == NULL)
		return SINK_FAILED;
	r = syslog_render_all(sl, doc, &ro, a->now);
	json_decref(doc);
	if (r < 0) {
		a->permanent = r == -EINVAL;
		return sink_fail(a, "cannot render the alert", -r);
	}
	sl->cur = a;
	sl->next = 0;
	sl->moff = 0;
	sl->again_left = SYSLOG_STREAM_TIMEOUT * 1000 / SYSLOG_DGRAM_WAIT_MS;
	if (sl->transport == TRANSPORT_TCP || sl->transport == TRANSPORT_TLS ||
	    (sl->transport == TRANSPORT_UNIX && sl->unix_stream))
		r = stream_send(sl);
	else
		r = dgram_send(sl);
	if (r != SINK_PENDING)
		sl->cur = NULL;
	return r;
}

/* The sink goes away with a frame in flight: stop waiting for the socket. */
static void syslog_cancel(struct sink *s, struct sink_attempt *a)
{
	struct syslog *sl = s->priv;

	if (sl == NULL || sl->cur != a)
		return;
	if (sl->again_assigned)
		event_del(&sl->again);
	stream_close(sl);
	sl->cur = NULL;
}

/* Split "host:port", "[v6]:port", "host" (default port) for getaddrinfo. */
static int split_host_port(const char *s, char *host, size_t hn, char *port, size_t pn, const char *defport)
{
	const char *colon, *end;

	if (*s == '[') {
		end = strchr(s, ']');
		if (end == NULL || (end[1] != '\0' && end[1] != ':'))
			return -EINVAL;
		colon = end[1] == ':' ? end + 1 : NULL;
		s++;
	} else {
		colon = strchr(s, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL)
			colon = NULL; /* a bare IPv6 address */
		end = colon ? colon : s + strlen(s);
	}
	if (end == s || (size_t)(end - s) >= hn)
		return -EINVAL;
	memcpy(host, s, (size_t)(end - s));
	host[end - s] = '\0';
	snprintf(port, pn, "%s", colon && colon[1] ? colon + 1 : defport);
	return 0;
}

/* The TLS context of a tls:// sink: TLS 1.2 or later, the peer verified
 * against ca_file or the system's CAs.  0, or -EINVAL with why. */
static int tls_setup(struct syslog *sl, const char *ca, char *why, size_t n)
{
	unsigned long e;

	sl->tls_ctx = SSL_CTX_new(TLS_client_method());
	if (sl->tls_ctx == NULL || SSL_CTX_set_min_proto_version(sl->tls_ctx, TLS1_2_VERSION) != 1)
		goto fail;
	SSL_CTX_set_verify(sl->tls_ctx, SSL_VERIFY_PEER, NULL);
	if ((ca != NULL ? SSL_CTX_load_verify_locations(sl->tls_ctx, ca, NULL)
	                : SSL_CTX_set_default_verify_paths(sl->tls_ctx)) != 1)
		goto fail;
	return 0;
fail:
	e = ERR_get_error();
	snprintf(why, n, "cannot set up TLS%s%s: %s", ca ? " with ca_file " : "", ca ? ca : "",
	         e ? ERR_reason_error_string(e) : "out of memory");
	ERR_clear_error();
	SSL_CTX_free(sl->tls_ctx);
	sl->tls_ctx = NULL;
	return -EINVAL;
}

/* unix:PATH: no lookup. */
static int syslog_setup_unix(struct syslog *sl, const char *path, char *why, size_t n)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&sl->addr;
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(sun->sun_path)) {
		snprintf(why, n, "unix socket path empty or too long");
		return -EINVAL;
	}
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, len + 1);
	sl->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	sl->transport = TRANSPORT_UNIX;
	return 0;
}

/* udp://, tcp:// or tls://HOST[:PORT] (514, 601, 6514).  Numeric hosts
 * resolve without a lookup; a name is looked up here, at (re)load, so
 * sending never waits on DNS. */
static int syslog_setup_inet(struct syslog *sl, const char *a, const char *ca, char *why, size_t n)
{
	struct addrinfo hints = {0}, *res = NULL;
	char host[256], port[16];
	int r;

	if (strncmp(a, "udp://", 6) == 0)
		sl->transport = TRANSPORT_UDP;
	else if (strncmp(a, "tcp://", 6) == 0)
		sl->transport = TRANSPORT_TCP;
	else if (strncmp(a, "tls://", 6) == 0)
		sl->transport = TRANSPORT_TLS;
	else {
		snprintf(why, n, "address %s is not unix:PATH, udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT", a);
		return -EINVAL;
	}
	if (split_host_port(a + 6, host, sizeof(host), port, sizeof(port),
	                    sl->transport == TRANSPORT_UDP   ? "514"
	                    : sl->transport == TRANSPORT_TLS ? "6514"
	                                                     : "601") < 0) {
		snprintf(why, n, "address %s: cannot tell host from port", a);
		return -EINVAL;
	}
	hints.ai_socktype = sl->transport == TRANSPORT_UDP ? SOCK_DGRAM : SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	r = getaddrinfo(host, port, &hints, &res);
	if (r == EAI_NONAME) {
		hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
		r = getaddrinfo(host, port, &hints, &res);
	}
	if (r != 0) {
		snprintf(why, n, "address %s: %s", a, gai_strerror(r));
		return -EINVAL;
	}
	memcpy(&sl->addr, res->ai_addr, res->ai_addrlen);
	sl->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	snprintf(sl->host, sizeof(sl->host), "%s", host);
	return sl->transport == TRANSPORT_TLS ? tls_setup(sl, ca, why, n) : 0;
}

/* Parse the address once (unix:/dev/log when none is set) and choose
 * the form: a unix socket is the local syslog daemon (journald, rsyslog's
 * imuxsock), which parses the syslog(3) form and takes RFC 5424's header
 * for text; network receivers get RFC 5424 unless told otherwise. */
static int syslog_setup(struct sink *s, char *why, size_t n)
{
	const char *a = s->cfg->address ? s->cfg->address : "unix:/dev/log";
	struct syslog *sl = calloc(1, sizeof(*sl));
	bool local = strncmp(a, "unix:", 5) == 0;

	if (sl == NULL) {
		snprintf(why, n, "out of memory");
		return -ENOMEM;
	}
	sl->sink = s;
	sl->dfd = -1;
	sl->sfd = -1;
	s->priv = sl;
	sl->pid = (long)getpid();
	switch (s->cfg->format) {
	case SW_SYSLOG_RFC5424:
		sl->form = SW_RENDER_SYSLOG_5424;
		break;
	case SW_SYSLOG_RFC3164:
		sl->form = local ? SW_RENDER_SYSLOG_LOCAL : SW_RENDER_SYSLOG_3164;
		break;
	case SW_SYSLOG_AUTO:
	default:
		sl->form = local ? SW_RENDER_SYSLOG_LOCAL : SW_RENDER_SYSLOG_5424;
		break;
	}
	if (local)
		return syslog_setup_unix(sl, a + 5, why, n);
	return syslog_setup_inet(sl, a, s->cfg->ca_file, why, n);
}

static void syslog_free(struct sink *s)
{
	struct syslog *sl = s->priv;

	if (sl == NULL)
		return;
	stream_close(sl);
	if (sl->again_assigned)
		event_del(&sl->again);
	if (sl->dfd >= 0)
		close(sl->dfd);
	sw_buf_clear(&sl->msg);
	sw_buf_clear(&sl->frame);
	SSL_CTX_free(sl->tls_ctx);
	free(sl);
	s->priv = NULL;
}

const struct sink_ops sink_syslog_ops = {
	.digests = true,
	.type = SW_SINK_SYSLOG,
	.setup = syslog_setup,
	.send = syslog_send,
	.cancel = syslog_cancel,
	.free = syslog_free,
};
