/* scenario.c: load a scenario file into tenants, sign-in records, Exchange
 * state, changes and faults; validate strictly so a typo is an error. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

json_t *exchange_mailbox_row(const struct sim_tenant *t, const char *addr, json_t *fields);
json_t *exchange_policy_row(const struct sim_tenant *t, const char *name, json_t *fields);

static int errf(char *err, size_t errn, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int errf(char *err, size_t errn, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errn, fmt, ap);
	va_end(ap);
	return -1;
}
#define ERR(...) errf(err, errn, __VA_ARGS__)

/* Keys starting with "_" and "description" are comments everywhere. */
static int check_keys(json_t *o, const char *const *allowed, const char *where, char *err, size_t errn);

/* See sim.h. */
int sim_check_keys(json_t *o, const char *const *allowed, const char *where, char *err, size_t errn)
{
	return check_keys(o, allowed, where, err, errn);
}

static int check_keys(json_t *o, const char *const *allowed, const char *where, char *err, size_t errn)
{
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v) {
		if (key[0] == '_' || strcmp(key, "description") == 0 || strcmp(key, "comment") == 0)
			continue;
		bool ok = false;
		for (const char *const *a = allowed; *a && !ok; a++)
			ok = strcmp(*a, key) == 0;
		if (!ok)
			return ERR("%s: unknown key \"%s\"", where, key);
	}
	return 0;
}

/* A string or an array of strings into a malloc'd vector. */
static int str_list(json_t *v, char ***ret, size_t *ret_n, const char *where, const char *key, char *err,
	size_t errn)
{
	*ret = NULL;
	*ret_n = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_string(v)) {
		*ret = sim_xmalloc(sizeof(char *));
		(*ret)[0] = sim_xstrdup(json_string_value(v));
		*ret_n = 1;
		return 0;
	}
	if (!json_is_array(v) || json_array_size(v) == 0)
		return ERR("%s.%s: expected a string or a non-empty array of strings", where, key);
	*ret = sim_xmalloc(json_array_size(v) * sizeof(char *));
	size_t i;
	json_t *e;
	json_array_foreach(v, i, e) {
		if (!json_is_string(e)) {
			*ret_n = i;
			return ERR("%s.%s[%zu]: expected a string", where, key, i);
		}
		(*ret)[i] = sim_xstrdup(json_string_value(e));
	}
	*ret_n = json_array_size(v);
	return 0;
}

static void str_list_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void series_free(struct sim_series *s)
{
	if (s == NULL)
		return;
	str_list_free(s->users, s->n_users);
	str_list_free(s->ips, s->n_ips);
	str_list_free(s->countries, s->n_countries);
	str_list_free(s->cities, s->n_cities);
	str_list_free(s->states, s->n_states);
	free(s->client_app);
	free(s->failure_reason);
	free(s);
}

static int get_time(json_t *o, const char *key, int64_t base, int64_t def, int64_t *ret, const char *where,
	char *err, size_t errn)
{
	json_t *v = json_object_get(o, key);
	if (v == NULL) {
		*ret = def;
		return 0;
	}
	if (!json_is_string(v) || sim_time_parse(json_string_value(v), base, ret) < 0)
		return ERR("%s.%s: bad time %s: expected one like \"-90m\", \"+30m\", \"0s\" or "
			   "\"2026-11-20T08:00:00Z\"",
			where, key, json_is_string(v) ? json_string_value(v) : "(not a string)");
	return 0;
}

static int get_dur(json_t *o, const char *key, int64_t def, int64_t *ret, const char *where, char *err,
	size_t errn)
{
	json_t *v = json_object_get(o, key);
	if (v == NULL) {
		*ret = def;
		return 0;
	}
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*ret = json_integer_value(v) * TICKS_PER_SEC;
		return 0;
	}
	if (!json_is_string(v) || sim_duration_parse(json_string_value(v), ret) < 0)
		return ERR("%s.%s: bad duration %s: expected one like \"30s\", \"5m\", \"2h\"", where, key,
			json_is_string(v) ? json_string_value(v) : "(not a string)");
	return 0;
}

static int get_long(json_t *o, const char *key, long def, long min, long max, long *ret, const char *where,
	char *err, size_t errn)
{
	json_t *v = json_object_get(o, key);
	if (v == NULL) {
		*ret = def;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return ERR("%s.%s: expected an integer from %ld to %ld", where, key, min, max);
	*ret = (long)json_integer_value(v);
	return 0;
}

/* Compare sign-ins: newest first, then id descending, then copy number. */
static int signin_cmp(const void *a, const void *b)
{
	const struct sim_signin *x = a, *y = b;
	if (x->created != y->created)
		return x->created > y->created ? -1 : 1;
	if (x->id_hi != y->id_hi)
		return x->id_hi > y->id_hi ? -1 : 1;
	if (x->id_lo != y->id_lo)
		return x->id_lo > y->id_lo ? -1 : 1;
	return (int)x->dup - (int)y->dup;
}

/* Expand one series into records. */
static void series_expand(struct sim_tenant *t, struct sim_series *s, uint32_t si)
{
	size_t need = t->n_signins + (size_t)s->count + (s->dup_every ? (size_t)(s->count / s->dup_every) : 0);
	if (need > t->cap_signins) {
		t->cap_signins = need + need / 2;
		t->signins = sim_xrealloc(t->signins, t->cap_signins * sizeof(*t->signins));
	}
	for (long i = 0; i < s->count; i++) {
		struct sim_signin *r = &t->signins[t->n_signins++];
		uint64_t hi = sim_mix(t->seed + ((uint64_t)s->no << 32) + (uint64_t)i);
		uint64_t lo = sim_mix(hi ^ 0x2545f4914f6cdd1dULL);
		if (s->id_prefix[0]) {
			/* the prefix replaces the leading hex digits; the index
			 * fills the last 48 bits so ids stay unique */
			size_t pl = strlen(s->id_prefix);
			uint64_t p = strtoull(s->id_prefix, NULL, 16);
			unsigned shift = (unsigned)(64 - 4 * pl);
			hi = (p << shift) | (hi & ((1ULL << shift) - 1));
			lo = (lo & 0xffff000000000000ULL) | ((uint64_t)i & 0xffffffffffffULL);
		}
		int64_t base = s->at + (int64_t)i * s->every;
		r->created = base + (int64_t)(sim_mix(lo) % TICKS_PER_SEC);
		r->visible = base + s->visible_after;
		r->id_hi = hi;
		r->id_lo = lo;
		r->series = si;
		r->index = (uint32_t)i;
		r->dup = 0;
		if (s->dup_every && (i + 1) % s->dup_every == 0) {
			struct sim_signin *d = &t->signins[t->n_signins++];
			*d = *r;
			d->dup = 1;
			d->visible = r->visible + 60 * TICKS_PER_SEC; /* the copy arrives a minute later */
		}
	}
}

int scenario_add_series(struct sim_tenant *t, json_t *arr, int64_t base, const char *where0, char *err,
	size_t errn)
{
	static const char *const keys[] = { "at", "user", "ip", "country", "city", "state", "error_code",
		"failure_reason", "count", "every", "visible_after", "id_prefix", "client_app", "duplicate_every",
		"fraction_digits", "omit_id", NULL };
	if (!json_is_array(arr))
		return ERR("%s: expected an array of sign-in series", where0);
	size_t i;
	json_t *o;
	json_array_foreach(arr, i, o) {
		char where[300];
		snprintf(where, sizeof(where), "%s[%zu]", where0, i);
		if (!json_is_object(o))
			return ERR("%s: expected an object", where);
		if (check_keys(o, keys, where, err, errn) < 0)
			return -1;
		struct sim_series *s = calloc(1, sizeof(*s));
		if (s == NULL)
			abort();
		long code;
		json_t *v;
		if (json_object_get(o, "at") == NULL) {
			series_free(s);
			return ERR("%s: \"at\" is required", where);
		}
		if (get_time(o, "at", base, 0, &s->at, where, err, errn) < 0 ||
			get_dur(o, "every", 60 * TICKS_PER_SEC, &s->every, where, err, errn) < 0 ||
			get_dur(o, "visible_after", 0, &s->visible_after, where, err, errn) < 0 ||
			get_long(o, "count", 1, 0, 50000000, &s->count, where, err, errn) < 0 ||
			get_long(o, "duplicate_every", 0, 0, 1000000000, &s->dup_every, where, err, errn) < 0 ||
			get_long(o, "fraction_digits", 7, 0, 9, &s->fraction_digits, where, err, errn) < 0 ||
			get_long(o, "error_code", 0, 0, 999999999, &code, where, err, errn) < 0 ||
			str_list(json_object_get(o, "user"), &s->users, &s->n_users, where, "user", err, errn) < 0 ||
			str_list(json_object_get(o, "ip"), &s->ips, &s->n_ips, where, "ip", err, errn) < 0 ||
			str_list(json_object_get(o, "country"), &s->countries, &s->n_countries, where, "country", err,
				errn) < 0 ||
			str_list(json_object_get(o, "city"), &s->cities, &s->n_cities, where, "city", err, errn) < 0 ||
			str_list(json_object_get(o, "state"), &s->states, &s->n_states, where, "state", err, errn) < 0) {
			series_free(s);
			return -1;
		}
		s->error_code = (int)code;
		if (s->n_users == 0) {
			series_free(s);
			return ERR("%s: \"user\" is required", where);
		}
		v = json_object_get(o, "failure_reason");
		if (json_is_null(v))
			s->failure_reason_null = true;
		else if (json_is_string(v))
			s->failure_reason = sim_xstrdup(json_string_value(v));
		else if (v != NULL) {
			series_free(s);
			return ERR("%s.failure_reason: expected a string or null", where);
		}
		v = json_object_get(o, "omit_id");
		if (v != NULL && !json_is_boolean(v)) {
			series_free(s);
			return ERR("%s.omit_id: expected true or false", where);
		}
		s->omit_id = json_is_true(v);
		v = json_object_get(o, "client_app");
		s->client_app = sim_xstrdup(json_is_string(v) ? json_string_value(v) : "Authenticated SMTP");
		v = json_object_get(o, "id_prefix");
		if (v != NULL) {
			const char *p = json_string_value(v);
			size_t pl = p ? strlen(p) : 0;
			bool ok = pl >= 1 && pl <= 8;
			for (size_t k = 0; ok && k < pl; k++)
				ok = isxdigit((unsigned char)p[k]) && !isupper((unsigned char)p[k]);
			if (!ok) {
				series_free(s);
				return ERR("%s.id_prefix: expected 1 to 8 lower-case hex digits", where);
			}
			memcpy(s->id_prefix, p, pl + 1);
		}
		if (t->n_series == t->cap_series) {
			t->cap_series = t->cap_series ? 2 * t->cap_series : 8;
			t->series = sim_xrealloc(t->series, t->cap_series * sizeof(*t->series));
		}
		s->no = (uint32_t)t->n_series;
		t->series[t->n_series] = s;
		series_expand(t, s, (uint32_t)t->n_series);
		t->n_series++;
	}
	qsort(t->signins, t->n_signins, sizeof(*t->signins), signin_cmp);
	return 0;
}

static int change_cmp(const void *a, const void *b)
{
	const struct sim_change *x = a, *y = b;
	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	return x->order < y->order ? -1 : (x->order > y->order);
}

int scenario_add_changes(struct sim_tenant *t, json_t *arr, int64_t base, const char *where0, char *err,
	size_t errn)
{
	static const char *const keys[] = { "at", "mailbox", "policy", "transport_config", "organization_config",
		"conditional_access_policy", "security_defaults", "set", "add", "remove", NULL };
	if (!json_is_array(arr))
		return ERR("%s: expected an array of changes", where0);
	size_t i;
	json_t *o;
	json_array_foreach(arr, i, o) {
		char where[300];
		snprintf(where, sizeof(where), "%s[%zu]", where0, i);
		if (!json_is_object(o))
			return ERR("%s: expected an object", where);
		if (check_keys(o, keys, where, err, errn) < 0)
			return -1;
		struct sim_change c = { 0 };
		if (get_time(o, "at", base, base, &c.at, where, err, errn) < 0)
			return -1;
		json_t *mb = json_object_get(o, "mailbox"), *pol = json_object_get(o, "policy");
		json_t *tc = json_object_get(o, "transport_config"), *oc = json_object_get(o, "organization_config");
		json_t *ca = json_object_get(o, "conditional_access_policy"), *sd = json_object_get(o, "security_defaults");
		int n = (mb != NULL) + (pol != NULL) + (tc != NULL) + (oc != NULL) + (ca != NULL) + (sd != NULL);
		if (n != 1)
			return ERR("%s: give exactly one of \"mailbox\", \"policy\", \"transport_config\", "
				   "\"organization_config\", \"conditional_access_policy\", \"security_defaults\"",
				where);
		if (sd) {
			if (!json_is_boolean(sd))
				return ERR("%s.security_defaults: expected true or false", where);
			c.kind = CHANGE_SECDEFAULTS;
			c.op = OP_SET;
			c.set = json_incref(sd);
		} else if (tc || oc) {
			if (!json_is_object(tc ? tc : oc))
				return ERR("%s.%s: expected an object of fields", where,
					tc ? "transport_config" : "organization_config");
			c.kind = tc ? CHANGE_TRANSPORT : CHANGE_ORGANIZATION;
			c.op = OP_SET;
			c.set = json_incref(tc ? tc : oc);
		} else {
			json_t *name = mb ? mb : pol ? pol : ca;
			const char *what = mb ? "mailbox" : pol ? "policy" : "conditional_access_policy";
			if (!json_is_string(name))
				return ERR("%s.%s: expected a string", where, what);
			c.kind = mb ? CHANGE_MAILBOX : pol ? CHANGE_POLICY : CHANGE_CA;
			json_t *set = json_object_get(o, "set"), *add = json_object_get(o, "add"),
			       *rm = json_object_get(o, "remove");
			if ((set != NULL) + (add != NULL) + (rm != NULL) != 1)
				return ERR("%s: give exactly one of \"set\", \"add\", \"remove\"", where);
			if (rm) {
				if (!json_is_true(rm))
					return ERR("%s.remove: expected true", where);
				c.op = OP_REMOVE;
			} else {
				if (!json_is_object(set ? set : add))
					return ERR("%s.%s: expected an object of fields", where, set ? "set" : "add");
				c.op = set ? OP_SET : OP_ADD;
				c.set = json_incref(set ? set : add);
			}
			c.name = mb ? sim_strdup_lower(json_string_value(name)) : sim_xstrdup(json_string_value(name));
		}
		if (t->n_changes == t->cap_changes) {
			t->cap_changes = t->cap_changes ? 2 * t->cap_changes : 8;
			t->changes = sim_xrealloc(t->changes, t->cap_changes * sizeof(*t->changes));
		}
		c.order = t->n_changes;
		t->changes[t->n_changes++] = c;
	}
	qsort(t->changes, t->n_changes, sizeof(*t->changes), change_cmp);
	return 0;
}

static enum sim_endpoint endpoint_parse(const char *s)
{
	if (strcmp(s, "token") == 0)
		return EP_TOKEN;
	if (strcmp(s, "signins") == 0)
		return EP_SIGNINS;
	if (strcmp(s, "exchange") == 0)
		return EP_EXCHANGE;
	if (strcmp(s, "policies") == 0)
		return EP_POLICIES;
	if (strcmp(s, "hooks") == 0)
		return EP_HOOKS;
	if (strcmp(s, "manage") == 0)
		return EP_MANAGE;
	if (strcmp(s, "any") == 0)
		return EP_ANY;
	return EP_OTHER;
}

void fault_free(struct sim_fault *f)
{
	if (f == NULL)
		return;
	free(f->tenant);
	free(f->hook);
	free(f->content_type);
	free(f->next_link);
	free(f->expires_in_raw);
	free(f->body);
	free(f->cmdlet);
	json_decref(f->spec);
	free(f);
}

struct sim_fault *fault_parse(json_t *o, const char *where, char *err, size_t errn)
{
	static const char *const keys[] = { "endpoint", "tenant", "hook", "after", "count", "status", "retry_after",
		"delay_ms", "truncate", "reset", "bad_json", "invalid_utf8", "big_body_mb", "content_type",
		"expire_token", "secret_expired", "next_link", "next_link_loop", "expires_in_raw", "body", "cmdlet", NULL };
	if (!json_is_object(o)) {
		ERR("%s: expected an object", where);
		return NULL;
	}
	if (check_keys(o, keys, where, err, errn) < 0)
		return NULL;
	struct sim_fault *f = calloc(1, sizeof(*f));
	if (f == NULL)
		abort();
	f->spec = json_incref(o);
	f->retry_after = -1;
	json_t *v = json_object_get(o, "endpoint");
	if (v == NULL) {
		f->endpoint = EP_ANY;
	} else if (!json_is_string(v) || (f->endpoint = endpoint_parse(json_string_value(v))) == EP_OTHER) {
		ERR("%s.endpoint: expected \"token\", \"signins\", \"exchange\", \"policies\", \"manage\", \"hooks\" or \"any\"", where);
		goto fail;
	}
	if ((v = json_object_get(o, "tenant")) != NULL) {
		if (!json_is_string(v)) {
			ERR("%s.tenant: expected a string", where);
			goto fail;
		}
		f->tenant = sim_xstrdup(json_string_value(v));
	}
	if ((v = json_object_get(o, "hook")) != NULL) {
		if (!json_is_string(v)) {
			ERR("%s.hook: expected a string", where);
			goto fail;
		}
		f->hook = sim_xstrdup(json_string_value(v));
	}
	long status, ra, delay, big;
	if (get_long(o, "after", 0, 0, 1000000000, &f->after, where, err, errn) < 0 ||
		get_long(o, "count", 1, -1, 1000000000, &f->count, where, err, errn) < 0 ||
		get_long(o, "status", 0, 100, 599, &status, where, err, errn) < 0 ||
		get_long(o, "retry_after", -1, 0, 86400, &ra, where, err, errn) < 0 ||
		get_long(o, "delay_ms", 0, 0, 3600000, &delay, where, err, errn) < 0 ||
		get_long(o, "big_body_mb", 0, 0, 4096, &big, where, err, errn) < 0)
		goto fail;
	if (json_object_get(o, "status") == NULL)
		status = 0;
	f->status = (int)status;
	f->retry_after = (int)ra;
	f->delay_ms = (int)delay;
	f->big_body_mb = (int)big;
	static const char *const flags[] = { "truncate", "reset", "bad_json", "invalid_utf8", "expire_token",
		"secret_expired", "next_link_loop" };
	bool *dst[] = { &f->truncate, &f->reset, &f->bad_json, &f->invalid_utf8, &f->expire_token,
		&f->secret_expired, &f->next_link_loop };
	for (size_t k = 0; k < 7; k++) {
		v = json_object_get(o, flags[k]);
		if (v != NULL && !json_is_boolean(v)) {
			ERR("%s.%s: expected true or false", where, flags[k]);
			goto fail;
		}
		*dst[k] = json_is_true(v);
	}
	if ((v = json_object_get(o, "content_type")) != NULL) {
		if (!json_is_string(v)) {
			ERR("%s.content_type: expected a string", where);
			goto fail;
		}
		f->content_type = sim_xstrdup(json_string_value(v));
	}
	static const char *const texts[] = { "next_link", "expires_in_raw", "body", "cmdlet" };
	char **tdst[] = { &f->next_link, &f->expires_in_raw, &f->body, &f->cmdlet };
	for (size_t k = 0; k < 4; k++) {
		if ((v = json_object_get(o, texts[k])) == NULL)
			continue;
		if (!json_is_string(v)) {
			ERR("%s.%s: expected a string", where, texts[k]);
			goto fail;
		}
		*tdst[k] = sim_xstrdup(json_string_value(v));
	}
	int actions = (f->status != 0) + f->truncate + f->reset + f->bad_json + f->invalid_utf8 + f->expire_token +
		f->secret_expired + (f->big_body_mb > 0) + (f->content_type != NULL) + (f->next_link != NULL) +
		f->next_link_loop + (f->expires_in_raw != NULL) + (f->body != NULL);
	if (actions > 1) {
		ERR("%s: give one action (status, truncate, reset, bad_json, invalid_utf8, big_body_mb, "
		    "content_type, expire_token, secret_expired, next_link, next_link_loop, expires_in_raw, body), "
		    "optionally with delay_ms",
			where);
		goto fail;
	}
	if (actions == 0 && f->delay_ms == 0) {
		ERR("%s: no action (status, delay_ms, truncate, reset, bad_json, invalid_utf8, big_body_mb, "
		    "content_type, expire_token, secret_expired, next_link, next_link_loop, expires_in_raw, body)",
			where);
		goto fail;
	}
	if (f->secret_expired && f->endpoint != EP_TOKEN) {
		ERR("%s.secret_expired: only for \"endpoint\": \"token\"", where);
		goto fail;
	}
	if (f->expires_in_raw != NULL && f->endpoint != EP_TOKEN) {
		ERR("%s.expires_in_raw: only for \"endpoint\": \"token\"", where);
		goto fail;
	}
	if ((f->next_link != NULL || f->next_link_loop) && f->endpoint != EP_SIGNINS && f->endpoint != EP_EXCHANGE) {
		ERR("%s.next_link: only for \"endpoint\": \"signins\" or \"exchange\"", where);
		goto fail;
	}
	return f;
fail:
	fault_free(f);
	return NULL;
}

int sim_add_fault(struct sim *sim, struct sim_fault *f)
{
	if (sim->n_faults == sim->cap_faults) {
		sim->cap_faults = sim->cap_faults ? 2 * sim->cap_faults : 8;
		sim->faults = sim_xrealloc(sim->faults, sim->cap_faults * sizeof(*sim->faults));
	}
	sim->faults[sim->n_faults++] = f;
	return 0;
}

static void tenant_free(struct sim_tenant *t)
{
	if (t == NULL)
		return;
	free(t->name);
	free(t->tenant_id);
	free(t->client_id);
	free(t->client_secret);
	free(t->write_client_id);
	free(t->write_client_secret);
	sim_certs_free(t);
	free(t->domain);
	for (size_t i = 0; i < t->n_series; i++)
		series_free(t->series[i]);
	free(t->series);
	free(t->signins);
	json_decref(t->transport_config);
	json_decref(t->organization_config);
	json_decref(t->mailboxes);
	json_decref(t->policies);
	json_decref(t->ca_policies);
	json_decref(t->groups);
	json_decref(t->withheld);
	usage_free(t);
	free(t->gen_prefix);
	json_decref(t->gen_smtp_disabled);
	for (size_t i = 0; i < t->n_changes; i++) {
		free(t->changes[i].name);
		json_decref(t->changes[i].set);
	}
	free(t->changes);
	for (size_t i = 0; i < t->n_audit; i++)
		audit_rec_free(&t->audit[i]);
	free(t->audit);
	free(t->audit_disabled_by);
	free(t->throttle_ring);
	free(t);
}

static int req_string(json_t *o, const char *key, char **ret, const char *where, char *err, size_t errn)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_string(v))
		return ERR("%s.%s: required string", where, key);
	*ret = sim_xstrdup(json_string_value(v));
	return 0;
}

/* "certificate": path or [paths] (relative to the scenario file), and
 * "certificate_pem": PEM text or [texts]: the tenant's certificate credentials. */
static int certificates_parse(struct sim *sim, struct sim_tenant *t, json_t *o, const char *where, char *err,
	size_t errn)
{
	static const char *const names[] = { "certificate", "certificate_pem" };
	char w[400], path[4096];
	for (size_t k = 0; k < 2; k++) {
		char **v = NULL;
		size_t n = 0;
		if (str_list(json_object_get(o, names[k]), &v, &n, where, names[k], err, errn) < 0)
			return -1;
		int r = 0;
		for (size_t i = 0; i < n && r == 0; i++) {
			snprintf(w, sizeof(w), n > 1 ? "%s.%s[%zu]" : "%s.%s", where, names[k], i);
			if (k == 1) {
				r = sim_cert_add_pem(t, v[i], strlen(v[i]), w, err, errn);
				continue;
			}
			if (v[i][0] == '/' || sim->scenario_dir == NULL)
				snprintf(path, sizeof(path), "%s", v[i]);
			else
				snprintf(path, sizeof(path), "%s/%s", sim->scenario_dir, v[i]);
			r = sim_cert_add_file(t, path, w, err, errn);
		}
		for (size_t i = 0; i < n; i++)
			free(v[i]);
		free(v);
		if (r < 0)
			return -1;
	}
	return 0;
}

static int tenant_parse(struct sim *sim, struct sim_tenant *t, json_t *o, const char *where, char *err,
	size_t errn)
{
	static const char *const keys[] = { "tenant_id", "client_id", "client_secret", "client_secret_expired",
		"certificate", "certificate_pem", "domain", "signins", "transport_config", "organization_config",
		"mailboxes", "generate_mailboxes", "authentication_policies", "changes", "conditional_access_policies",
		"security_defaults", "groups", "withhold_permissions", "audit", "no_p1", "usage", "trace", "write_app", NULL };
	char w[400];
	if (!json_is_object(o))
		return ERR("%s: expected an object", where);
	if (check_keys(o, keys, where, err, errn) < 0)
		return -1;
	if (req_string(o, "client_id", &t->client_id, where, err, errn) < 0)
		return -1;
	if (certificates_parse(sim, t, o, where, err, errn) < 0)
		return -1;
	json_t *v = json_object_get(o, "client_secret");
	if (v != NULL && !json_is_string(v))
		return ERR("%s.client_secret: expected a string", where);
	if (v == NULL && t->n_certs == 0)
		return ERR("%s: client_secret, certificate or certificate_pem is required", where);
	if (v != NULL)
		t->client_secret = sim_xstrdup(json_string_value(v));
	v = json_object_get(o, "client_secret_expired");
	if (v != NULL && !json_is_boolean(v))
		return ERR("%s.client_secret_expired: expected true or false", where);
	t->client_secret_expired = json_is_true(v);
	v = json_object_get(o, "write_app");
	if (v != NULL) {
		json_t *wid = json_object_get(v, "client_id"), *wsec = json_object_get(v, "client_secret");
		if (!json_is_object(v) || !json_is_string(wid) || !json_is_string(wsec))
			return ERR("%s.write_app: expected {\"client_id\": \"...\", \"client_secret\": \"...\"}", where);
		t->write_client_id = sim_xstrdup(json_string_value(wid));
		t->write_client_secret = sim_xstrdup(json_string_value(wsec));
	}
	v = json_object_get(o, "domain");
	if (v != NULL && !json_is_string(v))
		return ERR("%s.domain: expected a string", where);
	if (v != NULL) {
		t->domain = sim_strdup_lower(json_string_value(v));
	} else {
		/* contoso.onmicrosoft.com -> contoso.onmicrosoft.com */
		t->domain = sim_strdup_lower(t->name);
	}
	v = json_object_get(o, "tenant_id");
	if (v != NULL && !json_is_string(v))
		return ERR("%s.tenant_id: expected a string", where);
	if (v != NULL)
		t->tenant_id = sim_xstrdup(json_string_value(v));

	v = json_object_get(o, "transport_config");
	if (v != NULL && !json_is_object(v))
		return ERR("%s.transport_config: expected an object", where);
	t->transport_config = v ? json_deep_copy(v) : json_object();
	v = json_object_get(o, "organization_config");
	if (v != NULL && !json_is_object(v))
		return ERR("%s.organization_config: expected an object", where);
	t->organization_config = v ? json_deep_copy(v) : json_object();

	t->mailboxes = json_array();
	v = json_object_get(o, "mailboxes");
	if (v != NULL) {
		size_t i;
		json_t *m;
		if (!json_is_array(v))
			return ERR("%s.mailboxes: expected an array", where);
		json_array_foreach(v, i, m) {
			json_t *addr = json_object_get(m, "PrimarySmtpAddress");
			if (!json_is_object(m) || !json_is_string(addr))
				return ERR("%s.mailboxes[%zu]: expected an object with a PrimarySmtpAddress", where, i);
			json_array_append_new(t->mailboxes, exchange_mailbox_row(t, json_string_value(addr), m));
		}
	}
	t->policies = json_array();
	v = json_object_get(o, "authentication_policies");
	if (v != NULL) {
		size_t i;
		json_t *m;
		if (!json_is_array(v))
			return ERR("%s.authentication_policies: expected an array", where);
		json_array_foreach(v, i, m) {
			json_t *name = json_object_get(m, "Name");
			if (!json_is_object(m) || !json_is_string(name))
				return ERR("%s.authentication_policies[%zu]: expected an object with a Name", where, i);
			json_array_append_new(t->policies, exchange_policy_row(t, json_string_value(name), m));
		}
	}
	v = json_object_get(o, "generate_mailboxes");
	if (v != NULL) {
		static const char *const gkeys[] = { "count", "prefix", "SmtpClientAuthenticationDisabled", NULL };
		snprintf(w, sizeof(w), "%s.generate_mailboxes", where);
		if (!json_is_object(v))
			return ERR("%s: expected an object", w);
		if (check_keys(v, gkeys, w, err, errn) < 0 ||
			get_long(v, "count", 0, 0, 100000000, &t->gen_count, w, err, errn) < 0)
			return -1;
		json_t *p = json_object_get(v, "prefix");
		if (p != NULL && !json_is_string(p))
			return ERR("%s.prefix: expected a string", w);
		t->gen_prefix = sim_strdup_lower(p ? json_string_value(p) : "user");
		json_t *d = json_object_get(v, "SmtpClientAuthenticationDisabled");
		if (d != NULL && !json_is_boolean(d) && !json_is_null(d))
			return ERR("%s.SmtpClientAuthenticationDisabled: expected true, false or null", w);
		t->gen_smtp_disabled = d ? json_incref(d) : json_null();
		t->gen_width = 5; /* user00001 ... user99999, user100000 */
	}
	if (ca_scenario_parse(t, o, where, err, errn) < 0)
		return -1;
	if (usage_scenario_parse(t, o, sim->start, where, err, errn) < 0)
		return -1;
	v = json_object_get(o, "signins");
	if (v != NULL) {
		snprintf(w, sizeof(w), "%s.signins", where);
		if (scenario_add_series(t, v, sim->start, w, err, errn) < 0)
			return -1;
	}
	v = json_object_get(o, "changes");
	if (v != NULL) {
		snprintf(w, sizeof(w), "%s.changes", where);
		if (scenario_add_changes(t, v, sim->start, w, err, errn) < 0)
			return -1;
	}
	v = json_object_get(o, "audit");
	if (v != NULL) {
		static const char *const akeys[] = { "subscription", "disabled_by", "records", NULL };
		const char *sub = json_string_value(json_object_get(v, "subscription"));
		snprintf(w, sizeof(w), "%s.audit", where);
		if (!json_is_object(v))
			return ERR("%s: expected an object", w);
		if (check_keys(v, akeys, w, err, errn) < 0)
			return -1;
		if (sub == NULL || strcmp(sub, "none") == 0)
			t->audit_sub = AUDIT_SUB_NONE;
		else if (strcmp(sub, "enabled") == 0)
			t->audit_sub = AUDIT_SUB_ENABLED;
		else if (strcmp(sub, "disabled") == 0)
			t->audit_sub = AUDIT_SUB_DISABLED;
		else if (strcmp(sub, "off") == 0)
			t->audit_sub = AUDIT_OFF;
		else
			return ERR("%s.subscription: expected \"none\", \"enabled\", \"disabled\" or \"off\"", w);
		if (json_is_string(json_object_get(v, "disabled_by")))
			t->audit_disabled_by = sim_xstrdup(json_string_value(json_object_get(v, "disabled_by")));
		if (json_object_get(v, "records") != NULL) {
			snprintf(w, sizeof(w), "%s.audit.records", where);
			if (scenario_add_audit(t, json_object_get(v, "records"), sim->start, w, err, errn) < 0)
				return -1;
		}
	}
	return 0;
}

static int scenario_parse(struct sim *sim, json_t *root, char *err, size_t errn)
{
	static const char *const keys[] = { "page_size", "exchange_page_size", "token_lifetime",
		"skiptoken_lifetime", "throttle", "tenants", "faults", "audit_page_size", NULL };
	if (!json_is_object(root))
		return ERR("the scenario must be a JSON object");
	if (check_keys(root, keys, "scenario", err, errn) < 0)
		return -1;
	if (get_long(root, "page_size", 1000, 1, 1000, &sim->page_size, "scenario", err, errn) < 0 ||
		get_long(root, "exchange_page_size", 1000, 1, 100000, &sim->exchange_page_size, "scenario", err,
			errn) < 0 ||
		get_long(root, "audit_page_size", 200, 1, 10000, &sim->audit_page_size, "scenario", err, errn) < 0 ||
		get_long(root, "token_lifetime", 3599, 1, 86400 * 30, &sim->token_lifetime, "scenario", err, errn) < 0 ||
		get_dur(root, "skiptoken_lifetime", 0, &sim->skiptoken_lifetime, "scenario", err, errn) < 0)
		return -1;
	json_t *th = json_object_get(root, "throttle");
	if (th != NULL) {
		static const char *const tkeys[] = { "requests", "window", "retry_after", NULL };
		long ra;
		if (!json_is_object(th))
			return ERR("scenario.throttle: expected an object");
		if (check_keys(th, tkeys, "scenario.throttle", err, errn) < 0 ||
			get_long(th, "requests", 5, 1, 1000000, &sim->throttle_requests, "scenario.throttle", err,
				errn) < 0 ||
			get_dur(th, "window", 10 * TICKS_PER_SEC, &sim->throttle_window, "scenario.throttle", err,
				errn) < 0 ||
			get_long(th, "retry_after", -1, 0, 86400, &ra, "scenario.throttle", err, errn) < 0)
			return -1;
		sim->throttle_retry_after = (int)ra;
	}
	json_t *tenants = json_object_get(root, "tenants");
	if (!json_is_object(tenants) || json_object_size(tenants) == 0)
		return ERR("scenario.tenants: required object with at least one tenant");
	sim->tenants = calloc(json_object_size(tenants), sizeof(*sim->tenants));
	const char *name;
	json_t *o;
	json_object_foreach(tenants, name, o) {
		struct sim_tenant *t = calloc(1, sizeof(*t));
		if (t == NULL)
			abort();
		t->name = sim_strdup_lower(name);
		t->seed = sim_mix(sim_hash(t->name));
		sim->tenants[sim->n_tenants++] = t;
		char where[300];
		snprintf(where, sizeof(where), "tenants.%.200s", name);
		if (tenant_parse(sim, t, o, where, err, errn) < 0)
			return -1;
		if (sim->throttle_requests > 0)
			t->throttle_ring = calloc((size_t)sim->throttle_requests, sizeof(int64_t));
	}
	json_t *faults = json_object_get(root, "faults");
	if (faults != NULL) {
		size_t i;
		if (!json_is_array(faults))
			return ERR("scenario.faults: expected an array");
		json_array_foreach(faults, i, o) {
			char where[64];
			snprintf(where, sizeof(where), "faults[%zu]", i);
			struct sim_fault *f = fault_parse(o, where, err, errn);
			if (f == NULL)
				return -1;
			sim_add_fault(sim, f);
		}
	}
	return 0;
}

int scenario_load(struct sim *sim, const char *file)
{
	json_error_t jerr;
	char err[512];
	json_t *root = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		if (jerr.line > 0)
			fprintf(stderr, "%s:%d:%d: %s\n", file, jerr.line, jerr.column, jerr.text);
		else
			fprintf(stderr, "%s: %s\n", file, jerr.text);
		return -1;
	}
	const char *slash = strrchr(file, '/');
	free(sim->scenario_dir);
	sim->scenario_dir = slash ? strndup(file, (size_t)(slash - file == 0 ? 1 : slash - file)) : NULL;
	int r = scenario_parse(sim, root, err, sizeof(err));
	json_decref(root);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", file, err);
		return -1;
	}
	return 0;
}

void scenario_free(struct sim *sim)
{
	for (size_t i = 0; i < sim->n_tenants; i++)
		tenant_free(sim->tenants[i]);
	free(sim->tenants);
	sim->tenants = NULL;
	free(sim->scenario_dir);
	sim->scenario_dir = NULL;
	for (size_t i = 0; i < sim->n_faults; i++)
		fault_free(sim->faults[i]);
	free(sim->faults);
	sim->faults = NULL;
	sim->n_faults = 0;
}

struct sim_tenant *scenario_tenant(struct sim *sim, const char *name)
{
	for (size_t i = 0; i < sim->n_tenants; i++) {
		struct sim_tenant *t = sim->tenants[i];
		if (strcasecmp(t->name, name) == 0 || (t->tenant_id && strcasecmp(t->tenant_id, name) == 0))
			return t;
	}
	return NULL;
}

/* Microsoft's failureReason text for common SMTP AUTH error codes. */
const char *sim_failure_reason(int code)
{
	switch (code) {
	case 0: return "Other.";
	case 50034: return "The user account does not exist in the directory. To sign into this application, the account must be added to the directory.";
	case 50053: return "The account is locked, you've tried to sign in too many times with an incorrect user ID or password.";
	case 50055: return "The password is expired.";
	case 50057: return "The user account is disabled.";
	case 50076: return "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access.";
	case 50126: return "Error validating credentials due to invalid username or password.";
	case 53003: return "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.";
	case 700016: return "Application with identifier was not found in the directory.";
	default: return "Other.";
	}
}
