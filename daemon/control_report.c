/* control_report.c: import-report (one CSV export on demand) and report
 * (retirement readiness: who still uses Basic SMTP AUTH, who is on OAuth,
 * by week, and each tenant's state against the end-of-December-2026
 * default change; the evidence for CIS 1.3.2). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control.h"
#include "effective.h"
#include "inventory.h"
#include "jsonutil.h"
#include "log.h"
#include "report.h"
#include "report_html.h"
#include "smtpwatchd.h"
#include "source_report.h"
#include "store_exo.h"
#include "store_report.h"
#include "detect_usage.h"
#include "store_usage.h"

/* Basic SMTP AUTH is disabled by default for existing tenants at the end
 * of December 2026: from 2027-01-01T00:00:00Z on. */
#define BASIC_DEFAULT_OFF 1798761600LL
#define REPORT_DEFAULT_SINCE (90 * SW_DAY)

/* Read the file smtpwatchctl opened and passed (SCM_RIGHTS): the daemon
 * never opens the path itself, so it reads only what the caller could
 * read, and a FIFO or a device cannot make it wait.  A regular file of at
 * most REPORT_MAX_FILE bytes, read from its start up to the size fstat
 * saw.  *ret malloc'd; name is for messages only. */
static int read_passed_fd(int fd, const char *name, char **ret, size_t *ret_len, int64_t *ret_mtime, char *why,
                          size_t n)
{
	struct stat st;
	char *buf = NULL;
	size_t off = 0;
	int fl;

	if (fstat(fd, &st) < 0) {
		snprintf(why, n, "%s: %s", name, strerror(errno));
		return -errno;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, n, "%s: not a regular file", name);
		return -EINVAL;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || (fl & O_ACCMODE) == O_WRONLY) {
		snprintf(why, n, "%s: the descriptor passed is not open for reading", name);
		return -EBADF;
	}
	if (st.st_size > REPORT_MAX_FILE) {
		snprintf(why, n, "%s: %lld bytes, larger than the %d MiB limit: export a shorter period", name,
		         (long long)st.st_size, REPORT_MAX_FILE >> 20);
		return -EFBIG;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		snprintf(why, n, "out of memory");
		return -ENOMEM;
	}
	/* pread: the offset is shared with the caller's open file. */
	while (off < (size_t)st.st_size) {
		ssize_t got = pread(fd, buf + off, (size_t)st.st_size - off, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			snprintf(why, n, "%s: %s", name, strerror(errno));
			free(buf);
			return -EIO;
		}
		if (got == 0)
			break;
		off += (size_t)got;
	}
	*ret = buf;
	*ret_len = off;
	*ret_mtime = (int64_t)st.st_mtime;
	return 0;
}

/* What one file holds, for the import answer. */
static json_t *import_summary(const struct sw_report *r)
{
	json_t *senders = json_object(), *cols = json_object(), *rej = json_array(), *warn = json_array();
	int64_t msgs[3] = {0}, first = 0, last = 0;
	int64_t nsend[3] = {0};
	json_t *o = NULL;

	if (senders == NULL || cols == NULL || rej == NULL || warn == NULL)
		goto out;
	for (size_t i = 0; i < r->n; i++) {
		const struct sw_report_row *row = &r->rows[i];
		char key[400];
		msgs[row->auth] += row->messages;
		snprintf(key, sizeof(key), "%s %d", row->sender, (int)row->auth);
		if (json_object_get(senders, key) == NULL) {
			json_object_set_new(senders, key, json_true());
			nsend[row->auth]++;
		}
		if (first == 0 || row->day_start < first)
			first = row->day_start;
		if (row->day_end - SW_DAY > last)
			last = row->day_end - SW_DAY;
	}
	size_t distinct = 0;
	{
		json_t *uniq = json_object();
		for (size_t i = 0; uniq != NULL && i < r->n; i++)
			json_object_set_new(uniq, r->rows[i].sender, json_true());
		distinct = json_object_size(uniq);
		json_decref(uniq);
	}
	for (int c = 0; c < SW_COL_COUNT_; c++)
		if (r->header_text[c] != NULL)
			json_object_set_new(cols, sw_report_col_name(c), json_string(r->header_text[c]));
	for (size_t i = 0; i < r->n_problems; i++)
		json_array_append_new(r->problems[i].warning ? warn : rej,
		                      json_pack("{s:i,s:s}", "line", r->problems[i].line, "reason", r->problems[i].text));
	o = json_pack("{s:I,s:I,s:{s:I,s:I,s:I},s:{s:I,s:I,s:I},s:o,s:o,s:O,s:I,s:O,s:I,s:O,s:b,s:b,s:s#}", "rows",
	              (json_int_t)r->n, "senders", (json_int_t)distinct, "messages", "basic",
	              (json_int_t)msgs[SW_AUTH_BASIC], "oauth", (json_int_t)msgs[SW_AUTH_OAUTH], "unknown",
	              (json_int_t)msgs[SW_AUTH_UNKNOWN], "senders_by_protocol", "basic",
	              (json_int_t)nsend[SW_AUTH_BASIC], "oauth", (json_int_t)nsend[SW_AUTH_OAUTH], "unknown",
	              (json_int_t)nsend[SW_AUTH_UNKNOWN], "first_day", sw_json_day_or_null(first), "last_day",
	              sw_json_day_or_null(last), "rejected", rej, "rejected_count", (json_int_t)r->n_rejected,
	              "warnings", warn, "header_line", (json_int_t)r->header_line, "columns", cols, "bom", r->bom,
	              "crlf", r->crlf, "delimiter", &r->delimiter, (size_t)1);
out:
	json_decref(senders);
	json_decref(cols);
	json_decref(rej);
	json_decref(warn);
	return o;
}

/* import-report {"tenant":..,"file":NAME} with the file's descriptor
 * passed alongside (SCM_RIGHTS): parse and store one export now.  NAME
 * names it in messages and in the store; it is never opened. */
int control_cmd_import_report(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data,
                              char *why, size_t n)
{
	const char *tenant = json_string_value(json_object_get(req, "tenant"));
	const char *path = json_string_value(json_object_get(req, "file"));
	struct report_outcome o;
	struct sw_report r = {0};
	struct sw_error err = {0};
	struct tenant *t;
	char *buf = NULL;
	size_t len = 0;
	int64_t mtime = 0, now = daemon_now();
	json_t *doc = NULL;
	int rc;

	const char *base = path != NULL ? strrchr(path, '/') : NULL;

	base = base != NULL ? base + 1 : path;
	if (tenant == NULL || tenant[0] == '\0' || base == NULL || base[0] == '\0') {
		snprintf(why, n, "\"tenant\" and \"file\" (the file's name) are required");
		return -EINVAL;
	}
	if (peer->fd < 0) {
		snprintf(why, n, "import-report: no file descriptor came with the request: the daemon no longer opens "
		         "paths itself; upgrade smtpwatchctl (it opens the file and passes it)");
		return -EINVAL;
	}
	t = daemon_tenant(d, tenant);
	if (t == NULL) {
		snprintf(why, n, "unknown tenant \"%.64s\"", tenant);
		return -ENOENT;
	}
	rc = read_passed_fd(peer->fd, path, &buf, &len, &mtime, why, n);
	if (rc < 0)
		return rc;
	rc = sw_report_parse(buf, len, path, mtime, &r, &err);
	free(buf);
	if (rc < 0) {
		if (rc == -ENOMEM)
			snprintf(why, n, "out of memory");
		else
			snprintf(why, n, "%s:%d: %s; nothing stored", err.source, err.line, err.text);
		goto out;
	}
	rc = report_import_parsed(t, base, &r, now, &o, why, n);
	if (rc < 0)
		goto out;
	log_info("control: tenant %s: import-report %s by uid %u: %zu rows, %s", tenant, path, (unsigned)peer->uid, r.n,
	         o.duplicate ? "already imported, nothing added" : "stored");
	doc = import_summary(&r);
	if (doc == NULL) {
		rc = -ENOMEM;
		snprintf(why, n, "out of memory");
		goto out;
	}
	json_object_set_new(doc, "tenant", json_string(tenant));
	json_object_set_new(doc, "file", json_string(path));
	json_object_set_new(doc, "sha256", json_string(r.sha256));
	json_object_set_new(doc, "duplicate", json_boolean(o.duplicate));
	json_object_set_new(doc, "imported_at", sw_json_time_or_null(o.file.imported));
	json_object_set_new(doc, "imported_as", json_string(o.file.name));
	json_object_set_new(doc, "changed", json_integer((json_int_t)o.changed));
	*ret_data = doc;
	if (!o.duplicate)
		daemon_source_done(d, t, "report", true); /* detect and deliver now */
out:
	sw_report_clear(&r);
	return rc < 0 ? rc : 0;
}

/* ---- report ---- */

struct tenant_report {
	json_t *basic, *oauth, *unknown; /* arrays of sender objects */
	json_t *by_sender;               /* sender -> its object in basic (borrowed) */
	json_t *weeks;                   /* week -> object */
	const struct sw_register *reg;
	int64_t now;
	int64_t usage_smtp;              /* users with SMTP App activity in the usage report */
};

/* Register status of a sender: approved, expired, not registered. */
static void register_fields(const struct tenant_report *x, const char *sender, json_t *o)
{
	const struct sw_exception *e = sw_register_find(x->reg, sender);

	if (e == NULL) {
		json_object_set_new(o, "register", json_string("not registered"));
		return;
	}
	json_object_set_new(o, "register", json_string(sw_exception_active(e, x->now) ? "approved" : "expired"));
	json_object_set_new(o, "owner", e->owner ? json_string(e->owner) : json_null());
	json_object_set_new(o, "ticket", e->ticket ? json_string(e->ticket) : json_null());
	json_object_set_new(o, "expires", e->expires_text ? json_string(e->expires_text) : json_null());
	if (e->max_daily_messages >= 0)
		json_object_set_new(o, "max_daily_messages", json_integer(e->max_daily_messages));
}

static int usage_cb(const struct sw_report_usage *u, void *arg)
{
	struct tenant_report *x = arg;
	json_t *o = json_pack("{s:s,s:I,s:o,s:o,s:I,s:[s]}", "sender", u->sender, "messages",
	                      (json_int_t)llround(u->messages), "first_seen", sw_json_day_or_null(u->first_day),
	                      "last_seen", sw_json_day_or_null(u->last_day), "signins", (json_int_t)0, "sources",
	                      "report");

	if (o == NULL)
		return -ENOMEM;
	if (u->max_tls10 > 0 || u->max_tls11 > 0)
		json_object_set_new(o, "legacy_tls_messages", json_integer((json_int_t)llround(u->legacy_messages)));
	if (u->auth == SW_AUTH_BASIC) {
		register_fields(x, u->sender, o);
		json_object_set(x->by_sender, u->sender, o);
	}
	return json_array_append_new(u->auth == SW_AUTH_BASIC ? x->basic : u->auth == SW_AUTH_OAUTH ? x->oauth
	                                                                                           : x->unknown, o);
}

/* Successful SMTP sign-ins count as Basic evidence (as the rule treats them). */
static int signin_cb(const struct sw_signin_sender *u, void *arg)
{
	struct tenant_report *x = arg;
	json_t *o = json_object_get(x->by_sender, u->upn);
	char last[32];

	if (o == NULL) {
		o = json_pack("{s:s,s:n,s:o,s:o,s:I,s:[s]}", "sender", u->upn, "messages", "first_seen",
		              sw_json_day_or_null(u->first), "last_seen", sw_json_day_or_null(u->last), "signins",
		              (json_int_t)u->count, "sources", "signins");
		if (o == NULL)
			return -ENOMEM;
		register_fields(x, u->upn, o);
		json_object_set(x->by_sender, u->upn, o);
		return json_array_append_new(x->basic, o);
	}
	json_object_set_new(o, "signins", json_integer(u->count));
	json_array_append_new(json_object_get(o, "sources"), json_string("signins"));
	sw_time_format(u->last, last, sizeof(last));
	last[10] = '\0';
	const char *have = json_string_value(json_object_get(o, "last_seen"));
	if (have == NULL || strcmp(have, last) < 0)
		json_object_set_new(o, "last_seen", json_string(last));
	return 0;
}

/* SMTP App activity in the email app usage report: SMTP AUTH, Basic or
 * OAuth not known.  A sender already listed gains "usage" among its
 * sources; another is listed under unknown. */
static int usage_report_cb(const struct sw_usage_smtp *u, void *arg)
{
	struct tenant_report *x = arg;
	json_t *o = json_object_get(x->by_sender, u->upn);
	char last[32];

	x->usage_smtp++;
	if (o != NULL)
		return json_array_append_new(json_object_get(o, "sources"), json_string("usage"));
	sw_time_format(u->last_activity > 0 ? u->last_activity : u->last_day, last, sizeof(last));
	last[10] = '\0';
	o = json_pack("{s:s,s:n,s:o,s:s,s:I,s:[s],s:s}", "sender", u->upn, "messages", "first_seen",
	              sw_json_day_or_null(u->first_day - 6 * SW_DAY), "last_seen", last, "signins", (json_int_t)0,
	              "sources", "usage", "auth", "unknown");
	if (o == NULL)
		return -ENOMEM;
	register_fields(x, u->upn, o);
	json_object_set(x->by_sender, u->upn, o);
	return json_array_append_new(x->unknown, o);
}

static int week_cb(const struct sw_report_week *w, void *arg)
{
	struct tenant_report *x = arg;
	char key[32];
	json_t *o;

	sw_time_format(w->week, key, sizeof(key));
	key[10] = '\0';
	o = json_object_get(x->weeks, key);
	if (o == NULL) {
		o = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I}", "week", key, "basic_senders", (json_int_t)0,
		              "basic_messages", (json_int_t)0, "oauth_senders", (json_int_t)0, "oauth_messages",
		              (json_int_t)0, "unknown_senders", (json_int_t)0, "unknown_messages", (json_int_t)0);
		if (o == NULL || json_object_set_new(x->weeks, key, o) < 0)
			return -ENOMEM;
	}
	char ks[32], km[32];
	snprintf(ks, sizeof(ks), "%s_senders", sw_report_auth_name(w->auth));
	snprintf(km, sizeof(km), "%s_messages", sw_report_auth_name(w->auth));
	json_object_set_new(o, ks, json_integer(w->senders));
	json_object_set_new(o, km, json_integer((json_int_t)llround(w->messages)));
	return 0;
}

/* One tenant's readiness document; NULL with why on failure. */
/* Mailboxes evaluated through every layer per report (the rest counted
 * as not evaluated): a tenant whose switch is on has every mailbox. */
#define REPORT_VERDICTS_MAX 20000
#define REPORT_CAN_SUCCEED_NAMED 50

struct verdict_count {
	struct sw_effective_ctx *eff;
	int64_t n[SW_ACCESS_UNKNOWN + 1], evaluated;
	json_t *named; /* the first mailboxes on which Basic can succeed */
};

static int verdict_count_cb(const struct sw_mailbox_row *m, void *arg)
{
	struct verdict_count *vc = arg;
	struct sw_verdict v;
	int r = sw_effective_mailbox(vc->eff, m, &v);

	if (r < 0)
		return r;
	vc->n[v.basic]++;
	vc->evaluated++;
	if (v.basic == SW_ACCESS_ALLOWED && json_array_size(vc->named) < REPORT_CAN_SUCCEED_NAMED)
		json_array_append_new(vc->named, json_string(m->address));
	sw_verdict_clear(&v);
	return 0;
}

/* "basic_smtp": of the mailboxes on which the switches allow SMTP AUTH,
 * how many can really use Basic (every layer), how many cannot, and how
 * many depend on conditions or on a layer not read.  eff: the tenant's
 * layers, or NULL when they could not be loaded. */
static json_t *basic_smtp_counts(struct daemon *d, struct tenant *t, struct sw_effective_ctx *eff)
{
	struct verdict_count vc = {.eff = eff};
	json_t *o = NULL;

	if (eff == NULL)
		return json_null();
	vc.named = json_array();
	if (vc.named != NULL && eff->have_state &&
	    sw_store_mailboxes_switched_on(d->store, t->cfg->name, eff->state.smtp_disabled, REPORT_VERDICTS_MAX + 1,
	                                   verdict_count_cb, &vc) >= 0) {
		bool more = vc.evaluated > REPORT_VERDICTS_MAX;
		o = json_pack("{s:I,s:I,s:I,s:I,s:I,s:b,s:O}", "switched_on", (json_int_t)vc.evaluated, "can_succeed",
		              (json_int_t)vc.n[SW_ACCESS_ALLOWED], "blocked", (json_int_t)vc.n[SW_ACCESS_BLOCKED],
		              "conditional", (json_int_t)vc.n[SW_ACCESS_CONDITIONAL], "unknown",
		              (json_int_t)vc.n[SW_ACCESS_UNKNOWN], "truncated", more, "can_succeed_mailboxes", vc.named);
	}
	json_decref(vc.named);
	return o ? o : json_null();
}

/* One tenant's readiness document (control_review_add() adds what the
 * reports people read show); NULL with why on failure.  eff as for
 * basic_smtp_counts(). */
static json_t *tenant_report(struct daemon *d, struct tenant *t, int64_t since, int64_t now,
                             struct sw_effective_ctx *eff, char *why, size_t n)
{
	struct tenant_report x = {.reg = t->reg, .now = now};
	struct sw_report_imports imp;
	struct sw_tenant_state ts;
	json_t *doc = NULL, *weeks = NULL;
	const char *key;
	json_t *v;
	int r;

	x.basic = json_array();
	x.oauth = json_array();
	x.unknown = json_array();
	x.by_sender = json_object();
	x.weeks = json_object();
	weeks = json_array();
	if (!x.basic || !x.oauth || !x.unknown || !x.by_sender || !x.weeks || !weeks) {
		r = -ENOMEM;
		goto out;
	}
	r = sw_store_report_usage(d->store, t->cfg->name, since, usage_cb, &x);
	if (r >= 0)
		r = sw_store_report_signin_senders(d->store, t->cfg->name, since, signin_cb, &x);
	if (r >= 0)
		r = sw_store_usage_smtp_users(d->store, t->cfg->name, since, usage_report_cb, &x);
	if (r >= 0)
		r = sw_store_report_weeks(d->store, t->cfg->name, since, week_cb, &x);
	if (r >= 0)
		r = sw_store_report_imports(d->store, t->cfg->name, &imp);
	if (r < 0)
		goto out;
	json_object_foreach(x.weeks, key, v) json_array_append(weeks, v);

	size_t nb = json_array_size(x.basic), unreg = 0;
	json_t *e;
	size_t i;
	json_array_foreach(x.basic, i, e) {
		if (strcmp(json_string_value(json_object_get(e, "register")) ?: "", "approved") != 0)
			unreg++;
	}
	long days = (long)((BASIC_DEFAULT_OFF - now) / SW_DAY);
	char text[600];
	const char *state;
	bool have_data = imp.files > 0 || nb > 0 || json_array_size(x.oauth) > 0 || x.usage_smtp > 0;
	if (now < BASIC_DEFAULT_OFF) {
		if (nb > 0) {
			state = "not-ready";
			snprintf(text, sizeof(text), "%zu sender%s still submit%s with Basic SMTP AUTH (%zu without an approved "
			         "exception); Microsoft disables Basic SMTP AUTH by default at the end of December 2026 (in %ld "
			         "day%s): move them to OAuth", nb, nb == 1 ? "" : "s", nb == 1 ? "s" : "", unreg, days,
			         days == 1 ? "" : "s");
		} else if (!have_data) {
			state = "unknown";
			snprintf(text, sizeof(text), "no SMTP AUTH clients report imported and no SMTP sign-ins in the period: "
			         "export the report from the EAC and import it (smtpwatchctl import-report)");
		} else {
			state = "ready";
			snprintf(text, sizeof(text), "no Basic SMTP AUTH submissions in the period: the end-of-December-2026 "
			         "default change will not interrupt mail flow");
		}
	} else if (nb > 0) {
		state = "basic-after-default-change";
		snprintf(text, sizeof(text), "%zu sender%s still submit%s with Basic SMTP AUTH after Microsoft disabled it "
		         "by default: it was turned back on", nb, nb == 1 ? "" : "s", nb == 1 ? "s" : "");
	} else {
		state = have_data ? "retired" : "unknown";
		snprintf(text, sizeof(text), "%s", have_data ? "no Basic SMTP AUTH submissions in the period"
		                                             : "no SMTP AUTH clients report imported and no SMTP sign-ins");
	}
	/* What the verdict rests on, and what the usage report adds. */
	struct sw_usage_state us;
	bool have_us = sw_store_usage_state_get(d->store, t->cfg->name, &us) == 0;
	bool signins = sw_detect_signins_available(d->store, t->cfg->name, now);
	if (x.usage_smtp > 0 && !signins && nb == 0 && (strcmp(state, "ready") == 0 || strcmp(state, "retired") == 0)) {
		/* SMTP AUTH is in use and nothing says whether with Basic:
		 * not "ready". */
		state = "unknown";
		snprintf(text, sizeof(text), "%lld user%s sent over SMTP AUTH in the email app usage report, and without "
		         "Entra ID P1 it is not known whether with Basic or OAuth: import the SMTP AUTH clients report "
		         "(smtpwatchctl import-report) to tell", (long long)x.usage_smtp, x.usage_smtp == 1 ? "" : "s");
	} else if (x.usage_smtp > 0 && strlen(text) + 200 < sizeof(text)) {
		size_t l = strlen(text);
		snprintf(text + l, sizeof(text) - l, "; %lld user%s with SMTP App activity in the email app usage report%s",
		         (long long)x.usage_smtp, x.usage_smtp == 1 ? "" : "s",
		         signins ? "" : " (Basic or OAuth not known without Entra ID P1)");
	}
	json_t *evidence = json_array();
	if (signins)
		json_array_append_new(evidence, json_string("signins"));
	if (imp.files > 0)
		json_array_append_new(evidence, json_string("report"));
	if (have_us)
		json_array_append_new(evidence, json_string("usage"));
	char rday[32] = "";
	if (have_us && us.refresh_day > 0) {
		sw_time_format(us.refresh_day, rday, sizeof(rday));
		rday[10] = '\0';
	}
	json_t *usage = have_us ? json_pack("{s:s?,s:I,s:b,s:I}", "refresh_date", rday[0] ? rday : NULL, "smtp_users",
	                                    (json_int_t)x.usage_smtp, "names_concealed", us.concealed,
	                                    "concealed_smtp_users", (json_int_t)us.concealed_smtp)
	                        : json_null();
	bool have_ts = sw_store_tenant_state_get(d->store, t->cfg->name, &ts) == 0;
	doc = json_pack("{s:s,s:s,s:s,s:s,s:I,s:o,s:o,s:{s:I,s:o,s:o,s:o},s:O,s:O,s:O,s:O}", "tenant", t->cfg->name,
	                "tenant_id", t->cfg->tenant_id, "state", state, "state_text", text, "days_to_default_change",
	                (json_int_t)(days > 0 ? days : 0), "smtp_auth_tenant",
	                have_ts ? json_string(ts.smtp_disabled ? "disabled" : "enabled") : json_null(),
	                "default_policy_blocks_basic", have_ts ? json_boolean(!ts.policy_allows_basic) : json_null(),
	                "reports", "files", (json_int_t)imp.files, "last_import", sw_json_time_or_null(imp.last_import),
	                "first_day", sw_json_day_or_null(imp.first_day), "last_day", sw_json_day_or_null(imp.last_day),
	                "basic", x.basic, "oauth", x.oauth, "unknown", x.unknown, "weeks", weeks);
	if (doc != NULL) {
		json_object_set_new(doc, "evidence", evidence);
		json_object_set_new(doc, "usage", usage);
		json_object_set_new(doc, "signins_readable", json_boolean(signins));
		json_object_set_new(doc, "basic_smtp", basic_smtp_counts(d, t, eff));
	} else {
		json_decref(evidence);
		json_decref(usage);
		r = -ENOMEM;
	}
out:
	if (r < 0)
		snprintf(why, n, "tenant %s: cannot build the report: %s", t->cfg->name,
		         r == -ENOMEM ? "out of memory" : sw_store_errmsg(d->store));
	json_decref(x.basic);
	json_decref(x.oauth);
	json_decref(x.unknown);
	json_decref(x.by_sender);
	json_decref(x.weeks);
	json_decref(weeks);
	return r < 0 ? NULL : doc;
}

/* The report being built, a tenant a step (struct control_job): at MSP
 * scale the whole document took seconds of one loop turn.  The tenants
 * are named at the start; one a reload removed meanwhile is left out.
 * The reply is written as it goes (job.reply, which control.c sends a
 * piece at a time): json dumps each tenant's part when it is made, csv
 * renders its rows then.  html's page begins with a summary of every
 * tenant, so each tenant's section is rendered when its part is made and
 * spooled, escaped as the reply's "text" string has it, to an unlinked
 * file in the state directory, and only what the summary reads is kept;
 * once every tenant is in, the head and summary go out, then the spool a
 * piece a step.  No step encodes the whole document, and no part of it
 * is held for long (at 10,000 tenants the html page is 150 MB, and its
 * document, as jansson objects, about 40 KB a tenant: bench/README.md). */
#define REPORT_SPOOL_PIECE (256 * 1024)
struct report_job {
	struct control_job job;
	struct daemon *d;
	json_t *doc;     /* without "tenants" unless html */
	json_t *tenants; /* html: the summary parts, borrowed from doc; else NULL */
	char format[8];  /* json, csv or html */
	bool bom, begun, head;
	int64_t since, now;
	char **names;
	size_t n_names, next, done;
	struct sw_buf text; /* the piece of csv or html being rendered */
	struct sw_buf esc;  /* html: a section escaped, on its way to the spool */
	int spool;          /* html: the sections so far, or -1 */
	off_t spooled, sent;
};

static void report_job_free(struct control_job *job)
{
	struct report_job *j = (struct report_job *)job;

	daemon_tenant_names_free(j->names, j->n_names);
	json_decref(j->doc);
	sw_buf_clear(&j->text);
	sw_buf_clear(&j->esc);
	if (j->spool >= 0)
		close(j->spool);
	free(j);
}

/* Append json compactly, as sw_proto_reply_ok would have put it. */
static int reply_json(struct sw_buf *out, const json_t *v)
{
	size_t need = json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);

	if (need == 0 || sw_buf_reserve(out, need + 1) < 0)
		return -ENOMEM;
	json_dumpb(v, out->data + out->len, need, JSON_COMPACT | JSON_ENCODE_ANY);
	out->len += need;
	out->data[out->len] = '\0';
	return 0;
}

/* Append the piece of text made last (j->text) to out as the inside of
 * the reply's "text" string, escaped as jansson escapes a string (so the
 * reply is the one a single json_dumps of the whole text gave), and
 * empty j->text. */
static int text_escaped(struct report_job *j, struct sw_buf *out)
{
	json_t *str = json_stringn(j->text.data ? j->text.data : "", j->text.len);
	size_t at = out->len;
	int r;

	if (str == NULL)
		return -ENOMEM;
	r = reply_json(out, str); /* "...": the quotes dropped */
	json_decref(str);
	if (r < 0)
		return r;
	memmove(out->data + at, out->data + at + 1, out->len - at - 2);
	out->len -= 2;
	out->data[out->len] = '\0';
	j->text.len = 0;
	return 0;
}

/* The piece of text made last into the reply's "text" string. */
static int reply_text_piece(struct report_job *j)
{
	return text_escaped(j, &j->job.reply);
}

/* html: the section of a tenant, made last (j->text), to the end of the
 * spool, made at the first; -errno with why. */
static int spool_section(struct report_job *j, char *why, size_t n)
{
	const char *dir = j->d->cfg->daemon.state_dir;
	int r = text_escaped(j, &j->esc);

	if (r < 0) {
		snprintf(why, n, "out of memory");
		return r;
	}
	if (j->spool < 0) {
		j->spool = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (j->spool < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
			/* No O_TMPFILE on this file system: a name, unlinked at once. */
			char path[PATH_MAX];
			snprintf(path, sizeof(path), "%s/.report-XXXXXX", dir);
			j->spool = mkostemp(path, O_CLOEXEC);
			if (j->spool >= 0)
				unlink(path);
		}
		if (j->spool < 0) {
			r = -errno;
			snprintf(why, n, "cannot spool the html report in %s: %s", dir, strerror(errno));
			return r;
		}
	}
	for (size_t off = 0; off < j->esc.len;) {
		ssize_t w = write(j->spool, j->esc.data + off, j->esc.len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			r = -errno;
			snprintf(why, n, "cannot spool the html report in %s: %s", dir, strerror(errno));
			return r;
		}
		off += (size_t)w;
	}
	j->spooled += (off_t)j->esc.len;
	j->esc.len = 0;
	return 0;
}

/* html: the next piece of the spool into the reply: 1 when it is all
 * out, 0 for more, -errno with why. */
static int spool_piece(struct report_job *j, char *why, size_t n)
{
	size_t want = j->spooled - j->sent < REPORT_SPOOL_PIECE ? (size_t)(j->spooled - j->sent) : REPORT_SPOOL_PIECE;
	struct sw_buf *out = &j->job.reply;
	ssize_t got;

	if (want == 0)
		return 1;
	if (sw_buf_reserve(out, want + 1) < 0) {
		snprintf(why, n, "out of memory");
		return -ENOMEM;
	}
	do
		got = pread(j->spool, out->data + out->len, want, j->sent);
	while (got < 0 && errno == EINTR);
	if (got <= 0) {
		int e = got < 0 ? errno : EIO;
		snprintf(why, n, "cannot read the html report back from %s: %s", j->d->cfg->daemon.state_dir,
		         got < 0 ? strerror(e) : "the spool is short");
		return -e;
	}
	out->len += (size_t)got;
	out->data[out->len] = '\0';
	j->sent += got;
	return j->sent == j->spooled;
}

/* The reply's beginning: json, the document's fields up to its tenants
 * list; csv and html, the wrapper up to the text string's first quote,
 * and for csv the header. */
static int report_job_begin(struct report_job *j)
{
	struct sw_buf *out = &j->job.reply;
	int r;

	if (strcmp(j->format, "json") == 0) {
		r = reply_json(out, j->doc);
		if (r < 0)
			return r;
		out->len--; /* the closing brace */
		return sw_buf_append(out, ",\"tenants\":[", 12);
	}
	r = sw_buf_printf(out, "{\"format\":\"%s\",\"text\":\"", j->format);
	if (r >= 0 && strcmp(j->format, "csv") == 0) {
		r = sw_inventory_csv_head(j->bom, &j->text);
		if (r >= 0)
			r = reply_text_piece(j);
	}
	return r;
}

/* One tenant's part into the reply (json, csv), or its section into the
 * spool and its summary part into the document (html); -errno with why. */
static int report_job_add(struct report_job *j, json_t *tr, char *why, size_t n)
{
	int r = 0;

	if (strcmp(j->format, "html") == 0) {
		json_t *part = sw_report_html_summary_part(tr);
		r = part != NULL && json_array_append_new(j->tenants, part) == 0 ? 0 : -ENOMEM;
		r = r < 0 ? r : sw_report_html_tenant(tr, &j->text);
		json_decref(tr);
		if (r < 0) {
			snprintf(why, n, "out of memory");
			return r;
		}
		return spool_section(j, why, n);
	}
	if (strcmp(j->format, "json") == 0) {
		if (j->done > 0)
			r = sw_buf_putc(&j->job.reply, ',');
		if (r >= 0)
			r = reply_json(&j->job.reply, tr);
	} else {
		r = sw_inventory_csv_tenant(tr, &j->text);
		if (r >= 0)
			r = reply_text_piece(j);
	}
	json_decref(tr);
	if (r < 0)
		snprintf(why, n, "out of memory");
	return r;
}

/* The reply's beginning; then one tenant's part (its layers loaded once,
 * for the basic_smtp counts and the legacy-auth-blocked check); then,
 * for html, the head and a tenant's section a step; then the end. */
static int report_job_step(struct control_job *job, json_t **ret_data, char *why, size_t n)
{
	struct report_job *j = (struct report_job *)job;
	struct daemon *d = j->d;
	int r;

	(void)ret_data; /* the reply is written in job->reply */
	if (!j->begun) {
		j->begun = true;
		r = report_job_begin(j);
		goto out;
	}
	while (j->next < j->n_names && j->names[j->next] == NULL)
		j->next++; /* a report of one tenant */
	if (j->next < j->n_names) {
		struct tenant *t = daemon_tenant_at(d, j->next, j->names[j->next]);
		struct sw_effective_ctx eff;
		bool have_eff;
		json_t *tr;

		j->next++;
		if (t == NULL)
			return 0; /* removed by a reload since the request */
		have_eff = sw_effective_load(d->store, t->cfg->name, &eff) == 0;
		tr = tenant_report(d, t, j->since, j->now, have_eff ? &eff : NULL, why, n);
		r = tr == NULL ? -EIO : control_review_add(d, t, tr, j->since, j->now, have_eff ? &eff : NULL, why, n);
		if (have_eff)
			sw_effective_free(&eff);
		if (r < 0) {
			json_decref(tr);
			return -EIO;
		}
		r = report_job_add(j, tr, why, n);
		if (r < 0)
			return r;
		j->done++;
		return 0;
	}
	if (strcmp(j->format, "html") == 0 && !j->head) {
		/* Every tenant is in: the head and the summary, then the spool. */
		j->head = true;
		r = sw_report_html_begin(j->doc, &j->text);
		if (r >= 0)
			r = reply_text_piece(j);
		goto out;
	}
	if (strcmp(j->format, "html") == 0 && j->sent < j->spooled) {
		r = spool_piece(j, why, n);
		return r < 0 ? r : 0;
	}
	if (strcmp(j->format, "html") == 0) {
		r = sw_report_html_end(&j->text);
		if (r >= 0)
			r = reply_text_piece(j);
	} else {
		r = 0;
	}
	if (r >= 0)
		r = sw_buf_append(&j->job.reply, strcmp(j->format, "json") == 0 ? "]}" : "\"}", 2);
	if (r >= 0)
		return 1;
out:
	if (r < 0) {
		snprintf(why, n, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* report {"format":"csv"|"json"|"html","since":"DUR","tenant":NAME,"bom":bool}:
 * the readiness report of every tenant (or one).  csv and html answer
 * {"format":..,"text":..}, rendered from the same document json gives.
 * Answered later: built a tenant a step across loop turns (report_job). */
int control_cmd_report(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data,
                       char *why, size_t n)
{
	const char *format = json_string_value(json_object_get(req, "format"));
	json_t *jsince = json_object_get(req, "since"), *jtenant = json_object_get(req, "tenant");
	json_t *jbom = json_object_get(req, "bom");
	const char *only = json_string_value(jtenant);
	int64_t now = daemon_now(), dur = REPORT_DEFAULT_SINCE;

	if (peer->later == NULL) {
		snprintf(why, n, "report answers on the control socket only");
		return -ENOTSUP;
	}
	if (format != NULL && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0 && strcmp(format, "html") != 0) {
		snprintf(why, n, "\"format\" must be csv, json or html");
		return -EINVAL;
	}
	if (json_is_string(jsince)) {
		if (sw_duration_parse(json_string_value(jsince), &dur) < 0 || dur <= 0) {
			snprintf(why, n, "invalid duration \"%.40s\" (use 30s, 5m, 2h, 7d)", json_string_value(jsince));
			return -EINVAL;
		}
	} else if (jsince != NULL && !json_is_null(jsince)) {
		snprintf(why, n, "\"since\" must be a duration such as \"90d\"");
		return -EINVAL;
	}
	if (jtenant != NULL && !json_is_null(jtenant) && (only == NULL || only[0] == '\0')) {
		snprintf(why, n, "\"tenant\" must be a tenant name");
		return -EINVAL;
	}
	if (only != NULL && daemon_tenant(d, only) == NULL) {
		snprintf(why, n, "unknown tenant \"%.64s\"", only);
		return -ENOENT;
	}
	if (jbom != NULL && !json_is_boolean(jbom)) {
		snprintf(why, n, "\"bom\" must be true or false");
		return -EINVAL;
	}
	/* Whole days: the report counts days. */
	int64_t since = (now - dur) / SW_DAY * SW_DAY;
	struct report_job *j = calloc(1, sizeof(*j));
	/* Kept at the tenant's index (daemon_tenant_at), NULL where not asked for. */
	if (j == NULL || (j->names = daemon_tenant_names(d, only, &j->n_names)) == NULL) {
		free(j);
		snprintf(why, n, "out of memory");
		return -ENOMEM;
	}
	j->job.step = report_job_step;
	j->job.free = report_job_free;
	j->job.name = "report";
	j->d = d;
	j->spool = -1;
	snprintf(j->format, sizeof(j->format), "%s", format != NULL ? format : "json");
	j->bom = json_is_true(jbom);
	j->since = since;
	j->now = now;
	j->doc = json_pack("{s:o,s:o,s:I,s:s,s:o}", "generated", sw_json_time_or_null(now), "since",
	                   sw_json_day_or_null(since), "period_days", (json_int_t)((now - since) / SW_DAY),
	                   "basic_default_off", "2026-12-31", "tenant", only ? json_string(only) : json_null());
	if (j->doc != NULL && strcmp(j->format, "html") == 0 &&
	    json_object_set_new(j->doc, "tenants", j->tenants = json_array()) < 0)
		j->tenants = NULL;
	if (j->doc == NULL || (strcmp(j->format, "html") == 0 && j->tenants == NULL)) {
		report_job_free(&j->job);
		snprintf(why, n, "out of memory");
		return -ENOMEM;
	}
	*peer->later = &j->job;
	return CONTROL_LATER;
}
