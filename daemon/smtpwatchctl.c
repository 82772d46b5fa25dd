/* smtpwatchctl.c: the command line client of the control socket: builds
 * one request, prints the daemon's answer as a table or as JSON. */
#include <errno.h>
#include <grp.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "proto.h"
#include "util.h"

static const struct ctl_verb verbs[];

/* ---- output helpers ---- */

/* Under --json, stdout always carries one document: the answer, or an
 * error document made in main from the first message ctl_err printed. */
static char first_error[1024];
static bool printed_json;

/* "smtpwatchctl: MESSAGE" on stderr; the first is kept for --json. */
void ctl_err(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "smtpwatchctl: %s\n", msg);
	if (first_error[0] == '\0')
		snprintf(first_error, sizeof(first_error), "%s", msg);
}

/* {"ok":false,"error":"..."} on stdout unless a document went out already. */
static void print_json_error(void)
{
	json_t *doc;

	if (printed_json)
		return;
	doc = json_pack("{s:b,s:s}", "ok", false, "error", first_error[0] ? first_error : "failed");
	if (doc != NULL)
		print_json(doc);
	json_decref(doc);
	fflush(stdout);
}


/* Display width of a UTF-8 string (code points; good enough for names). */
size_t text_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

/* Append one cell; control characters become spaces, NULL or "" is "-". */
void table_cell(struct table *t, const char *s)
{
	char *copy;

	if (s == NULL || s[0] == '\0')
		s = "-";
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		char **cells = realloc(t->cells, cap * sizeof(*cells));
		if (cells == NULL)
			return;
		t->cells = cells;
		t->cap = cap;
	}
	copy = strdup(s);
	if (copy == NULL)
		return;
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	t->cells[t->n++] = copy;
}

/* Append a row of ncols cells. */
void table_row(struct table *t, const char **cells)
{
	for (size_t i = 0; i < t->ncols; i++)
		table_cell(t, cells[i]);
}

/* Print and free the table. */
void table_print(struct table *t, FILE *f)
{
	size_t width[16] = {0};

	for (size_t i = 0; i < t->n; i++) {
		size_t w = text_width(t->cells[i]);
		if (w > width[i % t->ncols])
			width[i % t->ncols] = w;
	}
	for (size_t i = 0; i < t->n; i++) {
		size_t col = i % t->ncols;
		fputs(t->cells[i], f);
		if (col + 1 == t->ncols || i + 1 == t->n)
			fputc('\n', f);
		else
			fprintf(f, "%*s", (int)(width[col] - text_width(t->cells[i]) + 2), "");
		free(t->cells[i]);
	}
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

/* A JSON value as short text for a table: "-" for null or absent. */
const char *value_text(const json_t *v, char *buf, size_t n)
{
	if (v == NULL)
		return "-";
	switch (json_typeof(v)) {
	case JSON_STRING:
		return json_string_length(v) > 0 ? json_string_value(v) : "-";
	case JSON_INTEGER:
		snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return buf;
	case JSON_REAL:
		snprintf(buf, n, "%g", json_real_value(v));
		return buf;
	case JSON_TRUE:
		return "yes";
	case JSON_FALSE:
		return "no";
	case JSON_ARRAY:
		snprintf(buf, n, "%zu item%s", json_array_size(v), json_array_size(v) == 1 ? "" : "s");
		return buf;
	default:
		return "-";
	}
}

/* Key of object as short text (see value_text); v may be NULL. */
const char *key_text(const json_t *obj, const char *key, char *buf, size_t n)
{
	if (obj == NULL)
		return "-";
	return value_text(json_object_get(obj, key), buf, n);
}

/* Integer member, or 0. */
json_int_t key_int(const json_t *obj, const char *key)
{
	return json_integer_value(json_object_get(obj, key));
}

/* "12s", "2m 3s", "3h 4m", "5d 2h". */
void format_uptime(json_int_t s, char *buf, size_t n)
{
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(buf, n, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(buf, n, "%lldm %llds", (long long)(s / 60), (long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, n, "%lldh %lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
	else
		snprintf(buf, n, "%lldd %lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
}

/* ---- talking to the daemon ---- */

/* Milliseconds left until deadline (monotonic), at least 0. */
static int ms_left(const struct timespec *deadline)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (deadline->tv_sec - now.tv_sec) * 1000LL + (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : (int)ms;
}

/* Wait until fd is ready for events or the deadline passes: 0, -ETIMEDOUT. */
static int wait_fd(int fd, short events, const struct timespec *deadline)
{
	struct pollfd p = {.fd = fd, .events = events};
	int r;

	do {
		r = poll(&p, 1, ms_left(deadline));
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return r == 0 ? -ETIMEDOUT : 0;
}

/* The group that may use the socket, for the hint of a failed connect:
 * the socket's own group when it exists, else the default socket_group. */
static const char *socket_group_name(const char *path)
{
	static char name[64];
	struct stat st;
	struct group *g;

	if (stat(path, &st) < 0)
		return "smtpwatch";
	g = getgrgid(st.st_gid);
	if (g != NULL)
		snprintf(name, sizeof(name), "%s", g->gr_name);
	else
		snprintf(name, sizeof(name), "%lu", (unsigned long)st.st_gid);
	return name;
}

/* Connect to the control socket: fd, or -1 with the reason printed. */
static int ctl_connect(const struct ctl *c)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(c->socket) >= sizeof(sun.sun_path)) {
		ctl_err("cannot connect to %s: %s", c->socket, strerror(ENAMETOOLONG));
		return -1;
	}
	memcpy(sun.sun_path, c->socket, strlen(c->socket) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;
		ctl_err("cannot connect to %s: %s: is smtpwatchd running? is your user in group %s (socket_group)?",
		        c->socket, strerror(e), socket_group_name(c->socket));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* send(), and with the request's first bytes the descriptor to pass
 * (SCM_RIGHTS), so it arrives with the line it belongs to. */
static ssize_t ctl_send(const struct ctl *c, int fd, const char *buf, size_t len, bool first)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} cmsg;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cm;

	if (!first || !c->have_pass_fd)
		return send(fd, buf, len, MSG_NOSIGNAL);
	memset(&cmsg, 0, sizeof(cmsg));
	msg.msg_control = cmsg.buf;
	msg.msg_controllen = sizeof(cmsg.buf);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &c->pass_fd, sizeof(int));
	return sendmsg(fd, &msg, MSG_NOSIGNAL);
}

/* Send req (stolen) and return the reply's data (new reference), or NULL
 * with a message printed and the exit code in *ret_exit. */
json_t *ctl_call(const struct ctl *c, json_t *req, int *ret_exit)
{
	struct timespec deadline;
	struct sw_buf in = {0};
	json_t *data = NULL;
	char *line = NULL, *nl = NULL, why[512];
	size_t len, off = 0;
	int fd = -1, r;

	*ret_exit = EXIT_UNREACHABLE;
	line = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (line == NULL) {
		ctl_err("out of memory");
		*ret_exit = EXIT_DAEMON;
		goto out;
	}
	fd = ctl_connect(c);
	if (fd < 0)
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += CTL_TIMEOUT_MS / 1000;

	/* The request; a daemon that refuses us may close early, so a failed
	 * write is not final: its error reply may be waiting. */
	len = strlen(line);
	line[len++] = '\n'; /* replaces the NUL; written with its length */
	while (off < len) {
		ssize_t w;
		if (wait_fd(fd, POLLOUT, &deadline) < 0)
			break;
		w = ctl_send(c, fd, line + off, len - off, off == 0);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	/* The reply: one line, capped, within the timeout. */
	while (nl == NULL) {
		char chunk[65536];
		ssize_t got;
		r = wait_fd(fd, POLLIN, &deadline);
		if (r < 0) {
			ctl_err("no answer from %s within %ds", c->socket, CTL_TIMEOUT_MS / 1000);
			goto out;
		}
		got = recv(fd, chunk, sizeof(chunk), 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			ctl_err("cannot read from %s: %s", c->socket, strerror(errno));
			goto out;
		}
		if (got == 0) {
			if (in.len > 0)
				ctl_err("the answer from %s was cut short after %zu bytes: the daemon closed the connection "
				        "(its log says why)", c->socket, in.len);
			else
				ctl_err("%s closed the connection without answering", c->socket);
			goto out;
		}
		if (in.len + (size_t)got > CTL_MAX_REPLY) {
			ctl_err("the answer from %s is larger than %d MiB", c->socket,
			        CTL_MAX_REPLY >> 20);
			*ret_exit = EXIT_DAEMON;
			goto out;
		}
		if (sw_buf_append(&in, chunk, (size_t)got) < 0) {
			ctl_err("out of memory");
			*ret_exit = EXIT_DAEMON;
			goto out;
		}
		nl = memchr(in.data + in.len - got, '\n', (size_t)got);
	}
	*ret_exit = EXIT_DAEMON;
	r = sw_proto_reply_parse(in.data, (size_t)(nl - in.data) + 1, &data, why, sizeof(why));
	if (r < 0) {
		/* The daemon's error quotes what it was given (an id, a rule). */
		char *safe = sw_escape_dup(why, 0);

		if (r == -EPROTO)
			ctl_err("%s", safe ? safe : "error");
		else
			ctl_err("malformed answer from %s: %s", c->socket, safe ? safe : "?");
		free(safe);
		data = NULL;
	} else {
		*ret_exit = EXIT_OK;
	}
out:
	if (fd >= 0)
		close(fd);
	free(line);
	sw_buf_clear(&in);
	return data;
}

/* Print data as one JSON document, indented.  jansson escapes the C0
 * controls; C1 controls and bidi overrides would reach the terminal raw,
 * so they go out as \u escapes too (the same string to a JSON reader). */
void print_json(const json_t *data)
{
	char *s = json_dumps(data, JSON_INDENT(2) | JSON_ENCODE_ANY);
	struct sw_buf b = {0};

	printed_json = true;

	if (s != NULL && sw_escape_text(&b, s, strlen(s), SW_ESC_JSON | SW_ESC_MULTILINE) >= 0)
		fputs(b.data, stdout);
	fputc('\n', stdout);
	sw_buf_clear(&b);
	free(s);
}

/* v (and what it holds) made fit for a terminal: every string and object
 * key with a control byte, a C1 control or a bidi override escaped
 * (sw_escape_text); a multiline string (a CSV, the metrics) keeps its new
 * lines. */
static void ctl_sanitize(json_t *v, bool multiline)
{
	unsigned flags = multiline ? SW_ESC_MULTILINE : 0;
	json_t *item, *bad = NULL;
	const char *key;
	size_t i;

	if (json_is_string(v)) {
		if (sw_text_needs_escape(json_string_value(v), json_string_length(v), flags)) {
			struct sw_buf b = {0};
			if (sw_escape_text(&b, json_string_value(v), json_string_length(v), flags) >= 0)
				json_string_set(v, b.data);
			else
				json_string_set(v, "?");
			sw_buf_clear(&b);
		}
		return;
	}
	json_array_foreach(v, i, item)
		ctl_sanitize(item, false);
	json_object_foreach(v, key, item) {
		ctl_sanitize(item, false);
		if (sw_text_needs_escape(key, strlen(key), 0) && (bad != NULL || (bad = json_array()) != NULL))
			json_array_append_new(bad, json_string(key));
	}
	/* Keys are renamed after the walk, never during it. */
	json_array_foreach(bad, i, item) {
		const char *orig = json_string_value(item);
		char *k = orig ? sw_escape_dup(orig, 0) : NULL;
		json_t *val = json_incref(json_object_get(v, orig ? orig : ""));

		json_object_del(v, orig ? orig : "");
		if (k != NULL && val != NULL)
			json_object_set(v, k, val);
		json_decref(val);
		free(k);
	}
	json_decref(bad);
}

/* Ask the daemon; print with human() or as JSON; the exit code.  What the
 * printers see is sanitised first: names, notes and Microsoft's text reach
 * the terminal without an escape sequence or a line of their own. */
int ctl_run(const struct ctl *c, json_t *req, void (*human)(const json_t *data))
{
	int ex;
	json_t *data = ctl_call(c, req, &ex);

	if (data == NULL)
		return ex;
	if (c->json || human == NULL) {
		print_json(data);
	} else {
		/* A top-level "text" is a block of lines (report --format csv, metrics). */
		json_t *text = json_incref(json_object_get(data, "text"));

		if (json_is_string(text))
			json_object_del(data, "text");
		ctl_sanitize(data, false);
		if (json_is_string(text)) {
			ctl_sanitize(text, true);
			json_object_set(data, "text", text);
		}
		json_decref(text);
		human(data);
	}
	json_decref(data);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ctl_err("cannot write the output: %s", strerror(errno));
		return EXIT_DAEMON;
	}
	return EXIT_OK;
}

/* ---- usage and arguments ---- */

/* The whole usage text. */
static void usage(FILE *f)
{
	fprintf(f, "usage: smtpwatchctl [-s SOCKET | -i INSTANCE] [--json] COMMAND [ARGS]\n"
	           "       smtpwatchctl --version\n\n"
	           "commands:\n");
	for (const struct ctl_verb *v = verbs; v->name != NULL; v++)
		fprintf(f, "  %s%s%s\n", v->name, v->args[0] ? " " : "", v->args);
	fprintf(f, "\noptions:\n"
	           "  -s SOCKET  control socket (default $SMTPWATCH_SOCKET or %s)\n"
	           "  -i NAME    the socket of instance NAME of smtpwatchd@NAME.service,\n"
	           "             /run/smtpwatch-NAME/control.sock\n"
	           "  --json     print the answer as one JSON document\n"
	           "  -h, --help this text\n"
	           "  -V, --version\n"
	           "             print the version\n"
	           "\nexit status: 0 ok, 1 the daemon answered with an error, 2 usage, 3 daemon not reachable\n",
	           CTL_DEFAULT_SOCKET);
}

/* A usage error of one command: message, its synopsis, EXIT_USAGE. */
int verb_usage(const struct ctl_verb *v, const char *fmt, ...)
{
	va_list ap;
	char msg[768];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctl_err("%s: %s", v->name, msg);
	fprintf(stderr, "usage: smtpwatchctl %s%s%s\n", v->name, v->args[0] ? " " : "", v->args);
	return EXIT_USAGE;
}


/* Parse a command's arguments: options anywhere (also "--name=value"),
 * "--json", "-h"; positionals into pos (between min and max).  -1 and a
 * printed usage error, 1 for help (printed), 0 ok. */
int parse_args(struct ctl *c, const struct ctl_verb *v, int argc, char **argv, const struct opt *opts,
                      const char **pos, int min, int max, int *ret_npos)
{
	int npos = 0;
	bool dashdash = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!dashdash && a[0] == '-' && a[1] != '\0') {
			const struct opt *o;
			size_t nl = strcspn(a, "=");
			if (strcmp(a, "--") == 0) {
				dashdash = true;
				continue;
			}
			if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
				printf("usage: smtpwatchctl %s%s%s\n", v->name, v->args[0] ? " " : "", v->args);
				return 1;
			}
			if (strcmp(a, "--json") == 0) {
				c->json = true;
				continue;
			}
			for (o = opts; o != NULL && o->name != NULL; o++)
				if (strlen(o->name) == nl && strncmp(o->name, a, nl) == 0)
					break;
			if (o == NULL || o->name == NULL) {
				verb_usage(v, "unknown option %s", a);
				return -1;
			}
			if (o->flag != NULL) {
				if (a[nl] == '=') {
					verb_usage(v, "%s takes no value", o->name);
					return -1;
				}
				*o->flag = true;
			} else if (a[nl] == '=') {
				*o->val = a + nl + 1;
			} else if (i + 1 < argc) {
				*o->val = argv[++i];
			} else {
				verb_usage(v, "%s needs a value", o->name);
				return -1;
			}
			continue;
		}
		if (npos == max) {
			verb_usage(v, "unexpected argument \"%s\"", a);
			return -1;
		}
		pos[npos++] = a;
	}
	if (npos < min) {
		verb_usage(v, "missing argument");
		return -1;
	}
	if (ret_npos != NULL)
		*ret_npos = npos;
	return 0;
}

/* Check a duration argument: 0, or EXIT_USAGE printed. */
int check_duration(const struct ctl_verb *v, const char *opt, const char *s)
{
	int64_t secs;

	if (s == NULL)
		return 0;
	if (sw_duration_parse(s, &secs) < 0 || secs <= 0)
		return verb_usage(v, "%s: invalid duration \"%s\" (use 30s, 5m, 2h, 7d)", opt, s);
	return 0;
}


/* ---- status ---- */

/* "3 alerts firing (1 critical, 2 high)". */
static void format_alert_counts(const json_t *alerts, char *buf, size_t n)
{
	static const char *sev[] = {"critical", "high", "medium", "low", "info"};
	json_int_t firing = key_int(alerts, "firing");
	size_t off;
	bool first = true;

	if (firing == 0) {
		snprintf(buf, n, "no alerts firing");
		return;
	}
	off = (size_t)snprintf(buf, n, "%" JSON_INTEGER_FORMAT " alert%s firing", firing, firing == 1 ? "" : "s");
	for (size_t i = 0; i < sizeof(sev) / sizeof(sev[0]) && off < n; i++) {
		json_int_t k = key_int(alerts, sev[i]);
		if (k <= 0)
			continue;
		off += (size_t)snprintf(buf + off, n - off, "%s%" JSON_INTEGER_FORMAT " %s", first ? " (" : ", ", k,
		                        sev[i]);
		first = false;
	}
	if (!first && off < n)
		snprintf(buf + off, n - off, ")");
}

/* status as text: a summary line, a sources table, a sinks table. */
static void print_status(const json_t *data)
{
	const json_t *tenants = json_object_get(data, "tenants");
	const json_t *sinks = json_object_get(data, "sinks");
	const char *version = json_string_value(json_object_get(data, "version"));
	const json_t *tenant, *src, *sink;
	const char *tname, *sname;
	char up[32], counts[160];
	struct table t = {.ncols = 8};

	format_uptime(key_int(data, "uptime_s"), up, sizeof(up));
	format_alert_counts(json_object_get(data, "alerts"), counts, sizeof(counts));
	printf("smtpwatchd %s, up %s, %s", version ? version : "?", up, counts);
	const json_t *loop = json_object_get(data, "loop");
	if (json_is_object(loop)) {
		const json_t *step = json_object_get(loop, "stall_max_step");
		const char *what = json_string_value(json_object_get(step, "what"));
		const char *of = json_string_value(json_object_get(step, "tenant"));
		printf(", longest loop stall %lld ms", (long long)key_int(loop, "stall_max_ms"));
		/* Named when a measured step took at least half of it. */
		if (what != NULL && 2 * key_int(step, "ms") >= key_int(loop, "stall_max_ms"))
			printf(" (%s%s%s)", what, of ? " of " : "", of ? of : "");
	}
	const json_t *load = json_object_get(data, "config_load");
	if (json_is_object(load) && key_int(load, "tenant_files") > 0)
		printf(", tenant files: parsed %lld of %lld at the %s", (long long)key_int(load, "tenant_files_parsed"),
		       (long long)key_int(load, "tenant_files"), key_int(load, "reloads") > 0 ? "last reload" : "start");
	printf("\n");

	if (json_object_size(tenants) == 0) {
		printf("no tenants configured\n");
	} else {
		table_row(&t, (const char *[]){"TENANT", "SOURCE", "STATE", "LAST SUCCESS", "NEXT RUN", "WATERMARK",
		                               "RECORDS", "LAST ERROR"});
		json_object_foreach((json_t *)tenants, tname, tenant) {
			const json_t *sources = json_object_get(tenant, "sources");
			if (json_object_size(sources) == 0) {
				table_row(&t, (const char *[]){tname, "-", "-", "-", "-", "-", "-", "-"});
				continue;
			}
			json_object_foreach((json_t *)sources, sname, src) {
				char b[6][64];
				key_text(src, "records", b[4], 64);
				/* Records that could not be read belong beside those stored. */
				if (key_int(src, "skipped") > 0) {
					size_t l = strlen(b[4]);
					snprintf(b[4] + l, 64 - l, " (%lld skipped)", (long long)key_int(src, "skipped"));
				}
				table_row(&t, (const char *[]){tname, sname, key_text(src, "state", b[0], 64),
				                               key_text(src, "last_success", b[1], 64),
				                               key_text(src, "next_run", b[2], 64),
				                               key_text(src, "watermark", b[3], 64), b[4],
				                               key_text(src, "last_error", b[5], 64)});
			}
		}
		table_print(&t, stdout);
		/* The audit source's coverage: what it can no longer read. */
		json_object_foreach((json_t *)tenants, tname, tenant) {
			const json_t *au = json_object_get(json_object_get(tenant, "sources"), "audit");
			const char *cov = json_string_value(json_object_get(au, "coverage"));
			const char *sub = json_string_value(json_object_get(json_object_get(au, "subscription"), "status"));
			char *tn = sw_escape_dup(tname, 0);
			if (cov != NULL) {
				char *safe = sw_escape_dup(cov, 0);
				printf("%s audit: %s\n", tn ? tn : "?", safe ? safe : "?");
				free(safe);
			}
			if (key_int(au, "blobs_lost") > 0)
				printf("%s audit: %lld content blob%s lost since the start (their records are unread; "
				       "status --json lists them under gaps)\n", tn ? tn : "?", (long long)key_int(au, "blobs_lost"),
				       key_int(au, "blobs_lost") == 1 ? "" : "s");
			if (sub != NULL && strcmp(sub, "enabled") != 0)
				printf("%s audit: the Audit.Exchange subscription is %s\n", tn ? tn : "?", sub);
			free(tn);
		}
		/* What a source cannot read, and why, in a line each. */
		json_object_foreach((json_t *)tenants, tname, tenant) {
			json_object_foreach(json_object_get(tenant, "can_read"), sname, src) {
				const char *why = json_string_value(json_object_get(src, "why"));
				if (why == NULL)
					continue;
				/* Microsoft's text may carry anything: no escape
				 * sequence reaches the terminal. */
				char *safe = sw_escape_dup(why, 0), *tn = sw_escape_dup(tname, 0);
				printf("%s %s: %s: %s\n", tn ? tn : "?", sname, json_is_true(json_object_get(src, "ok")) ?
				       "reads" : "cannot read", safe ? safe : "?");
				free(safe);
				free(tn);
			}
		}
	}

	/* Remediation, where it is on: a line a tenant. */
	json_object_foreach((json_t *)tenants, tname, tenant) {
		const json_t *rem = json_object_get(tenant, "remediation");
		const json_t *last = json_object_get(rem, "last");
		if (!json_is_object(rem))
			continue;
		char *tn = sw_escape_dup(tname, 0);
		char *cr = sw_escape_dup(json_string_value(json_object_get(rem, "credentials")) ?: "?", 0);
		printf("%s remediation: %s with %s; last 24h: %lld done, %lld failed", tn ? tn : "?",
		       json_string_value(json_object_get(rem, "mode")) ?: "?", cr ? cr : "?",
		       (long long)key_int(rem, "done_24h"), (long long)key_int(rem, "failed_24h"));
		if (key_int(rem, "pending") > 0)
			printf(", %lld pending", (long long)key_int(rem, "pending"));
		if (json_array_size(json_object_get(rem, "rules")) > 0)
			printf("; auto %lld of %lld this hour", (long long)key_int(rem, "auto_last_hour"),
			       (long long)key_int(rem, "max_per_hour"));
		if (json_is_object(last)) {
			char *cmd = sw_escape_dup(json_string_value(json_object_get(last, "command")) ?: "?", 0);
			printf("; newest: %s %s (%s)", json_string_value(json_object_get(last, "outcome")) ?: "?",
			       cmd ? cmd : "?", json_string_value(json_object_get(last, "requested_at")) ?: "?");
			free(cmd);
		}
		printf("\n");
		if (json_is_true(json_object_get(rem, "refused"))) {
			char *why = sw_escape_dup(json_string_value(json_object_get(rem, "why")) ?: "refused", 0);
			printf("%s remediation: writes refused: %s\n", tn ? tn : "?", why ? why : "?");
			free(why);
		}
		free(cr);
		free(tn);
	}

	/* The low-noise view of failed SMTP AUTH against unregistered mailboxes. */
	t = (struct table){.ncols = 6};
	json_object_foreach((json_t *)tenants, tname, tenant) {
		const json_t *top = json_object_get(tenant, "top_failures");
		size_t i;
		json_t *row;
		if (json_array_size(top) == 0)
			continue;
		if (t.n == 0)
			table_row(&t, (const char *[]){"TENANT", "FAILED SMTP AUTH FROM (24h)", "COUNTRY", "FAILURES",
			                               "FIRST", "LAST"});
		json_array_foreach(top, i, row) {
			char b[5][64];
			table_row(&t, (const char *[]){tname, key_text(row, "ip", b[0], 64), key_text(row, "country", b[1], 64),
			                               key_text(row, "failures", b[2], 64),
			                               key_text(row, "first_seen", b[3], 64),
			                               key_text(row, "last_seen", b[4], 64)});
		}
	}
	if (t.n > 0)
		table_print(&t, stdout);

	if (json_object_size(sinks) == 0) {
		printf("no sinks configured\n");
		return;
	}
	t = (struct table){.ncols = 8};
	table_row(&t, (const char *[]){"SINK", "TYPE", "QUEUED", "DELIVERED", "FAILED", "DEAD", "LAST SUCCESS",
	                               "LAST ERROR"});
	json_object_foreach((json_t *)sinks, sname, sink) {
		char b[7][64];
		table_row(&t, (const char *[]){sname, key_text(sink, "type", b[0], 64), key_text(sink, "queued", b[1], 64),
		                               key_text(sink, "delivered", b[2], 64), key_text(sink, "failed", b[3], 64),
		                               key_text(sink, "dead", b[4], 64), key_text(sink, "last_success", b[5], 64),
		                               key_text(sink, "last_error", b[6], 64)});
	}
	table_print(&t, stdout);
}

/* status */
static int do_status(struct ctl *c, const struct ctl_verb *v, int argc, char **argv)
{
	PARSE_OR_RETURN(c, v, argc, argv, NULL, NULL, 0, 0, NULL);
	return ctl_run(c, json_pack("{s:s}", "cmd", "status"), print_status);
}

/* ---- alerts ---- */

/* An alert's status, with "(acked)" when acknowledged. */
static const char *alert_status_text(const json_t *a, char *buf, size_t n)
{
	const char *st = json_string_value(json_object_get(a, "status"));

	snprintf(buf, n, "%s%s", st ? st : "-", json_is_true(json_object_get(a, "acked")) ? " (acked)" : "");
	return buf;
}

/* alerts as text: a table and a summary line. */
static void print_alerts(const json_t *data)
{
	const json_t *alerts = json_object_get(data, "alerts");
	const json_t *a;
	struct table t = {.ncols = 8};
	size_t i, firing = 0, acked = 0;

	if (json_array_size(alerts) == 0) {
		printf("no alerts\n");
		return;
	}
	table_row(&t, (const char *[]){"ID", "SEVERITY", "RULE", "TENANT", "SUBJECT", "COUNT", "LAST SEEN", "STATUS"});
	json_array_foreach(alerts, i, a) {
		char b[8][64], st[64];
		const char *subject = json_string_value(json_object_get(a, "subject"));
		table_row(&t, (const char *[]){key_text(a, "id", b[0], 64), key_text(a, "severity", b[1], 64),
		                               key_text(a, "rule", b[2], 64), key_text(a, "tenant", b[3], 64),
		                               subject, key_text(a, "count", b[5], 64),
		                               key_text(a, "last_seen", b[6], 64), alert_status_text(a, st, 64)});
		if (strcmp(json_string_value(json_object_get(a, "status")) ?: "", "firing") == 0)
			firing++;
		if (json_is_true(json_object_get(a, "acked")))
			acked++;
	}
	table_print(&t, stdout);
	json_array_foreach(alerts, i, a) {
		const json_t *cb = json_object_get(a, "changed_by");
		char line[768], b[64];
		if (!json_is_object(cb))
			continue;
		changed_by_text(cb, line, sizeof(line));
		printf("%s %s: %s\n", key_text(a, "id", b, sizeof(b)), json_string_value(json_object_get(a, "subject")),
		       line);
	}
	printf("%zu alert%s, %zu firing", json_array_size(alerts), json_array_size(alerts) == 1 ? "" : "s", firing);
	if (json_array_size(alerts) > firing)
		printf(", %zu resolved", json_array_size(alerts) - firing);
	if (acked > 0)
		printf(", %zu acknowledged", acked);
	printf("\n");
	if (json_is_true(json_object_get(data, "more")))
		printf("more: --after %s\n", json_string_value(json_object_get(data, "next")) ?: "?");
}

/* alerts [--all] [--since DUR] [--limit N] [--after ID] */
static int do_alerts(struct ctl *c, const struct ctl_verb *v, int argc, char **argv)
{
	bool all = false;
	const char *since = NULL, *limit = NULL, *after = NULL;
	const struct opt opts[] = {{"--all", &all, NULL},
	                           {"--since", NULL, &since},
	                           {"--limit", NULL, &limit},
	                           {"--after", NULL, &after},
	                           {NULL, NULL, NULL}};
	long long lim = 0;
	json_t *req;

	PARSE_OR_RETURN(c, v, argc, argv, opts, NULL, 0, 0, NULL);
	if (check_duration(v, "--since", since) != 0)
		return EXIT_USAGE;
	if (limit != NULL) {
		char *end;

		errno = 0;
		lim = strtoll(limit, &end, 10);
		if (errno != 0 || end == limit || *end != '\0' || lim < 1 || lim > 10000)
			return verb_usage(v, "--limit: \"%s\" is not a number from 1 to 10000", limit);
	}
	req = json_pack("{s:s,s:b}", "cmd", "alerts", "all", all);
	if (req != NULL && since != NULL)
		json_object_set_new(req, "since", json_string(since));
	if (req != NULL && limit != NULL)
		json_object_set_new(req, "limit", json_integer(lim));
	if (req != NULL && after != NULL)
		json_object_set_new(req, "after", json_string(after));
	return ctl_run(c, req, print_alerts);
}

/* Evidence value as one line: arrays joined, long ones shortened. */
static void evidence_text(const json_t *v, char *buf, size_t n)
{
	size_t i, off = 0;
	const json_t *e;
	char tmp[64];

	if (!json_is_array(v)) {
		if (json_is_object(v)) {
			char *s = json_dumps(v, JSON_COMPACT);
			snprintf(buf, n, "%s", s ? s : "-");
			free(s);
			return;
		}
		snprintf(buf, n, "%s", value_text(v, tmp, sizeof(tmp)));
		return;
	}
	buf[0] = '\0';
	json_array_foreach(v, i, e) {
		if (i == 10) {
			snprintf(buf + off, n - off, " ... (%zu more)", json_array_size(v) - i);
			return;
		}
		int w = snprintf(buf + off, n - off, "%s%s", i ? ", " : "", value_text(e, tmp, sizeof(tmp)));
		if (w < 0 || (size_t)w >= n - off)
			return;
		off += (size_t)w;
	}
	if (off == 0)
		snprintf(buf, n, "-");
}

/* One alert as "key: value" lines. */
static void print_alert(const json_t *a)
{
	static const struct {
		const char *key, *label;
	} fields[] = {
		{"id", "ID"},
		{"rule", "Rule"},
		{"severity", "Severity"},
		{"tenant", "Tenant"},
		{"subject", "Subject"},
		{"status", "Status"},
		{"first_seen", "First seen"},
		{"last_seen", "Last seen"},
		{"resolved_at", "Resolved"},
		{"count", "Count"},
		{"acked", "Acknowledged"},
		{"summary", "Summary"},
		{"remediation", "Remediation"},
	};
	const json_t *evidence = json_object_get(a, "evidence");
	const json_t *ev;
	const char *k;
	char b[64], line[1024];
	struct table t = {.ncols = 2};

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const json_t *v = json_object_get(a, fields[i].key);
		if (v == NULL && strcmp(fields[i].key, "resolved_at") == 0)
			continue;
		snprintf(line, sizeof(line), "%s:", fields[i].label);
		table_row(&t, (const char *[]){line, value_text(v, b, sizeof(b))});
	}
	if (json_is_object(json_object_get(a, "changed_by"))) {
		changed_by_text(json_object_get(a, "changed_by"), line, sizeof(line));
		table_row(&t, (const char *[]){"Changed by:", line});
	}
	json_object_foreach((json_t *)evidence, k, ev) {
		char label[128];
		snprintf(label, sizeof(label), "Evidence %s:", k);
		evidence_text(ev, line, sizeof(line));
		table_row(&t, (const char *[]){label, line});
	}
	table_print(&t, stdout);
}

/* alert ID */
static int do_alert(struct ctl *c, const struct ctl_verb *v, int argc, char **argv)
{
	const char *pos[1];

	PARSE_OR_RETURN(c, v, argc, argv, NULL, pos, 1, 1, NULL);
	return ctl_run(c, json_pack("{s:s,s:s}", "cmd", "alert", "id", pos[0]), print_alert);
}

/* ---- the rest ---- */

/* A reply whose shape this client does not know yet: its message, its
 * text, or the JSON. */
void print_generic(const json_t *data)
{
	const char *msg = json_string_value(json_object_get(data, "message"));
	const char *text = json_string_value(json_object_get(data, "text"));

	if (msg != NULL)
		printf("%s\n", msg);
	else if (text != NULL)
		fputs(text, stdout);
	else if (json_is_object(data) && json_object_size(data) == 0)
		printf("ok\n");
	else
		print_json(data);
}

/* poll as text. */
static void print_poll(const json_t *data)
{
	const json_t *names = json_object_get(data, "polling");
	const json_t *e;
	size_t i;

	if (json_array_size(names) == 0) {
		printf("nothing to poll: no tenants configured\n");
		return;
	}
	printf("polling");
	json_array_foreach(names, i, e)
		printf("%s %s", i ? "," : "", json_string_value(e) ?: "?");
	printf("\n");
}

/* poll [TENANT] */
static int do_poll(struct ctl *c, const struct ctl_verb *v, int argc, char **argv)
{
	const char *pos[1] = {NULL};
	json_t *req;

	PARSE_OR_RETURN(c, v, argc, argv, NULL, pos, 0, 1, NULL);
	req = json_pack("{s:s}", "cmd", "poll");
	if (req != NULL && pos[0] != NULL)
		json_object_set_new(req, "tenant", json_string(pos[0]));
	return ctl_run(c, req, print_poll);
}

/* reload as text. */
static void print_reload(const json_t *data)
{
	printf("configuration reloaded\n");
}

/* reload */
static int do_reload(struct ctl *c, const struct ctl_verb *v, int argc, char **argv)
{
	PARSE_OR_RETURN(c, v, argc, argv, NULL, NULL, 0, 0, NULL);
	return ctl_run(c, json_pack("{s:s}", "cmd", "reload"), print_reload);
}






/* metrics: Prometheus text. */
static int do_metrics(struct ctl *c, const struct ctl_verb *v, int argc, char **argv)
{
	PARSE_OR_RETURN(c, v, argc, argv, NULL, NULL, 0, 0, NULL);
	return ctl_run(c, json_pack("{s:s}", "cmd", "metrics"), print_generic);
}


/* help */
static int do_help(struct ctl *c, const struct ctl_verb *v, int argc, char **argv)
{
	usage(stdout);
	return EXIT_OK;
}

static const struct ctl_verb verbs[] = {
	{"status", do_status, ""},
	{"alerts", do_alerts, "[--all] [--since DUR] [--limit N] [--after ID]"},
	{"alert", do_alert, "ID"},
	{"ack", do_ack, "ID [--note TEXT]"},
	{"silence", do_silence, "[RULE SUBJECT --for DUR [--note TEXT] [--all]]"},
	{"unsilence", do_unsilence, "RULE SUBJECT"},
	{"exceptions", do_exceptions, "[--tenant NAME]"},
	{"mailbox", do_mailbox, "ADDRESS"},
	{"changes", do_changes, "[--tenant NAME] [--since DUR]"},
	{"poll", do_poll, "[TENANT]"},
	{"import-report", do_import_report, "TENANT FILE.csv"},
	{"reload", do_reload, ""},
	{"metrics", do_metrics, ""},
	{"report", do_report, "[--format csv|json|html] [--tenant NAME] [--since DUR] [--bom]"},
	{"remediate", do_remediate, "ALERT-ID [--dry-run] [--tenant-switch]"},
	{"remediation", do_remediation, "[ACTION-ID] [--tenant NAME] [--alert ID]"},
	{"plan", do_plan, "[TENANT]"},
	{"help", do_help, ""},
	{NULL, NULL, NULL},
};

/* -i NAME: the control socket of smtpwatchd@NAME.service (CTL_INSTANCE_FMT);
 * NAME is one path component, as systemd's %i of an instance is. */
static int instance_socket(struct ctl *c, const char *name)
{
	static char path[108];
	int n;

	if (name == NULL || name[0] == '\0' || name[0] == '.' || strchr(name, '/') != NULL) {
		ctl_err("-i needs an instance name (one path component, as in smtpwatchd@NAME.service)");
		return EXIT_USAGE;
	}
	n = snprintf(path, sizeof(path), CTL_INSTANCE_FMT, name);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		ctl_err("instance name \"%s\" is too long for a socket path", name);
		return EXIT_USAGE;
	}
	c->socket = path;
	return EXIT_OK;
}

/* Global options, then the command. */
static int run(struct ctl *c, int argc, char **argv)
{
	const char *env = getenv("SMTPWATCH_SOCKET");
	int i;

	if (env != NULL && env[0] != '\0')
		c->socket = env;
	signal(SIGPIPE, SIG_IGN);
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return EXIT_OK;
		} else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
			printf("smtpwatchctl %s\n", SW_VERSION);
			return EXIT_OK;
		} else if (strcmp(a, "--json") == 0) {
			c->json = true;
		} else if (strcmp(a, "-s") == 0 || strcmp(a, "--socket") == 0) {
			if (++i == argc || argv[i][0] == '\0') {
				ctl_err("%s needs a socket path", a);
				return EXIT_USAGE;
			}
			c->socket = argv[i];
		} else if (strncmp(a, "-s", 2) == 0) {
			c->socket = a + 2;
		} else if (strncmp(a, "--socket=", 9) == 0 && a[9] != '\0') {
			c->socket = a + 9;
		} else if (strcmp(a, "-i") == 0 || strcmp(a, "--instance") == 0) {
			if (++i == argc || instance_socket(c, argv[i]) != EXIT_OK) {
				if (i == argc)
					ctl_err("%s needs an instance name", a);
				return EXIT_USAGE;
			}
		} else if (strncmp(a, "-i", 2) == 0 || strncmp(a, "--instance=", 11) == 0) {
			if (instance_socket(c, a[1] == 'i' ? a + 2 : a + 11) != EXIT_OK)
				return EXIT_USAGE;
		} else if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else {
			ctl_err("unknown option %s", a);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (i == argc) {
		ctl_err("no command given");
		usage(stderr);
		return EXIT_USAGE;
	}
	for (const struct ctl_verb *v = verbs; v->name != NULL; v++)
		if (strcmp(v->name, argv[i]) == 0)
			return v->fn(c, v, argc - i, argv + i);
	ctl_err("unknown command \"%s\" (see smtpwatchctl help)", argv[i]);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	struct ctl c = {.socket = CTL_DEFAULT_SOCKET};
	int rc;

	/* --json anywhere before "--", even after an argument that turns out
	 * to be wrong: a script that asked for JSON gets JSON for every error. */
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--json") == 0)
			c.json = true;
	rc = run(&c, argc, argv);
	if (c.json && rc != EXIT_OK)
		print_json_error();
	return rc;
}
