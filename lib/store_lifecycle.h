/* store_lifecycle.h: silences in the store, and the schema migration that
 * also holds the attack detector's rollups (detect_attack.h).  Writes run
 * in the caller's transaction, like the rest of store.h. */
#pragma once

#include <stdint.h>

#include "store.h"

/* The SQL of schema migration 4: silences, plus SW_STORE_DETECT_SCHEMA (store_detect.h). */
extern const char sw_store_lifecycle_schema[];

/* A silence: alerts of rule ("*": every rule) for subject ("*": every
 * subject; matched without regard to case) queue no notifications until
 * `until`.  Silences apply to every tenant. */
struct sw_silence {
	int64_t id;
	char rule[64];
	char subject[320];
	int64_t until;       /* Unix seconds */
	int64_t created;     /* when it was set (or last replaced) */
	char created_by[64]; /* "uid 1000", or "" */
	char note[256];      /* "" when none */
};

/* Set a silence; one for the same (rule, subject) is replaced, so a
 * silence can be extended or cut short.  *ret_id (may be NULL) gets its
 * id.  -EINVAL for an empty rule or subject.  No validation of the rule
 * name here: callers check it against sw_rule_known(). */
int sw_store_silence_put(struct sw_store *s, const char *rule, const char *subject, int64_t until, int64_t now,
                         const char *created_by, const char *note, int64_t *ret_id);
/* End the silence of exactly (rule, subject) (the subject without regard
 * to case) now: its until becomes now, so the row stays as a record.
 * *ret (may be NULL) gets it as it was before.  -ENOENT when no silence
 * of that pair is in force. */
int sw_store_silence_end(struct sw_store *s, const char *rule, const char *subject, int64_t now,
                         struct sw_silence *ret);
/* The silence in force at now for (rule, subject), the one that lasts
 * longest when several match; -ENOENT when none. */
int sw_store_silence_match(struct sw_store *s, const char *rule, const char *subject, int64_t now,
                           struct sw_silence *ret);
/* Calls cb for every silence still in force at now (now <= 0: every silence,
 * expired ones too), soonest to end first.  cb returns < 0 to stop (that
 * value is returned); the silence is borrowed for the call. */
typedef int (*sw_silence_cb)(const struct sw_silence *sil, void *arg);
int sw_store_silences_list(struct sw_store *s, int64_t now, sw_silence_cb cb, void *arg);
