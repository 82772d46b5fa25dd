/* control_lifecycle.c: ack and silence.
 *
 *   {"cmd":"ack","id":"a-000123","note":"optional"}
 *       -> the alert's document (acked, ack_note)
 *   {"cmd":"silence","rule":R,"subject":S,"for":"2h","note":"optional"}
 *       -> {"silence":{"id","rule","subject","until","created","created_by",
 *          "note","alerts":[documents of the alerts it covers]}}
 *   {"cmd":"silence"}  (no rule: list)
 *       -> {"silences":[{... ,"alerts":[...]}]}: the silences in force, each
 *          with the alerts it covers (firing ones, and those changed since
 *          it was set), their documents marked "silenced":true. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "control.h"
#include "lifecycle.h"
#include "log.h"
#include "smtpwatchd.h"
#include "store_lifecycle.h"

/* An ISO time as JSON. */
static json_t *time_json(int64_t t)
{
	char buf[32];

	sw_time_format(t, buf, sizeof(buf));
	return json_string(buf);
}

/* ack {"id":..,"note":..}: no repeats of that alert until it resolves. */
int control_cmd_ack(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data, char *why,
                    size_t n)
{
	const char *id = json_string_value(json_object_get(req, "id"));
	json_t *jnote = json_object_get(req, "note");
	const char *note = json_string_value(jnote);
	struct sw_alert a = {0};
	int r;

	if (id == NULL || id[0] == '\0') {
		snprintf(why, n, "\"id\" is required");
		return -EINVAL;
	}
	if (jnote != NULL && !json_is_null(jnote) && note == NULL) {
		snprintf(why, n, "\"note\" must be a string");
		return -EINVAL;
	}
	r = sw_store_begin(d->store);
	if (r >= 0)
		r = sw_lifecycle_ack(d->store, id, note, daemon_now(), &a);
	if (r >= 0)
		r = sw_store_commit(d->store);
	if (r < 0) {
		sw_store_rollback(d->store);
		if (r == -ENOENT)
			snprintf(why, n, "no alert %.40s", id);
		else if (r == -EALREADY)
			snprintf(why, n, "alert %.40s is resolved: nothing to acknowledge", id);
		else
			snprintf(why, n, "cannot acknowledge %.40s: %s", id, sw_store_errmsg(d->store));
		sw_alert_clear(&a);
		return r;
	}
	log_info("control: alert %s (%s %s) acknowledged by uid %u%s%s", a.id, a.rule, a.subject, (unsigned)peer->uid,
	         note ? ": " : "", note ? note : "");
	sw_lifecycle_silenced(d->store, a.rule, a.subject, daemon_now(), &a.silenced_until);
	*ret_data = sw_alert_document(&a);
	sw_alert_clear(&a);
	if (*ret_data == NULL) {
		snprintf(why, n, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

struct covered_ctx {
	const struct sw_silence *sil;
	json_t *docs;
};

/* Collect the documents of the alerts one silence covers. */
static int covered_cb(const struct sw_alert *a, void *arg)
{
	struct covered_ctx *c = arg;
	struct sw_alert shown;
	json_t *doc;

	if (!sw_silence_covers(c->sil, a->rule, a->subject))
		return 0;
	if (a->status != SW_ALERT_FIRING && a->updated < c->sil->created)
		return 0;
	shown = *a;
	shown.silenced_until = c->sil->until;
	doc = sw_alert_document(&shown);
	if (doc == NULL || json_array_append_new(c->docs, doc) < 0)
		return -ENOMEM;
	return 0;
}

/* A silence as JSON, with the alerts it covers. */
static json_t *silence_json(struct daemon *d, const struct sw_silence *sil)
{
	struct covered_ctx c = {.sil = sil, .docs = json_array()};

	if (c.docs == NULL || sw_store_alerts_list(d->store, true, 0, covered_cb, &c) < 0) {
		json_decref(c.docs);
		return NULL;
	}
	return json_pack("{s:I,s:s,s:s,s:o,s:o,s:s?,s:s?,s:o}", "id", (json_int_t)sil->id, "rule", sil->rule,
	                 "subject", sil->subject, "until", time_json(sil->until), "created", time_json(sil->created),
	                 "created_by", sil->created_by[0] ? sil->created_by : NULL, "note",
	                 sil->note[0] ? sil->note : NULL, "alerts", c.docs);
}

/* Append each silence in force, with its alerts. */
static int list_cb(const struct sw_silence *sil, void *arg)
{
	void **a = arg;
	json_t *j = silence_json(a[0], sil);

	if (j == NULL || json_array_append_new(a[1], j) < 0)
		return -ENOMEM;
	return 0;
}

/* silence with no rule: the silences in force. */
static int silence_list(struct daemon *d, json_t **ret_data, char *why, size_t n)
{
	json_t *list = json_array();
	void *arg[2] = {d, list};
	int r = list == NULL ? -ENOMEM : sw_store_silences_list(d->store, daemon_now(), list_cb, arg);

	if (r < 0) {
		json_decref(list);
		snprintf(why, n, "cannot list silences: %s", r == -ENOMEM ? "out of memory" : sw_store_errmsg(d->store));
		return r;
	}
	*ret_data = json_pack("{s:o}", "silences", list);
	return *ret_data ? 0 : -ENOMEM;
}

/* silence {"rule":..,"subject":..,"for":..,"note":..}: mute a rule for a
 * subject ("*" for either) until the time passes; {} lists. */
int control_cmd_silence(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data,
                        char *why, size_t n)
{
	json_t *jrule = json_object_get(req, "rule");
	const char *rule = json_string_value(jrule);
	const char *subject = json_string_value(json_object_get(req, "subject"));
	const char *dur = json_string_value(json_object_get(req, "for"));
	const char *note = json_string_value(json_object_get(req, "note"));
	struct sw_silence sil;
	int64_t secs, now = daemon_now(), id;
	char by[32];
	int r;

	if (jrule == NULL || json_is_null(jrule))
		return silence_list(d, ret_data, why, n);
	if (rule == NULL || (strcmp(rule, "*") != 0 && !sw_rule_known(rule))) {
		snprintf(why, n, "unknown rule \"%.64s\" (a rule name from the SPEC, or *)", rule ? rule : "");
		return -EINVAL;
	}
	if (subject == NULL || subject[0] == '\0') {
		snprintf(why, n, "\"subject\" is required (a mailbox, an IP, a tenant id, or *)");
		return -EINVAL;
	}
	if (dur == NULL || sw_duration_parse(dur, &secs) < 0 || secs <= 0) {
		snprintf(why, n, "invalid duration \"%.40s\" for \"for\" (use 30s, 5m, 2h, 7d)", dur ? dur : "");
		return -EINVAL;
	}
	snprintf(by, sizeof(by), "uid %u", (unsigned)peer->uid);
	r = sw_store_begin(d->store);
	if (r >= 0)
		r = sw_lifecycle_silence(d->store, rule, subject, now + secs, now, by, note, &id);
	if (r >= 0)
		r = sw_store_commit(d->store);
	if (r < 0) {
		sw_store_rollback(d->store);
		snprintf(why, n, "cannot set the silence: %s", sw_store_errmsg(d->store));
		return r;
	}
	log_info("control: %s for %s silenced for %s by %s%s%s", rule, subject, dur, by, note ? ": " : "",
	         note ? note : "");
	memset(&sil, 0, sizeof(sil));
	sil.id = id;
	snprintf(sil.rule, sizeof(sil.rule), "%s", rule);
	snprintf(sil.subject, sizeof(sil.subject), "%s", subject);
	sil.until = now + secs;
	sil.created = now;
	snprintf(sil.created_by, sizeof(sil.created_by), "%s", by);
	snprintf(sil.note, sizeof(sil.note), "%s", note ? note : "");
	json_t *j = silence_json(d, &sil);
	*ret_data = j ? json_pack("{s:o}", "silence", j) : NULL;
	if (*ret_data == NULL) {
		snprintf(why, n, "out of memory");
		return -ENOMEM;
	}
	return 0;
}
