/* control_lifecycle.c: ack, silence and unsilence.
 *
 *   {"cmd":"ack","id":"a-000123","note":"optional"}
 *       -> the alert's document (acked, ack_note)
 *   {"cmd":"silence","rule":R,"subject":S,"for":"2h","note":"optional"}
 *       -> {"silence":{"id","rule","subject","until","created","created_by",
 *          "note","alerts":[documents of the alerts it covers]}}
 *       "all":true is required when rule and subject are both "*"; "for" is
 *       at most max_silence.
 *   {"cmd":"unsilence","rule":R,"subject":S}
 *       -> {"unsilenced":{"id","rule","subject","until","set_by","lifted_by"}}
 *   {"cmd":"silence"}  (no rule: list)
 *       -> {"silences":[{... ,"alerts":[...]}]}: the silences in force, each
 *          with the alerts it covers (firing ones, and those changed since
 *          it was set), their documents marked "silenced":true. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "control.h"
#include "deliver.h"
#include "jsonutil.h"
#include "lifecycle.h"
#include "log.h"
#include "smtpwatchd.h"
#include "store_lifecycle.h"

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
	sw_alert_set_tenant_id(&a, d->cfg);
	*ret_data = sw_alert_document(&a);
	sw_alert_clear(&a);
	if (*ret_data == NULL) {
		snprintf(why, n, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

struct covered_ctx {
	const struct sw_config *cfg;
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
	sw_alert_set_tenant_id(&shown, c->cfg);
	doc = sw_alert_document(&shown);
	if (doc == NULL || json_array_append_new(c->docs, doc) < 0)
		return -ENOMEM;
	return 0;
}

/* A silence as JSON, with the alerts it covers. */
static json_t *silence_json(struct daemon *d, const struct sw_silence *sil)
{
	struct covered_ctx c = {.cfg = d->cfg, .sil = sil, .docs = json_array()};

	if (c.docs == NULL || sw_store_alerts_list(d->store, true, 0, covered_cb, &c) < 0) {
		json_decref(c.docs);
		return NULL;
	}
	return json_pack("{s:I,s:s,s:s,s:o,s:o,s:s?,s:s?,s:o}", "id", (json_int_t)sil->id, "rule", sil->rule, "subject",
	                 sil->subject, "until", sw_json_time(sil->until), "created", sw_json_time(sil->created),
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

/* Tell the sinks (and the log) that a silence was set or lifted: an
 * event of silence-changed, in the caller's transaction.  Medium when it
 * covers every rule or every subject, since that hides the most. */
static int silence_announce(struct daemon *d, const struct sw_silence *sil, const char *by, bool lifted,
                            int64_t now)
{
	bool wide = strcmp(sil->rule, "*") == 0 || strcmp(sil->subject, "*") == 0;
	char subject[400], summary[1024], until[32];
	struct sw_condition c = {0};
	json_t *ev;
	int r;

	sw_time_format(sil->until, until, sizeof(until));
	snprintf(subject, sizeof(subject), "%s:%s", sil->rule, sil->subject);
	if (lifted)
		snprintf(summary, sizeof(summary), "%s lifted the silence of rule %s for subject %s (it was to run until %s)",
		         by, sil->rule, sil->subject, until);
	else
		snprintf(summary, sizeof(summary), "%s silenced rule %s for subject %s until %s%s%s", by, sil->rule,
		         sil->subject, until, sil->note[0] ? ": " : "", sil->note);
	ev = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s?}", "action", lifted ? "unsilence" : "silence", "rule", sil->rule,
	               "subject", sil->subject, "until", until, "by", by, "note", sil->note[0] ? sil->note : NULL);
	if (ev == NULL)
		return -ENOMEM;
	c.rule = SW_RULE_SILENCE_CHANGED;
	c.severity = wide ? SW_SEV_MEDIUM : SW_SEV_LOW;
	c.tenant = "-";
	c.subject = subject;
	c.first_seen = now;
	c.last_seen = now;
	c.count = 1;
	c.summary = summary;
	c.remediation = lifted ? "smtpwatchctl silence lists the silences in force"
	                       : "smtpwatchctl silence lists the silences in force; smtpwatchctl unsilence RULE SUBJECT "
	                         "lifts this one";
	c.evidence = ev;
	r = sw_lifecycle_event(d->store, d->cfg, &c, now);
	json_decref(ev);
	return r;
}

/* "uid 1000 (alice)": who set or lifted a silence. */
static void peer_who(const struct control_peer *peer, char *buf, size_t n)
{
	char name[40]; /* created_by holds 64 bytes */

	if (control_user_name(peer->uid, name, sizeof(name)) == 0)
		snprintf(buf, n, "uid %u (%s)", (unsigned)peer->uid, name);
	else
		snprintf(buf, n, "uid %u", (unsigned)peer->uid);
}

/* The silence as the store would hold it, for the reply and the event. */
static void silence_fill(struct sw_silence *sil, int64_t id, const char *rule, const char *subject, int64_t until,
                         int64_t now, const char *by, const char *note)
{
	memset(sil, 0, sizeof(*sil));
	sil->id = id;
	snprintf(sil->rule, sizeof(sil->rule), "%s", rule);
	snprintf(sil->subject, sizeof(sil->subject), "%s", subject);
	sil->until = until;
	sil->created = now;
	snprintf(sil->created_by, sizeof(sil->created_by), "%s", by);
	snprintf(sil->note, sizeof(sil->note), "%s", note ? note : "");
}

/* Is the (rule, subject) of a request acceptable?  0, or -EINVAL with why. */
static int silence_target_check(const char *rule, const char *subject, char *why, size_t n)
{
	if (rule != NULL && strcmp(rule, SW_RULE_SILENCE_CHANGED) == 0) {
		snprintf(why, n, "%s cannot be silenced: it is the record of every silence", SW_RULE_SILENCE_CHANGED);
		return -EPERM;
	}
	if (rule == NULL || (strcmp(rule, "*") != 0 && !sw_rule_known(rule))) {
		snprintf(why, n, "unknown rule \"%.64s\" (a rule name from the SPEC, or *)", rule ? rule : "");
		return -EINVAL;
	}
	if (subject == NULL || subject[0] == '\0') {
		snprintf(why, n, "\"subject\" is required (a mailbox, an IP, a tenant id, or *)");
		return -EINVAL;
	}
	return 0;
}

/* silence {"rule":..,"subject":..,"for":..,"note":..,"all":bool}: mute a
 * rule for a subject ("*" for either, both only with "all") for at most
 * max_silence; {} lists.  Each one is logged and reaches the sinks. */
int control_cmd_silence(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data,
                        char *why, size_t n)
{
	json_t *jrule = json_object_get(req, "rule");
	const char *rule = json_string_value(jrule);
	const char *subject = json_string_value(json_object_get(req, "subject"));
	const char *dur = json_string_value(json_object_get(req, "for"));
	const char *note = json_string_value(json_object_get(req, "note"));
	int64_t max = d->cfg->daemon.max_silence;
	struct sw_silence sil;
	int64_t secs, now = daemon_now(), id;
	char by[64], maxtext[32], until[32];
	int r;

	if (jrule == NULL || json_is_null(jrule))
		return silence_list(d, ret_data, why, n);
	r = silence_target_check(rule, subject, why, n);
	if (r < 0)
		return r;
	if (strcmp(rule, "*") == 0 && strcmp(subject, "*") == 0 && !json_is_true(json_object_get(req, "all"))) {
		snprintf(why, n, "a silence of every rule (*) for every subject (*) mutes all alerts: give --all if that "
		         "is what you mean");
		return -EPERM;
	}
	if (dur == NULL || sw_duration_parse(dur, &secs) < 0 || secs <= 0) {
		snprintf(why, n, "invalid duration \"%.40s\" for \"for\" (use 30s, 5m, 2h, 7d)", dur ? dur : "");
		return -EINVAL;
	}
	if (max > 0 && secs > max) {
		sw_duration_format(max, maxtext, sizeof(maxtext));
		snprintf(why, n, "a silence of %.40s is longer than max_silence (%s): silence for %s at most, and "
		         "again when it ends if it must go on", dur, maxtext, maxtext);
		return -E2BIG;
	}
	peer_who(peer, by, sizeof(by));
	silence_fill(&sil, 0, rule, subject, now + secs, now, by, note);
	r = sw_store_begin(d->store);
	if (r >= 0)
		r = sw_lifecycle_silence(d->store, rule, subject, now + secs, now, by, note, &id);
	if (r >= 0) {
		sil.id = id;
		r = silence_announce(d, &sil, by, false, now);
	}
	if (r >= 0)
		r = sw_store_commit(d->store);
	if (r < 0) {
		sw_store_rollback(d->store);
		snprintf(why, n, "cannot set the silence: %s", r == -ENOMEM ? "out of memory" : sw_store_errmsg(d->store));
		return r;
	}
	deliver_kick(d->deliver);
	sw_time_format(sil.until, until, sizeof(until));
	log_info("control: silence set by %s: rule %s subject %s until %s (%s)%s%s", by, rule, subject, until, dur,
	         note ? ": " : "", note ? note : "");
	json_t *j = silence_json(d, &sil);
	*ret_data = j ? json_pack("{s:o}", "silence", j) : NULL;
	if (*ret_data == NULL) {
		snprintf(why, n, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* unsilence {"rule":..,"subject":..}: lift the silence of exactly that
 * pair now; logged and sent to the sinks like setting one. */
int control_cmd_unsilence(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data,
                          char *why, size_t n)
{
	const char *rule = json_string_value(json_object_get(req, "rule"));
	const char *subject = json_string_value(json_object_get(req, "subject"));
	struct sw_silence was;
	int64_t now = daemon_now();
	char by[64], until[32];
	int r;

	r = silence_target_check(rule, subject, why, n);
	if (r < 0)
		return r;
	peer_who(peer, by, sizeof(by));
	r = sw_store_begin(d->store);
	if (r >= 0)
		r = sw_lifecycle_unsilence(d->store, rule, subject, now, &was);
	if (r >= 0)
		r = silence_announce(d, &was, by, true, now);
	if (r >= 0)
		r = sw_store_commit(d->store);
	if (r < 0) {
		sw_store_rollback(d->store);
		if (r == -ENOENT)
			snprintf(why, n, "no silence of rule %.64s for subject %.320s is in force (smtpwatchctl silence "
			         "lists them)", rule, subject);
		else
			snprintf(why, n, "cannot lift the silence: %s",
			         r == -ENOMEM ? "out of memory" : sw_store_errmsg(d->store));
		return r;
	}
	deliver_kick(d->deliver);
	sw_time_format(was.until, until, sizeof(until));
	log_info("control: silence lifted by %s: rule %s subject %s (it was to run until %s)", by, was.rule,
	         was.subject, until);
	*ret_data = json_pack("{s:{s:I,s:s,s:s,s:s,s:s,s:s}}", "unsilenced", "id", (json_int_t)was.id, "rule", was.rule,
	                      "subject", was.subject, "until", until, "set_by", was.created_by, "lifted_by", by);
	if (*ret_data == NULL) {
		snprintf(why, n, "out of memory");
		return -ENOMEM;
	}
	return 0;
}
