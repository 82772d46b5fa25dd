/* detect.c: the rules.  Sign-in rules read only the sign-ins stored since
 * their last run (a rowid cursor kept as the "detect" checkpoint), so a
 * poll never rescans history; late records get a new rowid when they are
 * finally stored, so they are examined exactly once too. */
#include "detect.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lifecycle.h"

#define DETECT_PAGE 5000
#define EVIDENCE_IDS_MAX 20

/* One sender's unapproved submissions within a page. */
struct submitter {
	char *upn;
	int64_t first, last, count;
	json_t *ips;       /* array of strings */
	json_t *countries; /* array of strings */
	json_t *ids;       /* array of strings, capped */
};

struct submitters {
	struct submitter *items;
	size_t n, cap;
};

/* Append s to a JSON string array unless present (or the array is full). */
static void json_array_add_unique(json_t *arr, const char *s, size_t cap)
{
	size_t i;
	json_t *v;

	if (s == NULL || *s == '\0' || json_array_size(arr) >= cap)
		return;
	json_array_foreach(arr, i, v) {
		if (strcmp(json_string_value(v), s) == 0)
			return;
	}
	json_array_append_new(arr, json_string(s));
}

/* Find or add the group for upn. */
static struct submitter *submitters_get(struct submitters *g, const char *upn)
{
	for (size_t i = 0; i < g->n; i++)
		if (strcmp(g->items[i].upn, upn) == 0)
			return &g->items[i];
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 16;
		struct submitter *n = realloc(g->items, cap * sizeof(*n));
		if (n == NULL)
			return NULL;
		g->items = n;
		g->cap = cap;
	}
	struct submitter *s = &g->items[g->n];
	memset(s, 0, sizeof(*s));
	s->upn = strdup(upn);
	s->ips = json_array();
	s->countries = json_array();
	s->ids = json_array();
	if (s->upn == NULL || s->ips == NULL || s->countries == NULL || s->ids == NULL) {
		free(s->upn);
		json_decref(s->ips);
		json_decref(s->countries);
		json_decref(s->ids);
		return NULL;
	}
	g->n++;
	return s;
}

/* Free every group. */
static void submitters_clear(struct submitters *g)
{
	for (size_t i = 0; i < g->n; i++) {
		free(g->items[i].upn);
		json_decref(g->items[i].ips);
		json_decref(g->items[i].countries);
		json_decref(g->items[i].ids);
	}
	free(g->items);
	memset(g, 0, sizeof(*g));
}

/* Join a JSON string array as "a, b, c" (at most 3 shown). */
static void join_list(const json_t *arr, char *buf, size_t n)
{
	size_t i, off = 0;
	json_t *v;

	buf[0] = '\0';
	json_array_foreach(arr, i, v) {
		if (i == 3) {
			snprintf(buf + off, n - off, " and %zu more", json_array_size(arr) - 3);
			return;
		}
		int w = snprintf(buf + off, n - off, "%s%s", i ? ", " : "", json_string_value(v));
		if (w < 0 || (size_t)w >= n - off)
			return;
		off += (size_t)w;
	}
}

/* Raise (or grow) the unapproved-submission alert for one sender. */
static int fire_unapproved(struct sw_store *s, const struct sw_config *cfg, const char *tenant,
                           struct submitter *sub, int64_t now, struct sw_detect_stats *st)
{
	struct sw_alert prior = {0};
	int64_t total = sub->count;
	json_t *ips = json_deep_copy(sub->ips);
	json_t *evidence = NULL;
	char ipbuf[160], summary[512], remediation[256];
	bool notified = false;
	int r = -ENOMEM;

	if (ips == NULL)
		goto fail;
	/* The summary speaks of the whole condition, not just this batch. */
	if (sw_store_alert_find(s, SW_RULE_UNAPPROVED_BASIC_AUTH, tenant, sub->upn, &prior) == 0 &&
	    prior.status == SW_ALERT_FIRING) {
		total += prior.count;
		json_t *old = prior.evidence ? json_object_get(prior.evidence, "ips") : NULL;
		size_t i;
		json_t *v;
		json_array_foreach(old, i, v) json_array_add_unique(ips, json_string_value(v), 50);
	}
	join_list(ips, ipbuf, sizeof(ipbuf));
	snprintf(summary, sizeof(summary),
	         "%s sent %lld message%s with Basic SMTP AUTH from %s and is not in the exception register",
	         sub->upn, (long long)total, total == 1 ? "" : "s", ipbuf);
	snprintf(remediation, sizeof(remediation),
	         "Set-CASMailbox -Identity %s -SmtpClientAuthenticationDisabled $true", sub->upn);
	evidence = json_pack("{s:O,s:O,s:O}", "ips", sub->ips, "countries", sub->countries, "signin_ids", sub->ids);
	if (evidence == NULL)
		goto fail;
	struct sw_condition c = {
		.rule = SW_RULE_UNAPPROVED_BASIC_AUTH,
		.severity = SW_SEV_HIGH,
		.tenant = tenant,
		.subject = sub->upn,
		.first_seen = sub->first,
		.last_seen = sub->last,
		.count = sub->count,
		.accumulate = true,
		.summary = summary,
		.remediation = remediation,
		.evidence = evidence,
	};
	r = sw_lifecycle_fire(s, cfg, &c, now, &notified);
	if (r >= 0 && notified)
		st->fired++;
fail:
	sw_alert_clear(&prior);
	json_decref(ips);
	json_decref(evidence);
	return r;
}

struct resolve_ctx {
	const struct sw_register *reg;
	int64_t now;
	char **subjects;
	size_t n, cap;
};

/* Collect firing unapproved-submission alerts whose sender is now approved. */
static int collect_approved_cb(const struct sw_alert *a, void *arg)
{
	struct resolve_ctx *rc = arg;
	const struct sw_exception *e = sw_register_find(rc->reg, a->subject);

	if (e == NULL || !sw_exception_active(e, rc->now))
		return 0;
	if (rc->n == rc->cap) {
		size_t cap = rc->cap ? rc->cap * 2 : 8;
		char **n = realloc(rc->subjects, cap * sizeof(*n));
		if (n == NULL)
			return -ENOMEM;
		rc->subjects = n;
		rc->cap = cap;
	}
	rc->subjects[rc->n] = strdup(a->subject);
	if (rc->subjects[rc->n] == NULL)
		return -ENOMEM;
	rc->n++;
	return 0;
}

/* A sender that was registered since its alert fired: the condition clears. */
static int resolve_approved(struct sw_store *s, const struct sw_config *cfg, const char *tenant,
                            const struct sw_register *reg, int64_t now, struct sw_detect_stats *st)
{
	struct resolve_ctx rc = {.reg = reg, .now = now};
	int r = sw_store_alerts_firing(s, SW_RULE_UNAPPROVED_BASIC_AUTH, tenant, collect_approved_cb, &rc);

	for (size_t i = 0; r >= 0 && i < rc.n; i++) {
		r = sw_lifecycle_resolve(s, cfg, SW_RULE_UNAPPROVED_BASIC_AUTH, tenant, rc.subjects[i], now);
		if (r >= 0)
			st->resolved++;
	}
	for (size_t i = 0; i < rc.n; i++)
		free(rc.subjects[i]);
	free(rc.subjects);
	return r;
}

/* Examine one page of new sign-ins; *ret_more says whether more remain. */
static int detect_signins_page(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                               const struct sw_register *reg, int64_t now, struct sw_detect_stats *st,
                               bool *ret_more)
{
	static const char sql[] = "SELECT rowid, id, created, upn, ip, country, error_code FROM signins "
	                          "WHERE tenant = ?1 AND rowid > ?2 ORDER BY rowid LIMIT ?3";
	struct sw_checkpoint cp;
	struct submitters groups = {0};
	sqlite3_stmt *st_sel = NULL;
	int64_t rows = 0;
	int r;

	r = sw_store_begin(s);
	if (r < 0)
		return r;
	r = sw_store_checkpoint_get(s, t->name, "detect", &cp);
	if (r < 0 && r != -ENOENT)
		goto fail;
	if (sqlite3_prepare_v2(sw_store_db(s), sql, -1, &st_sel, NULL) != SQLITE_OK) {
		r = -EIO;
		goto fail;
	}
	sqlite3_bind_text(st_sel, 1, t->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st_sel, 2, cp.watermark);
	sqlite3_bind_int(st_sel, 3, DETECT_PAGE);
	while ((r = sqlite3_step(st_sel)) == SQLITE_ROW) {
		int64_t rowid = sqlite3_column_int64(st_sel, 0);
		const char *id = (const char *)sqlite3_column_text(st_sel, 1);
		int64_t created = sqlite3_column_int64(st_sel, 2);
		const char *upn = (const char *)sqlite3_column_text(st_sel, 3);
		const char *ip = (const char *)sqlite3_column_text(st_sel, 4);
		const char *country = (const char *)sqlite3_column_text(st_sel, 5);
		int error_code = sqlite3_column_int(st_sel, 6);

		cp.watermark = rowid;
		rows++;
		if (error_code != 0 || upn == NULL)
			continue;
		const struct sw_exception *e = sw_register_find(reg, upn);
		if (e != NULL && sw_exception_active(e, created))
			continue;
		struct submitter *g = submitters_get(&groups, upn);
		if (g == NULL) {
			r = -ENOMEM;
			goto fail;
		}
		if (g->count == 0 || created < g->first)
			g->first = created;
		if (created > g->last)
			g->last = created;
		g->count++;
		json_array_add_unique(g->ips, ip, 50);
		json_array_add_unique(g->countries, country, 50);
		json_array_add_unique(g->ids, id, EVIDENCE_IDS_MAX);
	}
	if (r != SQLITE_DONE) {
		r = -EIO;
		goto fail;
	}
	sqlite3_finalize(st_sel);
	st_sel = NULL;

	for (size_t i = 0; i < groups.n; i++) {
		r = fire_unapproved(s, cfg, t->name, &groups.items[i], now, st);
		if (r < 0)
			goto fail;
	}
	st->signins_examined += rows;
	if (rows > 0) {
		cp.last_success = now;
		cp.last_attempt = now;
		r = sw_store_checkpoint_put(s, t->name, "detect", &cp);
		if (r < 0)
			goto fail;
	}
	r = sw_store_commit(s);
	if (r < 0)
		goto fail;
	submitters_clear(&groups);
	*ret_more = rows == DETECT_PAGE;
	return 0;
fail:
	sqlite3_finalize(st_sel);
	sw_store_rollback(s);
	submitters_clear(&groups);
	return r;
}

/* See detect.h. */
int sw_detect_tenant(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                     const struct sw_register *reg, int64_t now, struct sw_detect_stats *ret)
{
	struct sw_detect_stats st = {0};
	bool more = true;
	int r;

	while (more) {
		r = detect_signins_page(s, cfg, t, reg, now, &st, &more);
		if (r < 0)
			return r;
	}
	r = sw_store_begin(s);
	if (r < 0)
		return r;
	r = resolve_approved(s, cfg, t->name, reg, now, &st);
	if (r < 0) {
		sw_store_rollback(s);
		return r;
	}
	r = sw_store_commit(s);
	if (r < 0)
		return r;
	if (ret != NULL)
		*ret = st;
	return 0;
}
