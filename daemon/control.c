/* control.c: the UNIX control socket: JSON lines in, one reply line out per
 * request, for smtpwatchctl and scripts (SPEC "Control socket"). */
#include <stddef.h> /* control.h uses size_t */

#include "control.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/listener.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "lifecycle.h"
#include "proto.h"
#include "smtpwatchd.h"

/* Bounds on what one client, or many, can make the daemon hold
 * (smtpwatchd(8) "CONTROL SOCKET").  An idle client is dropped after
 * CONTROL_IDLE_S without a request or a write (a request takes
 * milliseconds), and one that has not finished its request line
 * CONTROL_REQUEST_S after its first byte. */
#define CONTROL_IDLE_S 60
#define CONTROL_REQUEST_S 30
/* No more requests are read from a client while more reply bytes than
 * this wait for it to read: pipelining cannot grow memory. */
#define CONTROL_MAX_OUTPUT (1024 * 1024)
/* A reply built in steps goes out in pieces of at least this once it has
 * them, and its steps wait while CONTROL_MAX_OUTPUT of it is unread: a
 * report of 10,000 tenants was one buffer of 150 MB until its end. */
#define CONTROL_REPLY_PIECE (64 * 1024)
/* Connections at once from one unprivileged uid, and from all of them;
 * root and the daemon's own user have a count of their own, so nobody
 * else can lock them out. */
#define CONTROL_MAX_PER_UID 16
#define CONTROL_MAX_CLIENTS 64
#define CONTROL_BACKLOG 16
/* How long a closing client may keep sending before we hang up. */
#define CONTROL_LINGER_S 2
/* Bytes read from a client at a time. */
#define CONTROL_READ_CHUNK 16384
/* The send buffer a client's socket asks for (the kernel caps it). */
#define CONTROL_SNDBUF (1 << 20)
/* Descriptors one recvmsg may bring (SCM_RIGHTS); one is ever used, the
 * rest are closed.  More than this are discarded by the kernel. */
#define CONTROL_MAX_FDS 8
/* How long a reply built later (struct control_job) may hold the loop a
 * turn: the steps run until this is spent, then yield (the stall target
 * is 100 ms; a step, one tenant's report, may run past it). */
#define CONTROL_SLICE_US 20000

/* A client.  Reading is done with recvmsg() instead of a bufferevent,
 * which would drop the descriptor smtpwatchctl import-report passes. */
struct control_client {
	struct control *control;
	int fd;
	struct event rev;      /* readable, while reading (rev_added) */
	struct event wev;      /* writable, while out holds data (wev_added) */
	struct event timer;    /* the next deadline (idle, linger) */
	struct event jobev;    /* the next slice of job, at the lowest priority */
	struct control_job *job; /* a reply being built, or NULL */
	int64_t job_start_us;  /* daemon_mono_us() when it began */
	unsigned job_slices;   /* loop turns it took so far */
	size_t job_sent;       /* bytes of its reply handed to out: a failure now cuts the line */
	bool rev_added, wev_added;
	struct evbuffer *in, *out;
	uint64_t in_offset;    /* stream offset of in's first byte */
	int passed_fd;         /* a descriptor that came with a request, or -1 */
	uint64_t passed_at;    /* stream offset of a byte of its request line */
	int64_t active_ms;     /* daemon_mono_ms() of the last request or write */
	int64_t line_ms;       /* when the unfinished request began, or 0 */
	int64_t linger_ms;     /* when lingering began */
	uid_t uid;
	gid_t gid;
	pid_t pid;
	gid_t *groups; /* SO_PEERGROUPS of the connecting process */
	size_t n_groups;
	bool closing;   /* no more requests; linger once the output has drained */
	bool lingering; /* our side is shut down; discarding input until EOF */
	bool eof;       /* the client shut down its side */
	LIST_ENTRY(control_client) entry;
};

struct control {
	struct daemon *daemon;
	char *path;
	dev_t dev; /* of the socket we bound: unlink only that one */
	ino_t ino;
	gid_t gid; /* the socket's group */
	bool have_group; /* gid is socket_group (not just our own gid) */
	struct evconnlistener *listener;
	struct event pause; /* re-enables accept after EMFILE/ENFILE */
	bool pause_added;
	int64_t pause_logged_ms; /* daemon_mono_ms() of the last EMFILE log line */
	int64_t limit_logged_ms; /* and of the last "too many connections" line */
	int64_t busy_logged_ms;  /* and of the last "busy" (CONTROL_MAX_JOBS) line */
	LIST_HEAD(, control_client) clients;
};

/* A command handler: 0 and *ret_data (new reference), or -errno with the
 * error text for the user in why. */
typedef int (*ctl_fn)(struct control_client *cl, json_t *req, json_t **ret_data, char *why, size_t n);
/* A command that renders its reply data as compact JSON text itself, into
 * data (a list too long to build as one jansson tree and dump): 0, or
 * -errno with the error text for the user in why. */
typedef int (*ctl_dump_fn)(struct control_client *cl, json_t *req, struct sw_buf *data, char *why, size_t n);

static int ctl_alerts(struct control_client *cl, json_t *req, struct sw_buf *data, char *why, size_t n);
static int ctl_alert(struct control_client *cl, json_t *req, json_t **ret_data, char *why, size_t n);
static int ctl_poll(struct control_client *cl, json_t *req, json_t **ret_data, char *why, size_t n);
static int ctl_reload(struct control_client *cl, json_t *req, json_t **ret_data, char *why, size_t n);

/* Who may run a command: every socket user, or only operators (root, the
 * daemon's own user, members of operator_group). */
enum ctl_role {
	ROLE_READ,
	ROLE_OPERATE,
	/* silence: listing reads, setting one operates */
	ROLE_OPERATE_WITH_RULE,
};

/* The commands: fn (or dump) for those in this file, ext for those in
 * their own file (control_*.c); none: part of the protocol, not in this
 * version. */
static const struct ctl_cmd {
	const char *name;
	enum ctl_role role;
	ctl_fn fn;
	control_cmd_fn ext;
	ctl_dump_fn dump;
} ctl_cmds[] = {
	{"status", ROLE_READ, NULL, control_cmd_status, NULL},
	{"alerts", ROLE_READ, NULL, NULL, ctl_alerts},
	{"alert", ROLE_READ, ctl_alert, NULL, NULL},
	{"poll", ROLE_OPERATE, ctl_poll, NULL, NULL},
	{"reload", ROLE_OPERATE, ctl_reload, NULL, NULL},
	{"ack", ROLE_OPERATE, NULL, control_cmd_ack, NULL},
	{"silence", ROLE_OPERATE_WITH_RULE, NULL, control_cmd_silence, NULL},
	{"unsilence", ROLE_OPERATE, NULL, control_cmd_unsilence, NULL},
	{"exceptions", ROLE_READ, NULL, control_cmd_exceptions, NULL},
	{"mailbox", ROLE_READ, NULL, control_cmd_mailbox, NULL},
	{"changes", ROLE_READ, NULL, control_cmd_changes, NULL},
	{"import-report", ROLE_OPERATE, NULL, control_cmd_import_report, NULL},
	{"metrics", ROLE_READ, NULL, control_cmd_metrics, NULL},
	{"report", ROLE_READ, NULL, control_cmd_report, NULL},
	{"remediate", ROLE_OPERATE, NULL, control_cmd_remediate, NULL},
	{"remediation", ROLE_READ, NULL, control_cmd_remediation, NULL},
	{"plan", ROLE_READ, NULL, control_cmd_plan, NULL},
};

/* An alert's document, marked silenced when a silence covers it now. */
static json_t *alert_document_now(struct daemon *d, const struct sw_alert *a)
{
	struct sw_alert view = *a; /* shallow: only read by sw_alert_document */

	view.silenced_until = 0;
	sw_lifecycle_silenced(d->store, a->rule, a->subject, daemon_now(), &view.silenced_until);
	sw_alert_set_tenant_id(&view, d->cfg);
	return sw_alert_document(&view);
}

struct alerts_render {
	const struct sw_config *cfg;
	const struct sw_silences *silences;
	struct sw_buf *data;
	size_t n;
	char last[SW_ALERT_CURSOR_MAX]; /* the position of the last one appended */
};

/* Append each listed alert's document, marked silenced when a silence
 * covers it now. */
static int alerts_render_cb(const struct sw_alert *a, const char *evidence, void *arg)
{
	struct alerts_render *ar = arg;
	struct sw_alert view = *a; /* shallow: only read by sw_alert_document_dump */

	view.silenced_until = sw_silences_until(ar->silences, a->rule, a->subject);
	sw_alert_set_tenant_id(&view, ar->cfg);
	sw_alert_page_cursor(a, ar->last, sizeof(ar->last));
	if (ar->n++ > 0 && sw_buf_putc(ar->data, ',') < 0)
		return -ENOMEM;
	return sw_alert_document_dump(&view, evidence, ar->data);
}

/* The most alerts one page may ask for. */
#define ALERTS_LIMIT_MAX 10000

/* alerts {"all":bool,"since":"DUR","limit":N,"after":"a-000123"}: firing
 * (or all) alerts, newest first; with limit, one page of them after the
 * alert after, and "more" and "next" (the cursor for the next page) in
 * the reply.  The documents are dumped one by one with the evidence as
 * stored, and the silences are read once: building a tree of every
 * evidence, and a silence query per alert, made this list the slowest
 * request. */
static int ctl_alerts(struct control_client *cl, json_t *req, struct sw_buf *data, char *why, size_t n)
{
	struct daemon *d = cl->control->daemon;
	json_t *all = json_object_get(req, "all");
	json_t *since = json_object_get(req, "since");
	json_t *limit = json_object_get(req, "limit");
	json_t *after = json_object_get(req, "after");
	struct sw_silences silences = {0};
	struct alerts_render ar = {d->cfg, &silences, data, 0, {0}};
	struct sw_alert_page pg = {0};
	int64_t now = daemon_now(), dur;
	bool more = false;
	int r;

	if (all != NULL && !json_is_boolean(all)) {
		snprintf(why, n, "\"all\" must be true or false");
		return -EINVAL;
	}
	pg.all = json_is_true(all);
	if (json_is_string(since)) {
		if (sw_duration_parse(json_string_value(since), &dur) < 0 || dur <= 0) {
			snprintf(why, n, "invalid duration \"%.40s\" (use 30s, 5m, 2h, 7d)", json_string_value(since));
			return -EINVAL;
		}
		pg.since = now - dur;
	} else if (json_is_integer(since) && json_integer_value(since) > 0) {
		pg.since = now - json_integer_value(since);
	} else if (since != NULL && !json_is_null(since)) {
		snprintf(why, n, "\"since\" must be a duration such as \"2h\"");
		return -EINVAL;
	}
	if (limit != NULL && !json_is_null(limit)) {
		if (!json_is_integer(limit) || json_integer_value(limit) < 1 ||
		    json_integer_value(limit) > ALERTS_LIMIT_MAX) {
			snprintf(why, n, "\"limit\" must be a number from 1 to %d", ALERTS_LIMIT_MAX);
			return -EINVAL;
		}
		pg.limit = json_integer_value(limit);
	}
	if (after != NULL && !json_is_null(after)) {
		if (!json_is_string(after) || json_string_length(after) == 0 || json_string_length(after) > 80) {
			snprintf(why, n, "\"after\" must be a page's \"next\" or an alert id such as \"a-000123\"");
			return -EINVAL;
		}
		pg.after = json_string_value(after);
	}
	r = sw_silences_load(d->store, now, &silences);
	if (r >= 0)
		r = sw_buf_append(data, "{\"alerts\":[", 11);
	if (r >= 0)
		r = sw_store_alerts_page_text(d->store, &pg, alerts_render_cb, &ar, &more);
	if (r >= 0)
		r = sw_buf_append(data, "]", 1);
	if (r >= 0 && pg.limit > 0) {
		r = sw_buf_printf(data, ",\"more\":%s", more ? "true" : "false");
		/* ids are a- and digits (sw_store_alert_save), nothing to escape;
		 * the position stays good when that alert changes before the
		 * next page is asked for */
		if (r >= 0 && more)
			r = sw_buf_printf(data, ",\"next\":\"%s\"", ar.last);
	}
	if (r >= 0)
		r = sw_buf_append(data, "}", 1);
	sw_silences_clear(&silences);
	if (r == -ENOMEM)
		snprintf(why, n, "out of memory");
	else if (r == -ENOENT)
		snprintf(why, n, "no alert %.32s (the \"after\" cursor)", pg.after);
	else if (r == -EINVAL)
		snprintf(why, n, "\"after\" %.80s is not a page's \"next\" (ID@UPDATED.SEQ) nor an alert id", pg.after);
	else if (r < 0)
		snprintf(why, n, "cannot list alerts: %s", sw_store_errmsg(d->store));
	return r < 0 ? r : 0;
}

/* alert {"id":"a-000123"}: one alert's document. */
static int ctl_alert(struct control_client *cl, json_t *req, json_t **ret_data, char *why, size_t n)
{
	struct daemon *d = cl->control->daemon;
	const char *id = json_string_value(json_object_get(req, "id"));
	struct sw_alert a = {0};
	int r;

	if (id == NULL || id[0] == '\0') {
		snprintf(why, n, "\"id\" is required");
		return -EINVAL;
	}
	r = sw_store_alert_get(d->store, id, &a);
	if (r == -ENOENT) {
		snprintf(why, n, "no alert %.40s", id);
		return r;
	}
	if (r < 0) {
		snprintf(why, n, "cannot read alert %.40s: %s", id, sw_store_errmsg(d->store));
		return r;
	}
	*ret_data = alert_document_now(d, &a);
	sw_alert_clear(&a);
	if (*ret_data == NULL) {
		snprintf(why, n, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* poll {"tenant":optional}: run every source of one or all tenants now. */
static int ctl_poll(struct control_client *cl, json_t *req, json_t **ret_data, char *why, size_t n)
{
	struct daemon *d = cl->control->daemon;
	json_t *jt = json_object_get(req, "tenant");
	const char *tenant = json_string_value(jt);
	json_t *names;
	int r;

	if (jt != NULL && !json_is_null(jt) && (tenant == NULL || tenant[0] == '\0')) {
		snprintf(why, n, "\"tenant\" must be a tenant name");
		return -EINVAL;
	}
	r = daemon_poll_now(d, tenant);
	if (r == -ENOENT) {
		snprintf(why, n, "unknown tenant \"%.64s\"", tenant);
		return r;
	}
	if (r < 0) {
		snprintf(why, n, "cannot poll: %s", strerror(-r));
		return r;
	}
	log_info("control: poll of %s requested by uid %u", tenant ? tenant : "every tenant", (unsigned)cl->uid);
	names = json_array();
	for (size_t i = 0; names != NULL && i < d->n_tenants; i++)
		if (tenant == NULL || strcmp(d->tenants[i]->cfg->name, tenant) == 0)
			json_array_append_new(names, json_string(d->tenants[i]->cfg->name));
	*ret_data = json_pack("{s:o}", "polling", names);
	if (*ret_data == NULL) {
		snprintf(why, n, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* reload: re-read the config; on failure the running one stays. */
static int ctl_reload(struct control_client *cl, json_t *req, json_t **ret_data, char *why, size_t n)
{
	int r;

	log_info("control: reload requested by uid %u", (unsigned)cl->uid);
	r = daemon_reload(cl->control->daemon, why, n);
	if (r < 0) {
		if (why[0] == '\0')
			snprintf(why, n, "reload failed: %s", strerror(-r));
		return r;
	}
	*ret_data = json_pack("{s:b}", "reloaded", 1);
	if (*ret_data != NULL && r > 0)
		json_object_set_new(*ret_data, "warning", json_string(why));
	return *ret_data != NULL ? 0 : -ENOMEM;
}

/* Look up uid with getpwuid_r into pw, with its strings in *ret_buf
 * (malloc'd, the caller frees it): 0, or -ENOENT / -errno. */
static int user_lookup(uid_t uid, struct passwd *pw, char **ret_buf)
{
	long max = sysconf(_SC_GETPW_R_SIZE_MAX);
	size_t len = max > 0 ? (size_t)max : 4096;
	struct passwd *res = NULL;
	char *buf = NULL;
	int r;

	for (int tries = 0; tries < 4; tries++, len *= 4) {
		char *b = realloc(buf, len);
		if (b == NULL) {
			free(buf);
			return -ENOMEM;
		}
		buf = b;
		r = getpwuid_r(uid, pw, buf, len, &res);
		if (r != ERANGE)
			break;
	}
	if (r != 0 || res == NULL) {
		free(buf);
		return r != 0 ? -r : -ENOENT;
	}
	*ret_buf = buf;
	return 0;
}

/* See control.h. */
int control_user_name(uid_t uid, char *buf, size_t n)
{
	struct passwd pw;
	char *pwbuf = NULL;
	int r = user_lookup(uid, &pw, &pwbuf);

	if (r < 0)
		return r;
	snprintf(buf, n, "%s", pw.pw_name);
	free(pwbuf);
	return 0;
}

/* The gid of a group name (getgrnam_r, with a buffer grown for a group
 * of many members): 0, or -ENOENT / -errno. */
static int group_lookup(const char *name, gid_t *ret)
{
	struct group gr, *res = NULL;
	size_t len = 16384;
	char *buf = NULL;
	int r = ENOMEM;

	for (int tries = 0; tries < 5; tries++, len *= 4) {
		char *b = realloc(buf, len);
		if (b == NULL) {
			r = ENOMEM;
			break;
		}
		buf = b;
		r = getgrnam_r(name, &gr, buf, len, &res);
		if (r != ERANGE)
			break;
	}
	if (r == 0 && res != NULL)
		*ret = gr.gr_gid;
	free(buf);
	if (r != 0)
		return -r;
	return res != NULL ? 0 : -ENOENT;
}

/* Is the user uid a member (primary or supplementary) of gid, by the
 * user and group databases now? */
static bool user_in_group(uid_t uid, gid_t gid)
{
	struct passwd pw;
	char *pwbuf = NULL;
	gid_t *groups = NULL;
	int ngroups = 32;
	bool found = false;

	if (user_lookup(uid, &pw, &pwbuf) < 0)
		return false;
	if (pw.pw_gid == gid)
		found = true;
	for (int tries = 0; tries < 4 && !found; tries++) {
		int want = ngroups;
		gid_t *g = realloc(groups, sizeof(*g) * (size_t)want);
		if (g == NULL)
			break;
		groups = g;
		if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &ngroups) < 0) {
			if (ngroups <= want)
				ngroups = want * 2;
			continue;
		}
		for (int i = 0; i < ngroups; i++)
			if (groups[i] == gid)
				found = true;
		break;
	}
	free(groups);
	free(pwbuf);
	return found;
}

/* Read the connecting process's groups (SO_PEERGROUPS, Linux 4.13): the
 * kernel's own list, which holds even for a user the databases do not
 * know.  Left empty where the option is missing. */
static void client_read_groups(struct control_client *cl, int fd)
{
#ifdef SO_PEERGROUPS
	socklen_t len = 64 * sizeof(gid_t);

	for (int tries = 0; tries < 3; tries++) {
		gid_t *g = realloc(cl->groups, len);
		if (g == NULL)
			return;
		cl->groups = g;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, cl->groups, &len) == 0) {
			cl->n_groups = len / sizeof(gid_t);
			return;
		}
		if (errno != ERANGE)
			break;
	}
	cl->n_groups = 0;
#else
	(void)cl;
	(void)fd;
#endif
}

/* Is the client in group gid: its process's gid or groups, or its
 * user's membership in the databases? */
static bool client_in_group(const struct control_client *cl, gid_t gid)
{
	if (cl->gid == gid)
		return true;
	for (size_t i = 0; i < cl->n_groups; i++)
		if (cl->groups[i] == gid)
			return true;
	return user_in_group(cl->uid, gid);
}

/* May the client run a command that changes state?  Root, our own user
 * and members of operator_group, looked up at each request so a reload
 * or a change of membership counts at once.  false with why otherwise. */
static bool client_may_operate(const struct control_client *cl, const char *cmd, char *why, size_t n)
{
	const char *group = cl->control->daemon->cfg->daemon.operator_group;
	gid_t gid;

	if (cl->uid == 0 || cl->uid == geteuid())
		return true;
	if (group == NULL || group[0] == '\0') {
		snprintf(why, n, "permission denied: %s needs root or the daemon's user (no operator_group is configured)",
		         cmd);
		return false;
	}
	if (group_lookup(group, &gid) == 0 && client_in_group(cl, gid))
		return true;
	snprintf(why, n, "permission denied: %s needs membership of operator_group %s", cmd, group);
	return false;
}

/* Free a job and the reply it was writing. */
static void job_free(struct control_job *job)
{
	sw_buf_clear(&job->reply);
	job->free(job);
}

/* The replies being built for every client but cl.  One waiting for
 * its client to read what was sent takes no slices: it does not count,
 * or a few clients that stop reading would make every other one busy
 * (what it holds is bounded by the clients allowed, as the replies
 * queued for them are). */
static size_t control_jobs_besides(struct control *c, const struct control_client *cl)
{
	const struct control_client *o;
	size_t n = 0;

	LIST_FOREACH(o, &c->clients, entry)
		n += o != cl && o->job != NULL && evbuffer_get_length(o->out) <= CONTROL_MAX_OUTPUT;
	return n;
}

/* Run one request line and return the reply line (malloc'd), or NULL
 * with cl->job set when the reply comes later.  fd, a descriptor that
 * came with the line or -1, is lent to import-report only; the caller
 * closes it. */
static char *control_dispatch(struct control_client *cl, const char *line, size_t len, int fd)
{
	const struct ctl_cmd *cmd = NULL;
	json_t *req = NULL, *data = NULL;
	struct sw_buf dumped = {0};
	const char *name;
	char why[512] = "";
	char *reply;
	int r;

	if (sw_proto_request_parse(line, len, &req, why, sizeof(why)) < 0)
		return sw_proto_reply_error("%s", why);
	name = json_string_value(json_object_get(req, "cmd"));
	for (size_t i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++)
		if (strcmp(ctl_cmds[i].name, name) == 0)
			cmd = &ctl_cmds[i];
	if (cmd == NULL) {
		reply = sw_proto_reply_error("unknown command \"%.64s\"", name);
		goto out;
	}
	if (cmd->fn == NULL && cmd->ext == NULL && cmd->dump == NULL) {
		reply = sw_proto_reply_error("%s is not available in this version", cmd->name);
		goto out;
	}
	if ((cmd->role == ROLE_OPERATE ||
	     (cmd->role == ROLE_OPERATE_WITH_RULE && !json_is_null(json_object_get(req, "rule")) &&
	      json_object_get(req, "rule") != NULL)) &&
	    !client_may_operate(cl, cmd->name, why, sizeof(why))) {
		log_warn("control: %s refused for uid %u pid %d: not an operator", cmd->name, (unsigned)cl->uid,
		         (int)cl->pid);
		reply = sw_proto_reply_error("%s", why);
		goto out;
	}
	log_debug("control: %s from uid %u pid %d", cmd->name, (unsigned)cl->uid, (int)cl->pid);
	if (cmd->fn != NULL) {
		r = cmd->fn(cl, req, &data, why, sizeof(why));
	} else if (cmd->dump != NULL) {
		/* The reply line is built in the buffer itself, and that buffer
		 * goes to the socket's output as it is (client_send): a page of
		 * alerts is 250 KB, and each copy of it cost. */
		r = sw_buf_append(&dumped, SW_PROTO_OK_HEAD, sizeof(SW_PROTO_OK_HEAD) - 1);
		if (r < 0)
			snprintf(why, sizeof(why), "out of memory");
		else
			r = cmd->dump(cl, req, &dumped, why, sizeof(why));
	} else {
		struct control_peer peer = {.uid = cl->uid, .pid = cl->pid, .fd = -1, .later = &cl->job};
		if (strcmp(cmd->name, "import-report") == 0)
			peer.fd = fd;
		r = cmd->ext(cl->control->daemon, &peer, req, &data, why, sizeof(why));
	}
	if (r == CONTROL_LATER && cl->job != NULL && control_jobs_besides(cl->control, cl) >= CONTROL_MAX_JOBS) {
		/* Each job takes up to a slice of every loop turn it waits in:
		 * more of them at once would make the turns as long as the
		 * stalls they are there to avoid, and hold their memory. */
		struct control *c = cl->control;
		json_decref(data);
		if (c->busy_logged_ms == 0 || daemon_mono_ms() - c->busy_logged_ms >= 60000) {
			log_info("control: %s for uid %u pid %d refused: %d replies are being built already", cmd->name,
			         (unsigned)cl->uid, (int)cl->pid, CONTROL_MAX_JOBS);
			c->busy_logged_ms = daemon_mono_ms();
		}
		job_free(cl->job);
		cl->job = NULL;
		reply = sw_proto_reply_error("busy: the daemon is building %d other replies; try again in a moment",
		                             CONTROL_MAX_JOBS);
		goto out;
	}
	if (r == CONTROL_LATER && cl->job != NULL &&
	    sw_buf_append(&cl->job->reply, SW_PROTO_OK_HEAD, sizeof(SW_PROTO_OK_HEAD) - 1) < 0) {
		job_free(cl->job);
		cl->job = NULL;
		r = -ENOMEM;
		snprintf(why, sizeof(why), "out of memory");
	}
	if (r == CONTROL_LATER && cl->job != NULL) {
		/* The reply comes from the job's slices (client_job_cb). */
		struct timeval now = {0, 0};
		json_decref(data);
		cl->job_start_us = daemon_mono_us();
		cl->job_slices = 0;
		cl->job_sent = 0;
		evtimer_add(&cl->jobev, &now);
		reply = NULL;
		goto out;
	}
	if (r == CONTROL_LATER) {
		/* A command that said later without a job: a bug, not the user's. */
		json_decref(data);
		r = -EIO;
		snprintf(why, sizeof(why), "%s: internal error (no reply)", cmd->name);
	}
	if (r < 0)
		reply = sw_proto_reply_error("%s", why[0] != '\0' ? why : strerror(-r));
	else if (cmd->dump != NULL) {
		reply = sw_buf_append(&dumped, SW_PROTO_OK_TAIL, sizeof(SW_PROTO_OK_TAIL) - 1) < 0 ? NULL : dumped.data;
		if (reply != NULL)
			dumped = (struct sw_buf){0}; /* now the reply's */
	} else
		reply = sw_proto_reply_ok(data);
out:
	sw_buf_clear(&dumped);
	json_decref(req);
	return reply;
}

static void client_update(struct control_client *cl);

/* Close a client and forget it. */
static void client_free(struct control_client *cl)
{
	if (cl == NULL)
		return;
	LIST_REMOVE(cl, entry);
	if (cl->job != NULL) {
		log_debug("control: %s for uid %u pid %d dropped unfinished (the client is gone)", cl->job->name,
		          (unsigned)cl->uid, (int)cl->pid);
		job_free(cl->job);
		cl->job = NULL;
	}
	event_del(&cl->jobev);
	if (cl->rev_added)
		event_del(&cl->rev);
	if (cl->wev_added)
		event_del(&cl->wev);
	evtimer_del(&cl->timer);
	if (cl->fd >= 0)
		close(cl->fd);
	if (cl->passed_fd >= 0)
		close(cl->passed_fd);
	if (cl->in != NULL)
		evbuffer_free(cl->in);
	if (cl->out != NULL)
		evbuffer_free(cl->out);
	free(cl->groups);
	free(cl);
}

/* Frees a reply line once the output has sent it. */
static void reply_free_cb(const void *data, size_t len, void *arg)
{
	free((void *)data);
}

/* Queue a reply line (taking it: the output refers to it, no copy); with
 * close, no more requests are read and the client goes once the reply is
 * written. */
static void client_send(struct control_client *cl, char *reply, bool close)
{
	if (reply == NULL || evbuffer_add_reference(cl->out, reply, strlen(reply), reply_free_cb, NULL) < 0) {
		free(reply);
		reply = sw_proto_reply_error("out of memory");
		if (reply == NULL || evbuffer_add(cl->out, reply, strlen(reply)) < 0)
			close = true;
		free(reply);
	}
	if (close)
		cl->closing = true;
}

/* The last reply is written: shut down our side and discard what the
 * client still sends until it closes.  Closing with unread input would
 * make the kernel reset the connection, and the client could lose the
 * reply (the "permission denied" or "too long" it has not read yet). */
static void client_linger(struct control_client *cl)
{
	if (cl->lingering)
		return;
	cl->lingering = true;
	cl->linger_ms = daemon_mono_ms();
	shutdown(cl->fd, SHUT_WR);
	evbuffer_drain(cl->in, evbuffer_get_length(cl->in));
}

/* Keep the first descriptor that came with the bytes just read (it
 * belongs to the request line holding the last of them: smtpwatchctl
 * sends it with the line's first bytes in one sendmsg) and close every
 * other. */
static void client_take_fds(struct control_client *cl, struct msghdr *msg, uint64_t last)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm != NULL; cm = CMSG_NXTHDR(msg, cm)) {
		size_t nfd;
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (cl->passed_fd < 0 && !cl->lingering) {
				cl->passed_fd = fd;
				cl->passed_at = last;
			} else {
				log_debug("control: closed an extra descriptor from uid %u", (unsigned)cl->uid);
				close(fd);
			}
		}
	}
	if (msg->msg_flags & MSG_CTRUNC)
		log_debug("control: uid %u sent more descriptors than %d; the kernel dropped the rest", (unsigned)cl->uid,
		          CONTROL_MAX_FDS);
}

/* Run the complete request lines in the input, in order, one reply each.
 * An overlong line ends the connection with an error, since we cannot
 * know where the next begins. */
static void client_process(struct control_client *cl)
{
	char *line;
	size_t len;

	/* A reply being built holds back the next request: replies go out in
	 * the order of the requests. */
	while (!cl->closing && !cl->lingering && cl->job == NULL && evbuffer_get_length(cl->out) <= CONTROL_MAX_OUTPUT) {
		uint64_t start = cl->in_offset;
		int fd = -1;

		line = evbuffer_readln(cl->in, &len, EVBUFFER_EOL_LF);
		if (line == NULL) {
			if (evbuffer_get_length(cl->in) > SW_PROTO_MAX_LINE)
				client_send(cl, sw_proto_reply_error("request longer than %d bytes", SW_PROTO_MAX_LINE),
				            true);
			break;
		}
		cl->in_offset += len + 1;
		/* The descriptor goes with this line if it came with its bytes;
		 * one from an earlier line cannot be here (it is closed there). */
		if (cl->passed_fd >= 0 && cl->passed_at >= start && cl->passed_at <= start + len) {
			fd = cl->passed_fd;
			cl->passed_fd = -1;
		}
		if (len > SW_PROTO_MAX_LINE) {
			client_send(cl, sw_proto_reply_error("request longer than %d bytes", SW_PROTO_MAX_LINE), true);
		} else if (len == 0 || (len == 1 && line[0] == '\r')) {
			/* an empty line: nothing to answer */
		} else {
			cl->active_ms = daemon_mono_ms();
			cl->line_ms = 0; /* a request came: the next one's time starts */
			char *reply = control_dispatch(cl, line, len, fd);
			if (cl->job == NULL)
				client_send(cl, reply, false);
		}
		if (fd >= 0)
			close(fd);
		free(line);
	}
}

/* Send the replies the requests just read produced now, rather than
 * from the write event a loop turn later: in that turn a detection slice
 * may run first.  false when the client is gone. */
static bool client_flush(struct control_client *cl)
{
	int w;

	if (evbuffer_get_length(cl->out) == 0)
		return true;
	w = evbuffer_write(cl->out, cl->fd);
	if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return true;
	if (w <= 0) {
		client_free(cl);
		return false;
	}
	cl->active_ms = daemon_mono_ms();
	return true;
}

/* Readable: take what arrived (and the descriptors with it), run the
 * complete lines. */
static void client_read(struct control_client *cl, evutil_socket_t fd)
{
	char buf[CONTROL_READ_CHUNK];
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(CONTROL_MAX_FDS * sizeof(int))];
	} cmsg;
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cmsg.buf,
	                     .msg_controllen = sizeof(cmsg.buf)};
	ssize_t got;

	if (!cl->lingering) {
		/* Never more than one byte past the line cap unprocessed. */
		size_t have = evbuffer_get_length(cl->in);
		size_t room = have > SW_PROTO_MAX_LINE ? 1 : SW_PROTO_MAX_LINE + 1 - have;
		if (room < iov.iov_len)
			iov.iov_len = room;
	}
	got = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (got > 0 || msg.msg_controllen > 0)
		client_take_fds(cl, &msg, cl->in_offset + evbuffer_get_length(cl->in) + (got > 0 ? (uint64_t)got - 1 : 0));
	if (got <= 0) {
		/* EOF or error.  A client that sent its request and shut down its
		 * side still gets the reply. */
		if (got == 0 && !cl->lingering && (evbuffer_get_length(cl->out) > 0 || cl->job != NULL)) {
			cl->eof = true;
			cl->closing = true;
			client_update(cl);
			return;
		}
		client_free(cl);
		return;
	}
	if (cl->lingering)
		return; /* discarded */
	if (evbuffer_add(cl->in, buf, (size_t)got) < 0) {
		client_free(cl);
		return;
	}
	client_process(cl);
	if (!client_flush(cl))
		return;
	client_update(cl);
}

/* Readable: the requests answered at once are answered here (the client
 * may be gone when it returns). */
static void client_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct control_client *cl = arg;
	struct daemon *d = cl->control->daemon;
	int64_t start = daemon_mono_us();

	client_read(cl, fd);
	daemon_loop_step(d, "control request", NULL, start);
}

/* Has the client closed its connection (not just its side of it: one
 * that shut down its writing still reads the reply)?  Reading is paused
 * while a reply is built, so its EOF is not seen; the kernel says HUP
 * once both directions are shut down. */
static bool client_hung_up(const struct control_client *cl)
{
	struct pollfd p = {.fd = cl->fd, .events = POLLOUT};

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR)) != 0;
}

/* What the reply line being built has so far goes out now (the output
 * takes the buffer, no copy); on no memory it stays for the next piece. */
static void client_job_piece(struct control_client *cl)
{
	struct control_job *job = cl->job;
	size_t len = job->reply.len;

	if (evbuffer_add_reference(cl->out, job->reply.data, len, reply_free_cb, NULL) < 0)
		return;
	job->reply = (struct sw_buf){0}; /* now the output's */
	cl->job_sent += len;
	if (!cl->wev_added) {
		event_add(&cl->wev, NULL);
		cl->wev_added = true;
	}
}

/* The next slice of the reply being built: steps until one answers or
 * CONTROL_SLICE_US is spent, then the reply, or another slice a loop
 * turn later (at PRIO_JOB: every request, reply and timer that became
 * ready meanwhile goes first, detection slices after).  The line goes
 * out a piece at a time as it grows, and the slices wait while the
 * client leaves more than CONTROL_MAX_OUTPUT of it unread.  A client
 * that hung up is let go with its job before the slice: nobody would
 * read the reply. */
static void client_job(struct control_client *cl)
{
	struct control_job *job = cl->job;
	int64_t start = daemon_mono_us();
	json_t *data = NULL;
	char why[512] = "";
	char *reply;
	int r;

	if (job == NULL)
		return;
	if (client_hung_up(cl)) {
		log_debug("control: %s for uid %u pid %d dropped after %u slice%s: the client hung up", job->name,
		          (unsigned)cl->uid, (int)cl->pid, cl->job_slices, cl->job_slices == 1 ? "" : "s");
		cl->job = NULL;
		job_free(job);
		client_free(cl);
		return;
	}
	/* The client has not read the pieces sent: the steps wait for it
	 * (client_write_cb starts them again). */
	if (evbuffer_get_length(cl->out) > CONTROL_MAX_OUTPUT)
		return;
	cl->job_slices++;
	do {
		r = job->step(job, &data, why, sizeof(why));
		if (r == 0 && job->reply.len >= CONTROL_REPLY_PIECE)
			client_job_piece(cl);
	} while (r == 0 && daemon_mono_us() - start < CONTROL_SLICE_US &&
	         evbuffer_get_length(cl->out) <= CONTROL_MAX_OUTPUT);
	/* The daemon is working for this client: not idle. */
	cl->active_ms = daemon_mono_ms();
	if (r == 0) {
		struct timeval now = {0, 0};
		if (evbuffer_get_length(cl->out) <= CONTROL_MAX_OUTPUT)
			evtimer_add(&cl->jobev, &now);
		return;
	}
	if (r < 0 && cl->job_sent > 0) {
		/* Part of the line is out: no error reply can follow it.  The
		 * client reads a line cut short and the end of the connection. */
		log_err("control: %s for uid %u pid %d failed after %zu bytes of its reply were sent: %s; closing the "
		        "connection", job->name, (unsigned)cl->uid, (int)cl->pid, cl->job_sent,
		        why[0] != '\0' ? why : strerror(-r));
		cl->job = NULL;
		job_free(job);
		cl->closing = true;
		client_update(cl);
		return;
	}
	if (r < 0)
		reply = sw_proto_reply_error("%s", why[0] != '\0' ? why : strerror(-r));
	else if (data != NULL)
		reply = sw_proto_reply_ok(data);
	else if (sw_buf_append(&job->reply, SW_PROTO_OK_TAIL, sizeof(SW_PROTO_OK_TAIL) - 1) < 0)
		reply = NULL; /* client_send says out of memory */
	else {
		reply = job->reply.data;
		job->reply = (struct sw_buf){0}; /* now the reply's */
	}
	log_debug("control: %s for uid %u pid %d answered after %u slice%s, %lld ms (%zu bytes sent before its last "
	          "piece)", job->name, (unsigned)cl->uid, (int)cl->pid, cl->job_slices, cl->job_slices == 1 ? "" : "s",
	          (long long)((daemon_mono_us() - cl->job_start_us) / 1000), cl->job_sent);
	cl->job = NULL;
	job_free(job);
	client_send(cl, reply, false);
	if (!client_flush(cl))
		return;
	/* The requests that waited behind it. */
	client_process(cl);
	if (!client_flush(cl))
		return;
	client_update(cl);
}

static void client_job_cb(evutil_socket_t fd, short what, void *arg)
{
	struct control_client *cl = arg;
	struct daemon *d = cl->control->daemon;
	const char *name = cl->job != NULL ? cl->job->name : "control job";
	int64_t start = daemon_mono_us();

	client_job(cl);
	daemon_loop_step(d, name, NULL, start);
}

/* Writable: send what is queued. */
static void client_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct control_client *cl = arg;
	int w = evbuffer_write(cl->out, fd);

	if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (w <= 0) {
		client_free(cl);
		return;
	}
	cl->active_ms = daemon_mono_ms();
	/* Under the output bound again: the reply being built goes on, or
	 * the requests waiting in the input are read. */
	if (cl->job != NULL && evbuffer_get_length(cl->out) <= CONTROL_MAX_OUTPUT &&
	    !evtimer_pending(&cl->jobev, NULL)) {
		struct timeval now = {0, 0};
		evtimer_add(&cl->jobev, &now);
	}
	client_process(cl);
	client_update(cl);
}

/* A deadline passed: idle too long, or lingered long enough. */
static void client_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct control_client *cl = arg;

	client_update(cl);
}

/* After any event: close, linger or go on, and arm the events and the
 * timer for what the client needs next. */
static void client_update(struct control_client *cl)
{
	int64_t now = daemon_mono_ms(), deadline;
	bool want_read, want_write = evbuffer_get_length(cl->out) > 0;
	/* Nothing more is read while a reply is being built: the requests
	 * behind it wait in the socket, as they do behind a full output. */
	bool paused = evbuffer_get_length(cl->out) > CONTROL_MAX_OUTPUT || cl->job != NULL;
	struct timeval tv;

	/* The request time runs from the first byte of an unfinished line,
	 * and only while we read: a paused client is waiting on us. */
	if (paused || evbuffer_get_length(cl->in) == 0)
		cl->line_ms = 0;
	else if (cl->line_ms == 0)
		cl->line_ms = now;
	if (!cl->closing && !cl->lingering && cl->line_ms != 0 && now - cl->line_ms >= CONTROL_REQUEST_S * 1000) {
		log_info("control: uid %u pid %d sent no complete request within %ds; closing", (unsigned)cl->uid,
		         (int)cl->pid, CONTROL_REQUEST_S);
		client_send(cl, sw_proto_reply_error("no complete request line within %ds", CONTROL_REQUEST_S), true);
		want_write = true;
	}
	if (cl->closing && !want_write && cl->job == NULL) {
		if (cl->eof) {
			client_free(cl);
			return;
		}
		client_linger(cl);
	}
	/* Lingered long enough, or idle too long: go. */
	deadline = cl->lingering ? cl->linger_ms + CONTROL_LINGER_S * 1000 : cl->active_ms + CONTROL_IDLE_S * 1000;
	if (now >= deadline) {
		client_free(cl);
		return;
	}
	if (!cl->lingering && !cl->closing && cl->line_ms != 0 && cl->line_ms + CONTROL_REQUEST_S * 1000 < deadline)
		deadline = cl->line_ms + CONTROL_REQUEST_S * 1000;
	want_read = cl->lingering || (!cl->closing && !paused);
	if (want_read && !cl->rev_added)
		event_add(&cl->rev, NULL);
	else if (!want_read && cl->rev_added)
		event_del(&cl->rev);
	cl->rev_added = want_read;
	if (want_write && !cl->wev_added)
		event_add(&cl->wev, NULL);
	else if (!want_write && cl->wev_added)
		event_del(&cl->wev);
	cl->wev_added = want_write;
	tv.tv_sec = (deadline - now) / 1000;
	tv.tv_usec = (deadline - now) % 1000 * 1000;
	evtimer_add(&cl->timer, &tv);
}

/* May this peer use the socket?  root, our own user, and the socket
 * group (by the peer's gid or its user's membership). */
static bool control_peer_allowed(struct control *c, const struct control_client *cl)
{
	if (cl->uid == 0 || cl->uid == geteuid())
		return true;
	if (!c->have_group)
		return false;
	return client_in_group(cl, c->gid);
}

/* Is uid one of those with their own connection count (root, us)? */
static bool uid_privileged(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

/* Would one more connection of uid go over a bound?  Then the reason, for
 * the one-line refusal; NULL otherwise. */
static const char *control_over_limit(struct control *c, uid_t uid, char *why, size_t n)
{
	size_t same = 0, group = 0;
	struct control_client *cl;
	bool priv = uid_privileged(uid);

	LIST_FOREACH(cl, &c->clients, entry) {
		if (cl->uid == uid)
			same++;
		if (uid_privileged(cl->uid) == priv)
			group++;
	}
	if (!priv && same >= CONTROL_MAX_PER_UID)
		snprintf(why, n, "too many connections from uid %u (%d): close some first", (unsigned)uid,
		         CONTROL_MAX_PER_UID);
	else if (group >= CONTROL_MAX_CLIENTS)
		snprintf(why, n, "too many connections (%d): try again later", CONTROL_MAX_CLIENTS);
	else
		return NULL;
	return why;
}

/* Refuse a connection over a bound: one error line, then close.  No
 * client is set up for it, so a flood costs a descriptor for a moment. */
static void control_refuse(struct control *c, int fd, const struct ucred *cred, const char *why)
{
	char *reply = sw_proto_reply_error("%s", why);

	if (reply != NULL)
		(void)send(fd, reply, strlen(reply), MSG_DONTWAIT | MSG_NOSIGNAL);
	free(reply);
	close(fd);
	/* Once a minute: a flood would flood the log too. */
	if (c->limit_logged_ms == 0 || daemon_mono_ms() - c->limit_logged_ms >= 60000) {
		log_warn("control: refused uid %u pid %d: %s", (unsigned)cred->uid, (int)cred->pid, why);
		c->limit_logged_ms = daemon_mono_ms();
	}
}

/* A new connection: check who it is and the bounds, then read requests. */
static void control_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                              void *arg)
{
	struct control *c = arg;
	struct event_base *base = evconnlistener_get_base(l);
	struct control_client *cl;
	struct ucred cred = {.pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1};
	socklen_t credlen = sizeof(cred);
	bool allowed, have_cred;
	char why[128];

	have_cred = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) == 0;
	if (!have_cred)
		log_warn("control: cannot get peer credentials: %s", strerror(errno));
	else if (control_over_limit(c, cred.uid, why, sizeof(why)) != NULL) {
		control_refuse(c, fd, &cred, why);
		return;
	}
	cl = calloc(1, sizeof(*cl));
	if (cl == NULL) {
		evutil_closesocket(fd);
		return;
	}
	/* Room for a long reply (a page of alerts is 250 KB) in one write,
	 * as far as net.core.wmem_max allows: each write the socket is not
	 * ready for waits a loop turn. */
	int sndbuf = CONTROL_SNDBUF;
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	cl->control = c;
	cl->fd = fd;
	cl->passed_fd = -1;
	cl->uid = cred.uid;
	cl->gid = cred.gid;
	cl->pid = cred.pid;
	cl->active_ms = daemon_mono_ms();
	cl->in = evbuffer_new();
	cl->out = evbuffer_new();
	event_assign(&cl->rev, base, fd, EV_READ | EV_PERSIST, client_read_cb, cl);
	event_assign(&cl->wev, base, fd, EV_WRITE | EV_PERSIST, client_write_cb, cl);
	evtimer_assign(&cl->timer, base, client_timer_cb, cl);
	evtimer_assign(&cl->jobev, base, client_job_cb, cl);
	/* Below I/O, above detection (smtpwatchd.h). */
	event_priority_set(&cl->jobev, PRIO_JOB);
	LIST_INSERT_HEAD(&c->clients, cl, entry);
	if (cl->in == NULL || cl->out == NULL) {
		client_free(cl);
		return;
	}
	allowed = false;
	if (have_cred) {
		client_read_groups(cl, fd);
		allowed = control_peer_allowed(c, cl);
	}
	if (!allowed) {
		log_warn("control: refused uid %u gid %u pid %d", (unsigned)cl->uid, (unsigned)cl->gid, (int)cl->pid);
		client_send(cl, sw_proto_reply_error("permission denied"), true);
	}
	client_update(cl);
}

/* The pause is over: accept again. */
static void control_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct control *c = arg;

	c->pause_added = false;
	evconnlistener_enable(c->listener);
}

/* accept() failed.  Out of descriptors: stop accepting for a second,
 * otherwise the pending connection makes the listener spin (tmux). */
static void control_accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct control *c = arg;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv = {1, 0};

	if (err == EMFILE || err == ENFILE) {
		/* Once a minute is enough: this repeats every second. */
		if (c->pause_logged_ms == 0 || daemon_mono_ms() - c->pause_logged_ms >= 60000) {
			log_warn("control: accept: %s; not accepting for 1s", strerror(err));
			c->pause_logged_ms = daemon_mono_ms();
		}
		evconnlistener_disable(l);
		evtimer_add(&c->pause, &tv);
		c->pause_added = true;
		return;
	}
	log_warn("control: accept: %s", strerror(err));
}

/* See control.h. */
int control_unlink_stale(const char *path, char *why, size_t n)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(why, n, "cannot stat %s: %s", path, strerror(errno));
		return -errno;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(why, n, "%s exists and is not a socket", path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		snprintf(why, n, "socket: %s", strerror(errno));
		return r;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	r = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	if (r == 0) {
		snprintf(why, n, "another smtpwatchd is listening on %s", path);
		return -EADDRINUSE;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		r = -errno;
		snprintf(why, n, "cannot remove the stale socket %s: %s", path, strerror(errno));
		return r;
	}
	return 0;
}

/* See control.h. */
int control_new(struct daemon *d, const char *path, const char *group, struct control **ret, char *why, size_t n)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char tmp[sizeof(sun.sun_path) + 8];
	struct control *c = NULL;
	struct group *gr = NULL;
	struct stat st;
	mode_t old_mask;
	int fd = -1, r;

	if (path == NULL || path[0] == '\0' || strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(why, n, "socket path is empty or longer than %zu bytes", sizeof(sun.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	/* Bound, given its mode and group and listening under a name of its
	 * own, then renamed into place: a member who connects as soon as the
	 * path exists is never refused for a mode or group not yet set. */
	if (snprintf(tmp, sizeof(tmp), "%s.new", path) >= (int)sizeof(sun.sun_path)) {
		snprintf(why, n, "socket path is longer than %zu bytes", sizeof(sun.sun_path) - 5);
		return -ENAMETOOLONG;
	}
	memcpy(sun.sun_path, tmp, strlen(tmp) + 1);
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->path = strdup(path)) == NULL) {
		r = -ENOMEM;
		snprintf(why, n, "out of memory");
		goto fail;
	}
	c->daemon = d;
	c->gid = getegid();
	LIST_INIT(&c->clients);
	evtimer_assign(&c->pause, d->base, control_resume_cb, c);

	r = control_unlink_stale(path, why, n);
	if (r == 0)
		r = control_unlink_stale(tmp, why, n);
	if (r < 0)
		goto fail;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		r = -errno;
		snprintf(why, n, "socket: %s", strerror(errno));
		goto fail;
	}
	/* The umask makes the socket 0660 at the latest from bind on: there
	 * is no window in which others could connect. */
	old_mask = umask(S_IXUSR | S_IXGRP | S_IRWXO);
	r = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old_mask);
	if (r < 0) {
		r = -errno;
		snprintf(why, n, "cannot bind: %s", strerror(errno));
		goto fail;
	}
	if (stat(tmp, &st) == 0) {
		c->dev = st.st_dev;
		c->ino = st.st_ino;
	}
	if (chmod(tmp, 0660) < 0) {
		r = -errno;
		snprintf(why, n, "chmod 0660: %s", strerror(errno));
		goto fail;
	}
	if (group != NULL && group[0] != '\0') {
		errno = 0;
		gr = getgrnam(group);
		if (gr == NULL)
			log_warn("control: group %s does not exist; only root and uid %u may use %s", group,
			         (unsigned)geteuid(), path);
		else if (chown(tmp, geteuid(), gr->gr_gid) < 0)
			log_warn("control: cannot give %s to group %s: %s; only root and uid %u may use it", path,
			         group, strerror(errno), (unsigned)geteuid());
		else {
			c->gid = gr->gr_gid;
			c->have_group = true;
		}
	}
	c->listener = evconnlistener_new(d->base, control_accept_cb, c,
	                                 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, CONTROL_BACKLOG, fd);
	if (c->listener == NULL) {
		r = errno != 0 ? -errno : -EIO;
		snprintf(why, n, "cannot listen: %s", strerror(-r));
		goto fail;
	}
	fd = -1; /* the listener owns it */
	evconnlistener_set_error_cb(c->listener, control_accept_error_cb);
	if (rename(tmp, path) < 0) {
		r = -errno;
		snprintf(why, n, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
		goto fail;
	}
	*ret = c;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	if (c != NULL && c->ino != 0)
		unlink(tmp);
	control_free(c);
	return r;
}

/* See control.h. */
void control_free(struct control *c)
{
	struct stat st;

	if (c == NULL)
		return;
	while (!LIST_EMPTY(&c->clients))
		client_free(LIST_FIRST(&c->clients));
	if (c->pause_added)
		event_del(&c->pause);
	if (c->listener != NULL)
		evconnlistener_free(c->listener);
	/* Only our own socket: a newer daemon may have replaced it. */
	if (c->path != NULL && c->ino != 0 && lstat(c->path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == c->dev && st.st_ino == c->ino)
		unlink(c->path);
	free(c->path);
	free(c);
}
