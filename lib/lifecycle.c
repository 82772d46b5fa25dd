/* lifecycle.c: conditions -> alert transitions -> outbox rows.  Runs inside
 * the caller's transaction: it never begins or commits. */
#include "lifecycle.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store_lifecycle.h"

/* Evidence arrays ("ips", "signin_ids", ...) keep at most this many. */
#define EVIDENCE_ARRAY_MAX 50

/* Replace *dst with a copy of src (NULL allowed). */
static int replace_str(char **dst, const char *src)
{
	char *d = NULL;

	if (src) {
		d = strdup(src);
		if (d == NULL)
			return -ENOMEM;
	}
	free(*dst);
	*dst = d;
	return 0;
}

/* Equal strings, NULL equal only to NULL. */
static bool str_same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* A deep copy of a value, arrays cut to EVIDENCE_ARRAY_MAX entries. */
static json_t *evidence_value_copy(const json_t *v)
{
	json_t *copy, *item;
	size_t i;

	if (!json_is_array(v))
		return json_deep_copy(v);
	copy = json_array();
	if (copy == NULL)
		return NULL;
	json_array_foreach(v, i, item) {
		if (i >= EVIDENCE_ARRAY_MAX)
			break;
		if (json_array_append_new(copy, json_deep_copy(item)) < 0) {
			json_decref(copy);
			return NULL;
		}
	}
	return copy;
}

/* Union the items of src into the array dst, in order, up to the cap.  The
 * earliest entries are kept: evidence of how it started, and a document
 * that stops changing once full. */
static int evidence_array_union(json_t *dst, const json_t *src)
{
	json_t *item, *have;
	size_t i, j;

	json_array_foreach(src, i, item) {
		bool found = false;

		if (json_array_size(dst) >= EVIDENCE_ARRAY_MAX)
			break;
		json_array_foreach(dst, j, have) {
			if (json_equal(have, item)) {
				found = true;
				break;
			}
		}
		if (!found && json_array_append_new(dst, json_deep_copy(item)) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* Merge a condition's evidence into the alert's: arrays are unioned,
 * everything else is overwritten. */
static int evidence_merge(json_t **dst, const json_t *src)
{
	const char *key;
	json_t *v;

	if (!json_is_object(src))
		return 0;
	if (!json_is_object(*dst)) {
		json_decref(*dst);
		*dst = json_object();
		if (*dst == NULL)
			return -ENOMEM;
	}
	json_object_foreach((json_t *)src, key, v) {
		json_t *old = json_object_get(*dst, key);

		if (json_is_array(old) && json_is_array(v)) {
			if (evidence_array_union(old, v) < 0)
				return -ENOMEM;
		} else if (json_object_set_new(*dst, key, evidence_value_copy(v)) < 0) {
			return -ENOMEM;
		}
	}
	return 0;
}

/* The condition's evidence as a fresh object for the alert (NULL if none). */
static int evidence_replace(json_t **dst, const json_t *src)
{
	json_decref(*dst);
	*dst = NULL;
	return evidence_merge(dst, src);
}

/* See lifecycle.h. */
int sw_lifecycle_queue(struct sw_store *s, const struct sw_config *cfg, const struct sw_alert *a, const json_t *doc,
                       const char *body, int64_t now)
{
	struct sw_outbox_new n = {
		.alert_id = a->id,
		.transition = a->transition,
		.rule = a->rule,
		.tenant = a->tenant,
		.body = body,
		.meta = true,
		.severity = json_string_value(json_object_get(doc, "severity")),
		.tenant_id = json_string_value(json_object_get(doc, "tenant_id")),
		.first_seen = json_string_value(json_object_get(doc, "first_seen")),
		.last_seen = json_string_value(json_object_get(doc, "last_seen")),
	};
	const char **sinks;
	size_t k = 0;
	int r;

	if (cfg == NULL || cfg->n_sinks == 0)
		return 0;
	sinks = calloc(cfg->n_sinks, sizeof(*sinks));
	if (sinks == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_sinks; i++)
		if (cfg->sinks[i].name != NULL && sw_sink_wants(&cfg->sinks[i], a->rule, a->severity))
			sinks[k++] = cfg->sinks[i].name;
	r = sw_store_outbox_queue(s, &n, sinks, k, now);
	free(sinks);
	return r;
}

/* Queue the alert's current document for every sink that wants it.  The
 * alert must be saved (it has its id) and its transition already bumped. */
static int notify(struct sw_store *s, const struct sw_config *cfg, const struct sw_alert *a, int64_t now)
{
	struct sw_alert view = *a; /* shallow: only read by sw_alert_document */
	json_t *doc = NULL;
	char *body = NULL;
	int r = 0;

	if (cfg == NULL || cfg->n_sinks == 0)
		return 0;
	sw_alert_set_tenant_id(&view, cfg);
	doc = sw_alert_document(&view);
	if (doc == NULL) {
		r = -ENOMEM;
		goto out;
	}
	body = json_dumps(doc, JSON_COMPACT);
	if (body == NULL) {
		r = -ENOMEM;
		goto out;
	}
	r = sw_lifecycle_queue(s, cfg, a, doc, body, now);
out:
	free(body);
	json_decref(doc);
	return r;
}

/* A new alert from a condition. */
static int alert_init(struct sw_alert *a, const struct sw_condition *c, int64_t now)
{
	if (replace_str(&a->rule, c->rule) < 0 || replace_str(&a->tenant, c->tenant) < 0 ||
	    replace_str(&a->subject, c->subject) < 0 || replace_str(&a->summary, c->summary) < 0 ||
	    replace_str(&a->remediation, c->remediation) < 0 || evidence_replace(&a->evidence, c->evidence) < 0)
		return -ENOMEM;
	if (replace_str(&a->changed_by, c->changed_by) < 0)
		return -ENOMEM;
	a->severity = c->severity;
	a->status = SW_ALERT_FIRING;
	a->first_seen = c->first_seen;
	a->last_seen = c->last_seen;
	a->count = c->count;
	a->updated = now;
	return 0;
}

/* A resolved alert comes back: it starts over as a new occurrence. */
static int alert_reopen(struct sw_alert *a, const struct sw_condition *c, int64_t now)
{
	if (replace_str(&a->summary, c->summary) < 0 || replace_str(&a->ack_note, NULL) < 0 ||
	    evidence_replace(&a->evidence, c->evidence) < 0)
		return -ENOMEM;
	if (c->remediation && replace_str(&a->remediation, c->remediation) < 0)
		return -ENOMEM;
	if (replace_str(&a->changed_by, c->changed_by) < 0)
		return -ENOMEM;
	a->severity = c->severity;
	a->status = SW_ALERT_FIRING;
	a->resolved_at = 0;
	a->acked = false;
	a->first_seen = c->first_seen;
	a->last_seen = c->last_seen;
	a->count = c->count;
	a->updated = now;
	return 0;
}

/* A firing alert sees its condition again; *ret_changed says whether
 * anything a user would see changed. */
static int alert_grow(struct sw_alert *a, const struct sw_condition *c, int64_t now, bool *ret_changed)
{
	json_t *before = NULL;
	bool changed = false;
	int r = -ENOMEM;

	if (a->evidence) {
		before = json_deep_copy(a->evidence);
		if (before == NULL)
			goto out;
	}
	if (c->first_seen < a->first_seen) {
		a->first_seen = c->first_seen;
		changed = true;
	}
	if (c->last_seen > a->last_seen) {
		a->last_seen = c->last_seen;
		changed = true;
	}
	int64_t count = c->accumulate ? a->count + c->count : c->count;
	if (count != a->count) {
		a->count = count;
		changed = true;
	}
	if (a->severity != c->severity) {
		a->severity = c->severity;
		changed = true;
	}
	if (!str_same(a->summary, c->summary)) {
		if (replace_str(&a->summary, c->summary) < 0)
			goto out;
		changed = true;
	}
	/* NULL means "no advice this time", not "forget the advice". */
	if (c->remediation && !str_same(a->remediation, c->remediation)) {
		if (replace_str(&a->remediation, c->remediation) < 0)
			goto out;
		changed = true;
	}
	if (evidence_merge(&a->evidence, c->evidence) < 0)
		goto out;
	if (!json_equal(before, a->evidence) && (before != NULL || a->evidence != NULL))
		changed = true;
	if (changed)
		a->updated = now;
	*ret_changed = changed;
	r = 0;
out:
	json_decref(before);
	return r;
}

/* Has the count reached the next power of two above the count of the last
 * notification (1 -> 2 -> 4 -> 8 ...; from 3 or 5 events: at 4, at 8)? */
static bool count_doubled(const struct sw_alert *a)
{
	int64_t threshold = 1;

	while (threshold <= a->notified_count && threshold < INT64_MAX / 2)
		threshold *= 2;
	return a->count >= threshold;
}

/* See lifecycle.h. */
int sw_lifecycle_fire(struct sw_store *s, const struct sw_config *cfg, const struct sw_condition *c, int64_t now,
                      bool *ret_notified)
{
	struct sw_alert a = {0};
	bool notified = false, changed = true;
	int r;

	if (c == NULL || c->rule == NULL || c->tenant == NULL || c->subject == NULL)
		return -EINVAL;
	r = sw_store_alert_find(s, c->rule, c->tenant, c->subject, &a);
	if (r == -ENOENT) {
		r = alert_init(&a, c, now);
		notified = true;
	} else if (r < 0) {
		return r;
	} else if (a.status == SW_ALERT_RESOLVED) {
		r = alert_reopen(&a, c, now);
		notified = true;
	} else {
		r = alert_grow(&a, c, now, &changed);
		notified = !a.acked && count_doubled(&a);
		/* The audit record that explains it came after the alert went
		 * out (records are late): the receivers hear who did it, as one
		 * more transition of the same alert. */
		if (r >= 0 && c->changed_by != NULL && !str_same(a.changed_by, c->changed_by)) {
			r = replace_str(&a.changed_by, c->changed_by);
			changed = true;
			a.updated = now;
			if (!a.acked && a.transition > 0)
				notified = true;
		}
	}
	if (r < 0)
		goto out;
	if (notified && sw_lifecycle_silenced(s, c->rule, c->subject, now, NULL)) {
		/* Stored and counted, not sent; owed once the silence ends. */
		notified = false;
		if (a.notified_count != 0 || a.seq == 0) {
			a.notified_count = 0;
			changed = true;
		}
	}
	if (notified) {
		a.transition++;
		a.transition_at = now;
		a.notified_count = a.count;
	} else if (!changed) {
		/* Same condition, same alert: nothing to write. */
		goto done;
	}
	r = sw_store_alert_save(s, &a);
	if (r < 0)
		goto out;
	if (notified) {
		r = notify(s, cfg, &a, now);
		if (r < 0)
			goto out;
	}
done:
	if (ret_notified)
		*ret_notified = notified;
	r = 0;
out:
	sw_alert_clear(&a);
	return r;
}

/* See lifecycle.h. */
int sw_lifecycle_event(struct sw_store *s, const struct sw_config *cfg, const struct sw_condition *c, int64_t now)
{
	struct sw_alert a = {0};
	int r;

	r = sw_lifecycle_fire(s, cfg, c, now, NULL);
	if (r < 0)
		return r;
	r = sw_store_alert_find(s, c->rule, c->tenant, c->subject, &a);
	if (r < 0)
		return r;
	/* Resolved without a transition: the sinks saw the event, and a
	 * resolution of it would be noise. */
	a.status = SW_ALERT_RESOLVED;
	a.resolved_at = now;
	a.updated = now;
	r = sw_store_alert_save(s, &a);
	sw_alert_clear(&a);
	return r < 0 ? r : 0;
}

/* See lifecycle.h. */
int sw_lifecycle_resolve(struct sw_store *s, const struct sw_config *cfg, const char *rule, const char *tenant,
                         const char *subject, int64_t now)
{
	return sw_lifecycle_resolve_as(s, cfg, rule, tenant, subject, NULL, NULL, now);
}

/* See lifecycle.h. */
int sw_lifecycle_resolve_as(struct sw_store *s, const struct sw_config *cfg, const char *rule, const char *tenant,
                            const char *subject, const char *summary, const json_t *evidence, int64_t now)
{
	struct sw_alert a = {0};
	int r;

	r = sw_store_alert_find(s, rule, tenant, subject, &a);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (a.status != SW_ALERT_FIRING) {
		r = 0;
		goto out;
	}
	/* Acked or not: the resolution is news to whoever saw it fire.
	 * Silenced: it is muted like the rest. */
	bool silenced = sw_lifecycle_silenced(s, rule, subject, now, NULL);
	if (summary != NULL && (r = replace_str(&a.summary, summary)) < 0)
		goto out;
	if (evidence != NULL && (r = evidence_merge(&a.evidence, evidence)) < 0)
		goto out;
	a.status = SW_ALERT_RESOLVED;
	a.resolved_at = now;
	a.updated = now;
	if (!silenced) {
		a.transition++;
		a.transition_at = now;
	}
	r = sw_store_alert_save(s, &a);
	if (r < 0)
		goto out;
	if (!silenced)
		r = notify(s, cfg, &a, now);
out:
	sw_alert_clear(&a);
	return r < 0 ? r : 0;
}

/* See lifecycle.h. */
bool sw_lifecycle_silenced(struct sw_store *s, const char *rule, const char *subject, int64_t now,
                           int64_t *ret_until)
{
	struct sw_silence sil;

	/* Who mutes the record of muting could hide that he did. */
	if (rule != NULL && strcmp(rule, SW_RULE_SILENCE_CHANGED) == 0)
		return false;
	if (sw_store_silence_match(s, rule, subject, now, &sil) < 0)
		return false;
	if (ret_until)
		*ret_until = sil.until;
	return true;
}

/* Are a and b equal without regard to ASCII case (SQLite's NOCASE)? */
static bool ascii_caseeq(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++) {
		unsigned char x = (unsigned char)*a, y = (unsigned char)*b;

		if (x >= 'A' && x <= 'Z')
			x += 'a' - 'A';
		if (y >= 'A' && y <= 'Z')
			y += 'a' - 'A';
		if (x != y)
			return false;
	}
	return *a == *b;
}

/* See lifecycle.h. */
bool sw_silence_covers(const struct sw_silence *sil, const char *rule, const char *subject)
{
	if (strcmp(rule, SW_RULE_SILENCE_CHANGED) == 0)
		return false;
	return (strcmp(sil->rule, "*") == 0 || strcmp(sil->rule, rule) == 0) &&
	       (strcmp(sil->subject, "*") == 0 || ascii_caseeq(sil->subject, subject));
}

/* Append one silence to the set (sw_store_silences_list's callback). */
static int silences_add_cb(const struct sw_silence *sil, void *arg)
{
	struct sw_silences *set = arg;
	struct sw_silence *items;

	items = realloc(set->items, (set->n + 1) * sizeof(*items));
	if (items == NULL)
		return -ENOMEM;
	set->items = items;
	set->items[set->n++] = *sil;
	return 0;
}

/* See lifecycle.h. */
int sw_silences_load(struct sw_store *s, int64_t now, struct sw_silences *ret)
{
	memset(ret, 0, sizeof(*ret));
	return sw_store_silences_list(s, now, silences_add_cb, ret);
}

/* See lifecycle.h. */
int64_t sw_silences_until(const struct sw_silences *set, const char *rule, const char *subject)
{
	int64_t until = 0;

	for (size_t i = 0; i < set->n; i++)
		if (set->items[i].until > until && sw_silence_covers(&set->items[i], rule, subject))
			until = set->items[i].until;
	return until;
}

/* See lifecycle.h. */
void sw_silences_clear(struct sw_silences *set)
{
	if (set == NULL)
		return;
	free(set->items);
	memset(set, 0, sizeof(*set));
}

/* See lifecycle.h. */
int sw_lifecycle_ack(struct sw_store *s, const char *id, const char *note, int64_t now, struct sw_alert *ret)
{
	struct sw_alert a = {0};
	int r;

	if (id == NULL || id[0] == '\0')
		return -EINVAL;
	r = sw_store_alert_get(s, id, &a);
	if (r < 0)
		return r;
	if (a.status != SW_ALERT_FIRING) {
		r = -EALREADY;
		goto fail;
	}
	if (note != NULL && replace_str(&a.ack_note, note) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	a.acked = true;
	a.updated = now;
	r = sw_store_alert_save(s, &a);
	if (r < 0)
		goto fail;
	if (ret) {
		*ret = a;
		return 0;
	}
fail:
	sw_alert_clear(&a);
	return r;
}

/* See lifecycle.h. */
int sw_lifecycle_silence(struct sw_store *s, const char *rule, const char *subject, int64_t until, int64_t now,
                         const char *created_by, const char *note, int64_t *ret_id)
{
	if (rule == NULL || (strcmp(rule, "*") != 0 && !sw_rule_known(rule)))
		return -EINVAL;
	if (strcmp(rule, SW_RULE_SILENCE_CHANGED) == 0)
		return -EPERM;
	if (subject == NULL || subject[0] == '\0' || until <= now)
		return -EINVAL;
	return sw_store_silence_put(s, rule, subject, until, now, created_by, note, ret_id);
}

/* See lifecycle.h. */
int sw_lifecycle_unsilence(struct sw_store *s, const char *rule, const char *subject, int64_t now,
                           struct sw_silence *ret)
{
	if (rule == NULL || rule[0] == '\0' || subject == NULL || subject[0] == '\0')
		return -EINVAL;
	return sw_store_silence_end(s, rule, subject, now, ret);
}

struct sync_ctx {
	const char **present; /* sorted */
	size_t n_present;
	char **gone;
	size_t n_gone, cap;
};

/* qsort/bsearch over an array of C strings. */
static int strp_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Collect the subjects of firing alerts that are no longer present. */
static int sync_collect_cb(const struct sw_alert *a, void *arg)
{
	struct sync_ctx *ctx = arg;
	const char *key = a->subject;

	if (ctx->n_present > 0 && bsearch(&key, ctx->present, ctx->n_present, sizeof(*ctx->present), strp_cmp))
		return 0;
	if (ctx->n_gone == ctx->cap) {
		size_t cap = ctx->cap ? ctx->cap * 2 : 8;
		char **n = realloc(ctx->gone, cap * sizeof(*n));

		if (n == NULL)
			return -ENOMEM;
		ctx->gone = n;
		ctx->cap = cap;
	}
	ctx->gone[ctx->n_gone] = strdup(a->subject);
	if (ctx->gone[ctx->n_gone] == NULL)
		return -ENOMEM;
	ctx->n_gone++;
	return 0;
}

/* See lifecycle.h. */
int sw_lifecycle_sync(struct sw_store *s, const struct sw_config *cfg, const char *rule, const char *tenant,
                      const char *const *subjects, size_t n, int64_t now, size_t *ret_resolved)
{
	struct sync_ctx ctx = {0};
	int r = -ENOMEM;

	if (rule == NULL || tenant == NULL || (n > 0 && subjects == NULL))
		return -EINVAL;
	if (n > 0) {
		ctx.present = malloc(n * sizeof(*ctx.present));
		if (ctx.present == NULL)
			goto out;
		for (size_t i = 0; i < n; i++)
			if (subjects[i])
				ctx.present[ctx.n_present++] = subjects[i];
		qsort(ctx.present, ctx.n_present, sizeof(*ctx.present), strp_cmp);
	}
	/* Collect first, then resolve: resolving writes the alerts table,
	 * which must not change under the listing statement. */
	r = sw_store_alerts_firing(s, rule, tenant, sync_collect_cb, &ctx);
	for (size_t i = 0; r >= 0 && i < ctx.n_gone; i++) {
		r = sw_lifecycle_resolve(s, cfg, rule, tenant, ctx.gone[i], now);
		if (r >= 0 && ret_resolved != NULL)
			(*ret_resolved)++;
	}
out:
	for (size_t i = 0; i < ctx.n_gone; i++)
		free(ctx.gone[i]);
	free(ctx.gone);
	free(ctx.present);
	return r < 0 ? r : 0;
}
