/* detect_attack.c: password spray, brute force and source drift over the
 * sign-ins of one detect page (see detect_attack.h for the rules). */
#include "detect_attack.h"
#include "jsonutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lifecycle.h"
#include "store_detect.h"

#define EVIDENCE_IDS_MAX 20
#define EVIDENCE_MAX 50

/* Interned strings: each distinct string once, found by FNV-1a hashing
 * with open addressing; index 0 is "no string". */
struct pool {
	char **str;     /* str[i], i >= 1 */
	size_t n, cap;  /* strings (with the unused slot 0) */
	size_t *slots;  /* hash slots holding an index, 0 = empty */
	size_t nslots;  /* power of two */
};

/* FNV-1a. */
static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* Free every string and the slots. */
static void pool_clear(struct pool *p)
{
	for (size_t i = 1; i < p->n; i++)
		free(p->str[i]);
	free(p->str);
	free(p->slots);
	memset(p, 0, sizeof(*p));
}

/* Double the slots and rehash. */
static int pool_grow(struct pool *p)
{
	size_t nslots = p->nslots ? p->nslots * 2 : 256;
	size_t *slots = calloc(nslots, sizeof(*slots));

	if (slots == NULL)
		return -ENOMEM;
	for (size_t i = 1; i < p->n; i++) {
		size_t h = (size_t)hash_str(p->str[i]) & (nslots - 1);
		while (slots[h] != 0)
			h = (h + 1) & (nslots - 1);
		slots[h] = i;
	}
	free(p->slots);
	p->slots = slots;
	p->nslots = nslots;
	return 0;
}

/* The index of s (added if new) in *ret; NULL and "" are 0. */
static int pool_intern(struct pool *p, const char *s, size_t *ret)
{
	size_t h;

	if (s == NULL || s[0] == '\0') {
		*ret = 0;
		return 0;
	}
	if ((p->n + 1) * 2 > p->nslots && pool_grow(p) < 0)
		return -ENOMEM;
	h = (size_t)hash_str(s) & (p->nslots - 1);
	while (p->slots[h] != 0) {
		if (strcmp(p->str[p->slots[h]], s) == 0) {
			*ret = p->slots[h];
			return 0;
		}
		h = (h + 1) & (p->nslots - 1);
	}
	if (p->n == 0)
		p->n = 1;
	if (p->n >= p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 256;
		char **n = realloc(p->str, cap * sizeof(*n));
		if (n == NULL)
			return -ENOMEM;
		p->str = n;
		p->cap = cap;
	}
	p->str[p->n] = strdup(s);
	if (p->str[p->n] == NULL)
		return -ENOMEM;
	p->slots[h] = p->n;
	*ret = p->n++;
	return 0;
}

/* The string of an index ("" for 0). */
static const char *pool_str(const struct pool *p, size_t i)
{
	return i == 0 ? "" : p->str[i];
}

/* One sign-in, its strings interned. */
struct rec {
	int64_t rowid, created;
	int code;
	size_t id, upn, ip, country;
};

struct recs {
	struct rec *v;
	size_t n, cap;
};

/* Append a record. */
static int recs_add(struct recs *r, const struct rec *x)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 256;
		struct rec *n = realloc(r->v, cap * sizeof(*n));
		if (n == NULL)
			return -ENOMEM;
		r->v = n;
		r->cap = cap;
	}
	r->v[r->n++] = *x;
	return 0;
}

/* A rule over windows of failures keyed by IP (spray) or mailbox (brute force). */
struct window_rule {
	const char *rule;
	enum sw_severity severity;
	bool by_ip;
	int64_t window, min_failures, min_users;
	int64_t quiet;
};

/* Everything one call works with. */
struct ctx {
	struct sw_store *s;
	const struct sw_config *cfg;
	const struct sw_tenant_config *t;
	const struct sw_register *reg;
	int64_t first, last, now;
	struct sw_detect_stats *st;
	struct pool pool;
	struct recs page;     /* the new sign-ins */
	struct recs win;      /* scratch: the failures around one cluster */
	bool *cov_all, *cov_old;
	size_t cov_cap;
	int *ucount;          /* scratch per interned string: failures in the window */
	size_t ucount_cap;
	const struct sw_exception **reg_e; /* per interned string: its register entry */
	unsigned char *reg_done;           /* ... once looked up */
	size_t reg_cap;
};

/* qsort: records by (created, rowid). */
static int rec_cmp_time(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	if (x->created != y->created)
		return x->created < y->created ? -1 : 1;
	return x->rowid < y->rowid ? -1 : x->rowid > y->rowid;
}

/* A key and the position of a new failure of it in the page. */
struct keyed {
	size_t key;
	int64_t created;
	size_t idx;
};

/* qsort: by key, then time. */
static int keyed_cmp(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	if (x->created != y->created)
		return x->created < y->created ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* See detect_attack.h. */
const char *sw_signin_error_meaning(int code)
{
	switch (code) {
	case 50126:
		return "wrong password";
	case 50053:
		return "account locked, or sign-in from a malicious IP blocked";
	case 50057:
		return "account disabled";
	case 50034:
		return "no such user";
	case 50055:
		return "password expired";
	case 50076:
	case 50074:
		return "MFA required";
	case 53003:
		return "blocked by Conditional Access";
	case 530035:
		return "blocked by security defaults";
	default:
		return NULL;
	}
}

/* Append s to a JSON string array unless present (or full). */
static void add_unique(json_t *arr, const char *s, size_t cap)
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

/* Append {"code","meaning"} to an array unless the code is there. */
static void add_code(json_t *arr, int code)
{
	size_t i;
	json_t *v;
	const char *meaning = sw_signin_error_meaning(code);

	json_array_foreach(arr, i, v) {
		if (json_integer_value(json_object_get(v, "code")) == code)
			return;
	}
	json_array_append_new(arr, json_pack("{s:i,s:s}", "code", code, "meaning", meaning ? meaning : "other failure"));
}

/* "50126 wrong password, 50053 ..." from an error_codes array. */
static void codes_text(const json_t *arr, char *buf, size_t n)
{
	size_t i, off = 0;
	json_t *v;

	buf[0] = '\0';
	json_array_foreach(arr, i, v) {
		int w = snprintf(buf + off, n - off, "%s%lld %s", i ? ", " : "",
		                 (long long)json_integer_value(json_object_get(v, "code")),
		                 json_string_value(json_object_get(v, "meaning")));
		if (w < 0 || (size_t)w >= n - off)
			return;
		off += (size_t)w;
	}
}

/* The firing alert's count and an evidence array unioned with add: what
 * the summary of the whole condition says.  *ret_union is new. */
static int64_t prior_total(struct ctx *x, const char *rule, const char *subject, int64_t add, const char *key,
                           const json_t *more, json_t **ret_union)
{
	struct sw_alert prior = {0};
	json_t *u = json_array();
	int64_t total = add;
	size_t i;
	json_t *v;

	if (sw_store_alert_find(x->s, rule, x->t->name, subject, &prior) == 0 && prior.status == SW_ALERT_FIRING) {
		total += prior.count;
		json_array_foreach(json_object_get(prior.evidence, key), i, v)
			add_unique(u, json_string_value(v), SIZE_MAX);
	}
	json_array_foreach(more, i, v)
		add_unique(u, json_string_value(v), SIZE_MAX);
	sw_alert_clear(&prior);
	*ret_union = u;
	return total;
}

/* Hand a condition to the lifecycle and count a notification. */
static int fire(struct ctx *x, const struct sw_condition *c)
{
	bool notified = false;
	int r = sw_lifecycle_fire(x->s, x->cfg, c, x->now, &notified);

	if (r >= 0 && notified)
		x->st->fired++;
	return r;
}

/* Make the scratch arrays hold n window records and every interned string. */
static int scratch_reserve(struct ctx *x, size_t n)
{
	if (n > x->cov_cap) {
		bool *a = realloc(x->cov_all, n * sizeof(*a));
		if (a == NULL)
			return -ENOMEM;
		x->cov_all = a;
		bool *o = realloc(x->cov_old, n * sizeof(*o));
		if (o == NULL)
			return -ENOMEM;
		x->cov_old = o;
		x->cov_cap = n;
	}
	if (x->pool.n + 1 > x->ucount_cap) {
		size_t cap = x->pool.n * 2 + 64;
		int *u = realloc(x->ucount, cap * sizeof(*u));
		if (u == NULL)
			return -ENOMEM;
		memset(u + x->ucount_cap, 0, (cap - x->ucount_cap) * sizeof(*u));
		x->ucount = u;
		x->ucount_cap = cap;
	}
	return 0;
}

/* Mark in cov[] the failures of w[0..n) that some qualifying window holds.
 * old_only: only records examined before this page (rowid < first) take
 * part, which is what the rule saw last time.  Every window start i is a
 * record taking part; [i, j) is the longest window from it, and if any
 * window from i qualifies, that one does. */
static void coverage(struct ctx *x, const struct window_rule *wr, const struct rec *w, size_t n, bool old_only,
                     bool *cov)
{
	size_t j = 0, mark = 0;
	int64_t count = 0, users = 0;

	memset(cov, 0, n * sizeof(*cov));
	for (size_t i = 0; i < n; i++) {
		if (old_only && w[i].rowid >= x->first)
			continue;
		while (j < n && w[j].created - w[i].created < wr->window) {
			if (!old_only || w[j].rowid < x->first) {
				count++;
				if (x->ucount[w[j].upn]++ == 0)
					users++;
			}
			j++;
		}
		if (count >= wr->min_failures && users >= wr->min_users) {
			for (size_t k = mark > i ? mark : i; k < j; k++)
				cov[k] = !old_only || w[k].rowid < x->first;
			mark = j;
		}
		/* i leaves the window. */
		count--;
		if (--x->ucount[w[i].upn] == 0)
			users--;
	}
}

/* The occurrences of one key found in this page. */
struct occurrence {
	int64_t count, first, last;
	json_t *ips, *users, *countries, *codes, *ids;
};

/* Drop the evidence arrays. */
static void occurrence_clear(struct occurrence *o)
{
	json_decref(o->ips);
	json_decref(o->users);
	json_decref(o->countries);
	json_decref(o->codes);
	json_decref(o->ids);
	memset(o, 0, sizeof(*o));
}

/* Empty evidence arrays, count 0. */
static int occurrence_init(struct occurrence *o)
{
	memset(o, 0, sizeof(*o));
	o->ips = json_array();
	o->users = json_array();
	o->countries = json_array();
	o->codes = json_array();
	o->ids = json_array();
	if (!o->ips || !o->users || !o->countries || !o->codes || !o->ids) {
		occurrence_clear(o);
		return -ENOMEM;
	}
	return 0;
}

/* Count one failure that newly belongs to the condition. */
static void occurrence_add(struct ctx *x, struct occurrence *o, const struct rec *r)
{
	if (o->count == 0 || r->created < o->first)
		o->first = r->created;
	if (o->count == 0 || r->created > o->last)
		o->last = r->created;
	o->count++;
	add_unique(o->ips, pool_str(&x->pool, r->ip), EVIDENCE_MAX);
	add_unique(o->users, pool_str(&x->pool, r->upn), EVIDENCE_MAX);
	add_unique(o->countries, pool_str(&x->pool, r->country), EVIDENCE_MAX);
	if (r->code != 0 && json_array_size(o->codes) < EVIDENCE_MAX)
		add_code(o->codes, r->code);
	if (r->rowid >= x->first)
		add_unique(o->ids, pool_str(&x->pool, r->id), EVIDENCE_IDS_MAX);
}

/* Where sign-in rows go: interned into x->pool, appended to *into. */
struct rows_ctx {
	struct ctx *x;
	struct recs *into;
};

/* One stored sign-in, its strings interned. */
static int rows_add_cb(const struct sw_signin_row *row, void *arg)
{
	struct rows_ctx *rc = arg;
	struct rec w = {.rowid = row->rowid, .created = row->created, .code = row->error_code};
	int r;

	r = pool_intern(&rc->x->pool, row->id, &w.id);
	if (r >= 0)
		r = pool_intern(&rc->x->pool, row->upn, &w.upn);
	if (r >= 0)
		r = pool_intern(&rc->x->pool, row->ip, &w.ip);
	if (r >= 0)
		r = pool_intern(&rc->x->pool, row->country, &w.country);
	if (r >= 0)
		r = recs_add(rc->into, &w);
	return r;
}

/* Read the failures of key in (lo, hi), examined up to this page, in
 * event-time order, into x->win. */
static int fetch_window(struct ctx *x, const struct window_rule *wr, const char *key, int64_t lo, int64_t hi)
{
	struct rows_ctx rc = {.x = x, .into = &x->win};

	x->win.n = 0;
	return sw_store_failures_window(x->s, x->t->name, wr->by_ip, key, lo, hi, x->last, rows_add_cb, &rc);
}

/* Raise (or grow) a spray or brute-force alert from what this page added. */
static int fire_window(struct ctx *x, const struct window_rule *wr, const char *subject, struct occurrence *o)
{
	char summary[1024], remediation[1400], codes[256], win[32], users_txt[200], id[600];
	json_t *users = NULL, *evidence = NULL;
	int r = -ENOMEM;

	sw_duration_format(wr->window, win, sizeof(win));
	codes_text(o->codes, codes, sizeof(codes));
	if (wr->by_ip) {
		int64_t total = prior_total(x, wr->rule, subject, o->count, "users", o->users, &users);
		sw_detect_join(users, users_txt, sizeof(users_txt));
		snprintf(summary, sizeof(summary),
		         "password spray from %s%s%s%s: %lld failed SMTP AUTH sign-ins against %zu user%s (%s) "
		         "within %s windows (%s)",
		         subject, json_array_size(o->countries) ? " (" : "",
		         json_array_size(o->countries) ? json_string_value(json_array_get(o->countries, 0)) : "",
		         json_array_size(o->countries) ? ")" : "", (long long)total, json_array_size(users),
		         json_array_size(users) == 1 ? "" : "s", users_txt, win, codes);
		snprintf(remediation, sizeof(remediation),
		         "Block %s (firewall or a Conditional Access named location), check the targeted users for "
		         "successful sign-ins, and turn SMTP AUTH off where it is not needed: "
		         "Set-TransportConfig -SmtpClientAuthenticationDisabled $true",
		         subject);
	} else {
		json_t *ips = NULL;
		int64_t total = prior_total(x, wr->rule, subject, o->count, "ips", o->ips, &ips);
		sw_detect_join(ips, users_txt, sizeof(users_txt));
		snprintf(summary, sizeof(summary),
		         "brute force against %s: %lld failed SMTP AUTH sign-ins within %s windows from %zu IP%s (%s) (%s)",
		         subject, (long long)total, win, json_array_size(ips), json_array_size(ips) == 1 ? "" : "s",
		         users_txt, codes);
		json_decref(ips);
		snprintf(remediation, sizeof(remediation),
		         "Check %s for successful sign-ins and reset its password if any; if it does not need SMTP AUTH: "
		         "Set-CASMailbox -Identity %s -SmtpClientAuthenticationDisabled $true",
		         subject, sw_ps_quote(subject, id, sizeof(id)));
	}
	evidence = wr->by_ip ? json_pack("{s:O,s:O,s:O,s:O,s:O}", "ips", o->ips, "countries", o->countries, "users",
	                                 o->users, "error_codes", o->codes, "signin_ids", o->ids)
	                     : json_pack("{s:O,s:O,s:O,s:O}", "ips", o->ips, "countries", o->countries, "error_codes",
	                                 o->codes, "signin_ids", o->ids);
	if (evidence == NULL)
		goto fail;
	struct sw_condition c = {
		.rule = wr->rule,
		.severity = wr->severity,
		.tenant = x->t->name,
		.subject = subject,
		.first_seen = o->first,
		.last_seen = o->last,
		.count = o->count,
		.accumulate = true,
		.summary = summary,
		.remediation = remediation,
		.evidence = evidence,
	};
	r = fire(x, &c);
fail:
	json_decref(users);
	json_decref(evidence);
	return r;
}

/* One key's new failures (times[0..n), sorted): fetch the neighbourhood
 * of each cluster, find the failures that newly belong to a qualifying
 * window, and fire.  Clusters are new failures closer than 4 windows:
 * their fetched ranges (2 windows each side) never overlap, so no failure
 * is counted twice. */
static int window_key(struct ctx *x, const struct window_rule *wr, const char *key, const int64_t *times, size_t n)
{
	struct occurrence o;
	int r = occurrence_init(&o);

	for (size_t a = 0, b; r >= 0 && a < n; a = b) {
		for (b = a + 1; b < n && times[b] - times[b - 1] < 4 * wr->window; b++)
			;
		r = fetch_window(x, wr, key, times[a] - 2 * wr->window, times[b - 1] + 2 * wr->window);
		if (r < 0 || (int64_t)x->win.n < wr->min_failures)
			continue;
		r = scratch_reserve(x, x->win.n);
		if (r < 0)
			break;
		coverage(x, wr, x->win.v, x->win.n, false, x->cov_all);
		coverage(x, wr, x->win.v, x->win.n, true, x->cov_old);
		for (size_t k = 0; k < x->win.n; k++) {
			const struct rec *w = &x->win.v[k];
			if (x->cov_all[k] && (w->rowid >= x->first || !x->cov_old[k]))
				occurrence_add(x, &o, w);
		}
	}
	if (r >= 0 && o.count > 0)
		r = fire_window(x, wr, key, &o);
	occurrence_clear(&o);
	return r;
}

/* Run a window rule over the page's new failures, key by key. */
static int rule_window(struct ctx *x, const struct window_rule *wr)
{
	struct keyed *k = malloc((x->page.n + 1) * sizeof(*k));
	int64_t *times = malloc((x->page.n + 1) * sizeof(*times));
	size_t n = 0;
	int r = 0;

	if (k == NULL || times == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < x->page.n; i++) {
		const struct rec *p = &x->page.v[i];
		size_t key = wr->by_ip ? p->ip : p->upn;
		if (p->code != 0 && key != 0)
			k[n++] = (struct keyed){.key = key, .created = p->created, .idx = i};
	}
	qsort(k, n, sizeof(*k), keyed_cmp);
	for (size_t a = 0, b; r >= 0 && a < n; a = b) {
		size_t m = 0;
		for (b = a; b < n && k[b].key == k[a].key; b++)
			times[m++] = k[b].created;
		/* Interned strings stay put while the pool grows. */
		r = window_key(x, wr, pool_str(&x->pool, k[a].key), times, m);
	}
fail:
	free(k);
	free(times);
	return r;
}

/* The register entry of an interned mailbox (NULL: not registered),
 * looked up once per call. */
static const struct sw_exception *registered(struct ctx *x, size_t upn)
{
	if (upn == 0 || x->reg == NULL || x->reg->n == 0)
		return NULL;
	if (upn >= x->reg_cap) {
		size_t cap = x->pool.n > upn ? x->pool.n : upn + 1;
		const struct sw_exception **e = realloc(x->reg_e, cap * sizeof(*e));
		if (e == NULL)
			return sw_register_find(x->reg, pool_str(&x->pool, upn));
		x->reg_e = e;
		unsigned char *d = realloc(x->reg_done, cap);
		if (d == NULL)
			return sw_register_find(x->reg, pool_str(&x->pool, upn));
		x->reg_done = d;
		memset(d + x->reg_cap, 0, cap - x->reg_cap);
		x->reg_cap = cap;
	}
	if (!x->reg_done[upn]) {
		x->reg_e[upn] = sw_register_find(x->reg, pool_str(&x->pool, upn));
		x->reg_done[upn] = 1;
	}
	return x->reg_e[upn];
}

/* "203.0.113.0/28" from a parsed CIDR. */
static void cidr_text(const struct sw_cidr *c, char *buf, size_t n)
{
	char addr[INET6_ADDRSTRLEN];

	if (inet_ntop(c->family, c->addr, addr, sizeof(addr)) == NULL)
		snprintf(addr, sizeof(addr), "?");
	snprintf(buf, n, "%s/%d", addr, c->prefix);
}

/* Countries known for one registered mailbox. */
struct country {
	char code[16];
	int64_t first, last, n;
	bool dirty;
};

struct countries {
	struct country *v;
	size_t n, cap;
};

/* Find or add a country. */
static struct country *countries_get(struct countries *cs, const char *code, bool add)
{
	for (size_t i = 0; i < cs->n; i++)
		if (strcmp(cs->v[i].code, code) == 0)
			return &cs->v[i];
	if (!add)
		return NULL;
	if (cs->n == cs->cap) {
		size_t cap = cs->cap ? cs->cap * 2 : 8;
		struct country *n = realloc(cs->v, cap * sizeof(*n));
		if (n == NULL)
			return NULL;
		cs->v = n;
		cs->cap = cap;
	}
	struct country *c = &cs->v[cs->n++];
	memset(c, 0, sizeof(*c));
	snprintf(c->code, sizeof(c->code), "%s", code);
	return c;
}

/* Where country rows go; dirty: they must be written back. */
struct countries_ctx {
	struct countries *cs;
	bool dirty;
};

/* One country of the mailbox. */
static int country_load_cb(const struct sw_country_row *row, void *arg)
{
	struct countries_ctx *cc = arg;
	struct country *c = countries_get(cc->cs, row->country, true);

	if (c == NULL)
		return -ENOMEM;
	c->first = row->first_seen;
	c->last = row->last_seen;
	c->n = row->n;
	c->dirty = cc->dirty;
	return 0;
}

/* The countries of upn: from the rollup, or, the first time, from its
 * sign-ins before this page (a mailbox registered after it was in use). */
static int countries_load(struct ctx *x, const char *upn, struct countries *cs)
{
	struct countries_ctx cc = {.cs = cs};
	int r = sw_store_countries_get(x->s, x->t->name, upn, country_load_cb, &cc);

	if (r >= 0 && cs->n == 0) {
		cc.dirty = true;
		r = sw_store_countries_history(x->s, x->t->name, upn, x->first, country_load_cb, &cc);
	}
	return r;
}

/* Write the changed countries of upn back to the rollup. */
static int countries_save(struct ctx *x, const char *upn, const struct countries *cs)
{
	int r = 0;

	for (size_t i = 0; r >= 0 && i < cs->n; i++) {
		const struct country *c = &cs->v[i];
		struct sw_country_row row = {
			.country = c->code, .first_seen = c->first, .last_seen = c->last, .n = c->n,
		};
		if (c->dirty)
			r = sw_store_country_put(x->s, x->t->name, upn, &row);
	}
	return r;
}

/* Is c new for the mailbox at time t: another country came first, and c
 * was first seen less than SW_DRIFT_NEW_COUNTRY before t? */
static bool country_new(const struct countries *cs, const struct country *c, int64_t t)
{
	if (t - c->first >= SW_DRIFT_NEW_COUNTRY)
		return false;
	for (size_t i = 0; i < cs->n; i++)
		if (&cs->v[i] != c && cs->v[i].first < c->first)
			return true;
	return false;
}

/* exception-source-drift for one registered mailbox over its sign-ins in
 * this page (recs[0..n), in event-time order). */
static int drift_mailbox(struct ctx *x, const struct sw_exception *e, const struct rec *recs, size_t n)
{
	struct countries cs = {0};
	struct occurrence o;
	json_t *reasons = json_array(), *known = json_array(), *allowed = json_array(), *evidence = NULL;
	char summary[1200], remediation[1400], cidr[64], ips[200], cc[120], allowed_txt[200], known_txt[120], id[600];
	bool outside_any = false, new_any = false;
	int r = occurrence_init(&o);

	if (r < 0 || reasons == NULL || known == NULL || allowed == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	r = countries_load(x, e->mailbox, &cs);
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		const struct rec *p = &recs[i];
		const char *ip = pool_str(&x->pool, p->ip);
		const char *country = pool_str(&x->pool, p->country);
		bool outside = p->ip != 0 && !sw_exception_ip_allowed(e, ip);
		bool fresh = false;

		if (p->country != 0) {
			struct country *c = countries_get(&cs, country, true);
			if (c == NULL) {
				r = -ENOMEM;
				goto fail;
			}
			if (c->n == 0 || p->created < c->first)
				c->first = p->created;
			if (c->n == 0 || p->created > c->last)
				c->last = p->created;
			c->n++;
			c->dirty = true;
			fresh = country_new(&cs, c, p->created);
		}
		if (!outside && !fresh)
			continue;
		outside_any |= outside;
		new_any |= fresh;
		occurrence_add(x, &o, p);
	}
	r = countries_save(x, e->mailbox, &cs);
	if (r < 0 || o.count == 0)
		goto fail;

	/* Only new countries in "countries": rebuild it from the records. */
	json_array_clear(o.countries);
	for (size_t i = 0; i < n; i++) {
		const struct country *c = recs[i].country ? countries_get(&cs, pool_str(&x->pool, recs[i].country), false)
		                                          : NULL;
		if (c != NULL && country_new(&cs, c, recs[i].created))
			add_unique(o.countries, c->code, EVIDENCE_MAX);
	}
	/* The mailbox's other countries, for comparison. */
	for (size_t i = 0; i < cs.n; i++) {
		bool fresh = false;
		for (size_t j = 0; j < json_array_size(o.countries); j++)
			fresh |= strcmp(json_string_value(json_array_get(o.countries, j)), cs.v[i].code) == 0;
		if (!fresh)
			add_unique(known, cs.v[i].code, EVIDENCE_MAX);
	}
	for (size_t i = 0; i < e->n_allowed_ips; i++) {
		cidr_text(&e->allowed_ips[i], cidr, sizeof(cidr));
		json_array_append_new(allowed, json_string(cidr));
	}
	if (outside_any)
		json_array_append_new(reasons, json_string("outside allowed_ips"));
	if (new_any)
		json_array_append_new(reasons, json_string("new country"));
	sw_detect_join(o.ips, ips, sizeof(ips));
	sw_detect_join(o.countries, cc, sizeof(cc));
	sw_detect_join(allowed, allowed_txt, sizeof(allowed_txt));
	sw_detect_join(known, known_txt, sizeof(known_txt));
	{
		char part_ip[440] = "", part_cc[300] = "";
		if (outside_any)
			snprintf(part_ip, sizeof(part_ip), " from %s, outside its allowed_ips %s", ips, allowed_txt);
		if (new_any)
			snprintf(part_cc, sizeof(part_cc), "%s from %s, a country never seen for it before (known: %s)",
			         outside_any ? " and" : "", cc, known_txt[0] ? known_txt : "none");
		snprintf(summary, sizeof(summary), "%s (SMTP AUTH exception, owner %s) signed in %lld time%s%s%s",
		         e->mailbox, e->owner ? e->owner : "none", (long long)o.count, o.count == 1 ? "" : "s", part_ip,
		         part_cc);
	}
	snprintf(remediation, sizeof(remediation),
	         "Confirm with %s that this is the registered device; if not, reset the password of %s and "
	         "Set-CASMailbox -Identity %s -SmtpClientAuthenticationDisabled $true; if it moved, update allowed_ips "
	         "in the register (line %d)",
	         e->owner ? e->owner : "the owner", e->mailbox, sw_ps_quote(e->mailbox, id, sizeof(id)), e->line);
	evidence = json_pack("{s:O,s:O,s:O,s:O,s:O,s:O,s:s?,s:i}", "ips", o.ips, "countries", o.countries, "reasons",
	                     reasons, "allowed_ips", allowed, "known_countries", known, "signin_ids", o.ids, "ticket",
	                     e->ticket, "register_line", e->line);
	if (evidence == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	struct sw_condition c = {
		.rule = SW_RULE_SOURCE_DRIFT,
		.severity = SW_SEV_HIGH,
		.tenant = x->t->name,
		.subject = e->mailbox,
		.first_seen = o.first,
		.last_seen = o.last,
		.count = o.count,
		.accumulate = true,
		.summary = summary,
		.remediation = remediation,
		.evidence = evidence,
	};
	r = fire(x, &c);
fail:
	occurrence_clear(&o);
	json_decref(evidence);
	json_decref(reasons);
	json_decref(known);
	json_decref(allowed);
	free(cs.v);
	return r;
}

/* Drift for every registered mailbox with sign-ins in the page. */
static int rule_drift(struct ctx *x)
{
	struct rec *v = NULL;
	size_t n = 0;
	int r = 0;

	if (x->reg == NULL || x->reg->n == 0)
		return 0;
	v = malloc((x->page.n + 1) * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < x->page.n; i++) {
		const struct rec *p = &x->page.v[i];
		if (registered(x, p->upn) != NULL)
			v[n++] = *p;
	}
	/* By mailbox, then event time. */
	struct keyed *k = malloc((n + 1) * sizeof(*k));
	struct rec *sorted = malloc((n + 1) * sizeof(*sorted));
	if (k == NULL || sorted == NULL) {
		r = -ENOMEM;
		goto fail_k;
	}
	for (size_t i = 0; i < n; i++)
		k[i] = (struct keyed){.key = v[i].upn, .created = v[i].created, .idx = i};
	qsort(k, n, sizeof(*k), keyed_cmp);
	for (size_t i = 0; i < n; i++)
		sorted[i] = v[k[i].idx];
	for (size_t a = 0, b; r >= 0 && a < n; a = b) {
		for (b = a; b < n && sorted[b].upn == sorted[a].upn; b++)
			;
		r = drift_mailbox(x, registered(x, sorted[a].upn), sorted + a, b - a);
	}
fail_k:
	free(k);
	free(sorted);
	free(v);
	return r;
}

/* Failed sign-ins against mailboxes outside the register, per (hour, IP),
 * for `status`: one upsert per pair in the page. */
static int rollup_failures(struct ctx *x)
{
	struct keyed *k = malloc((x->page.n + 1) * sizeof(*k));
	size_t n = 0;
	int r = 0;

	if (k == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < x->page.n; i++) {
		const struct rec *p = &x->page.v[i];
		if (p->code == 0 || p->ip == 0)
			continue;
		if (registered(x, p->upn) != NULL)
			continue;
		/* Sort by IP, then time: each (IP, hour) run is contiguous. */
		k[n++] = (struct keyed){.key = p->ip, .created = p->created, .idx = i};
	}
	qsort(k, n, sizeof(*k), keyed_cmp);
	for (size_t a = 0, b; r >= 0 && a < n; a = b) {
		int64_t hour = k[a].created - k[a].created % 3600;
		size_t country = 0;
		for (b = a; b < n && k[b].key == k[a].key && k[b].created - k[b].created % 3600 == hour; b++)
			if (x->page.v[k[b].idx].country != 0)
				country = x->page.v[k[b].idx].country;
		struct sw_failure_source f = {
			.ip = pool_str(&x->pool, k[a].key),
			.country = country != 0 ? pool_str(&x->pool, country) : NULL,
			.hour = hour,
			.n = (int64_t)(b - a),
			.first_seen = k[a].created,
			.last_seen = k[b - 1].created,
		};
		r = sw_store_failure_add(x->s, x->t->name, &f);
	}
	free(k);
	return r;
}

/* Load the page's sign-ins, strings interned, in event-time order. */
static int load_page(struct ctx *x)
{
	struct rows_ctx rc = {.x = x, .into = &x->page};
	int r = sw_store_signins_range(x->s, x->t->name, x->first, x->last, -1, rows_add_cb, &rc);

	if (r >= 0)
		qsort(x->page.v, x->page.n, sizeof(*x->page.v), rec_cmp_time);
	return r;
}

/* The two window rules with the tenant's thresholds. */
static void window_rules(const struct sw_config *cfg, const struct sw_tenant_config *t, struct window_rule ret[2])
{
	int64_t lookback = t->signins_lookback > 0 ? t->signins_lookback : 0;
	const struct sw_rules_config *rc = &cfg->rules;

	ret[0] = (struct window_rule){
		.rule = SW_RULE_PASSWORD_SPRAY,
		.severity = SW_SEV_HIGH,
		.by_ip = true,
		.window = rc->spray_window > 0 ? rc->spray_window : 900,
		.min_failures = rc->spray_failures > 0 ? rc->spray_failures : 20,
		.min_users = rc->spray_users > 0 ? rc->spray_users : 5,
	};
	ret[1] = (struct window_rule){
		.rule = SW_RULE_BRUTE_FORCE,
		.severity = SW_SEV_MEDIUM,
		.by_ip = false,
		.window = rc->bruteforce_window > 0 ? rc->bruteforce_window : 900,
		.min_failures = rc->bruteforce_failures > 0 ? rc->bruteforce_failures : 10,
		.min_users = 1,
	};
	for (int i = 0; i < 2; i++)
		ret[i].quiet = 2 * ret[i].window > lookback ? 2 * ret[i].window : lookback;
}

/* See detect_attack.h. */
int sw_detect_attacks(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                      const struct sw_register *reg, int64_t first_rowid, int64_t last_rowid, int64_t now,
                      struct sw_detect_stats *st)
{
	struct sw_detect_stats dummy = {0};
	struct ctx x = {
		.s = s, .cfg = cfg, .t = t, .reg = reg, .first = first_rowid, .last = last_rowid, .now = now,
		.st = st ? st : &dummy,
	};
	struct window_rule wr[2];
	int r;

	if (s == NULL || cfg == NULL || t == NULL)
		return -EINVAL;
	if (first_rowid > last_rowid)
		return 0;
	window_rules(cfg, t, wr);
	r = load_page(&x);
	if (r >= 0)
		r = rule_window(&x, &wr[0]);
	if (r >= 0)
		r = rule_window(&x, &wr[1]);
	if (r >= 0)
		r = rule_drift(&x);
	if (r >= 0)
		r = rollup_failures(&x);
	pool_clear(&x.pool);
	free(x.page.v);
	free(x.win.v);
	free(x.cov_all);
	free(x.cov_old);
	free(x.ucount);
	free(x.reg_e);
	free(x.reg_done);
	return r;
}

struct quiet_ctx {
	int64_t cutoff;
	struct sw_strv subjects;
};

/* Collect firing alerts whose last occurrence is older than the cutoff. */
static int quiet_collect_cb(const struct sw_alert *a, void *arg)
{
	struct quiet_ctx *q = arg;

	if (a->last_seen >= q->cutoff)
		return 0;
	return sw_strv_add(&q->subjects, a->subject);
}

/* Resolve the rule's alerts with no occurrence for quiet seconds. */
static int resolve_quiet(struct sw_store *s, const struct sw_config *cfg, const char *tenant, const char *rule,
                         int64_t quiet, int64_t now, struct sw_detect_stats *st)
{
	struct quiet_ctx q = {.cutoff = now - quiet};
	int r = sw_store_alerts_firing(s, rule, tenant, quiet_collect_cb, &q);

	for (size_t i = 0; r >= 0 && i < q.subjects.n; i++) {
		r = sw_lifecycle_resolve(s, cfg, rule, tenant, q.subjects.v[i], now);
		if (r >= 0 && st)
			st->resolved++;
	}
	sw_strv_clear(&q.subjects);
	return r;
}

/* See detect_attack.h. */
int sw_detect_attacks_resolve(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                              int64_t now, struct sw_detect_stats *st)
{
	struct window_rule wr[2];
	int64_t drift_quiet = t->signins_lookback > SW_DRIFT_QUIET ? t->signins_lookback : SW_DRIFT_QUIET;
	int r;

	if (s == NULL || cfg == NULL || t == NULL)
		return -EINVAL;
	window_rules(cfg, t, wr);
	r = resolve_quiet(s, cfg, t->name, wr[0].rule, wr[0].quiet, now, st);
	if (r >= 0)
		r = resolve_quiet(s, cfg, t->name, wr[1].rule, wr[1].quiet, now, st);
	if (r >= 0)
		r = resolve_quiet(s, cfg, t->name, SW_RULE_SOURCE_DRIFT, drift_quiet, now, st);
	if (r < 0)
		return r;
	return sw_store_failures_prune(s, t->name, now - SW_FAILURE_ROLLUP_KEEP);
}

/* One top source as {"ip","country","failures","first_seen","last_seen"}. */
static int top_failure_cb(const struct sw_failure_source *f, void *arg)
{
	json_t *row = json_pack("{s:s,s:s?,s:I,s:o,s:o}", "ip", f->ip, "country", f->country, "failures",
	                        (json_int_t)f->n, "first_seen", sw_json_time(f->first_seen), "last_seen",
	                        sw_json_time(f->last_seen));

	if (row == NULL || json_array_append_new(arg, row) < 0)
		return -ENOMEM;
	return 0;
}

/* See detect_attack.h. */
json_t *sw_detect_top_failures(struct sw_store *s, const char *tenant, int64_t since, int limit)
{
	json_t *arr = json_array();

	if (arr == NULL || s == NULL || tenant == NULL)
		goto fail;
	if (sw_store_failures_top(s, tenant, since - since % 3600, limit > 0 ? limit : 10, top_failure_cb, arr) < 0)
		goto fail;
	return arr;
fail:
	json_decref(arr);
	return NULL;
}
