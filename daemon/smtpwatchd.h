/* smtpwatchd.h: the daemon's shared state and the entry points that the
 * control socket and the pollers call. */
#pragma once

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "config.h"
#include "register.h"
#include "store.h"

struct http;
struct poller;
struct deliver;
struct control;
struct auth;

/* Runtime of one [tenant NAME]. */
struct tenant {
	struct daemon *daemon;
	const struct sw_tenant_config *cfg; /* into daemon->cfg */
	struct sw_register *reg;
	struct auth *auth;                  /* token cache for this tenant */
	struct poller *signins;
	struct poller *exchange;
	struct poller *audit;               /* NULL unless audit = on */
	struct audit_state *audit_state;    /* source_audit.c's counters, for status */
	struct poller *policies;            /* conditional access, security defaults, group members */
	struct poller *usage;               /* the email app usage report; NULL unless usage = on */
	struct poller *trace;               /* message trace of exception mailboxes; NULL unless trace = on */
	bool policies_fresh;                /* a policies run started after a complete Exchange snapshot */
	struct event *detect_more; /* continues detection over a large backlog */
	unsigned detect_what;      /* the rules that slice still owes (SW_DETECT_*) */
	unsigned detect_step;      /* where a sliced pass stands (struct sw_detect_budget) */
	unsigned detect_page;      /* sign-ins a slice's page reads (daemon_detect_page; 0: the largest) */
	int64_t state_at;          /* wall clock: the last pass with the state rules (0: none yet) */
	bool state_dirty;          /* a run changed what they read since (daemon_run_done) */
	struct report_spool *report;        /* NULL without report_spool */
	struct remedy *remedy;              /* remedy.c's writes, made on first use */
	bool kept;                          /* reload: this runtime carries on (smtpwatchd.c) */
	char reg_stamp[96];                 /* the register file's inode, size, mtime: a reload keeps reg when equal */
	struct status_cache *status;        /* its part of status as text (status.c) */
	unsigned status_gen;                /* bumped when that changes (status_touch) */
	bool status_queued;                 /* in daemon->status_dirty */
	LIST_ENTRY(tenant) status_link;
};

struct daemon {
	struct event_base *base;
	char *config_path;
	struct sw_config *cfg;
	/* What the config loads read of the tenants_dir files, kept from
	 * one load to the next (sw_tenant_file_cache); NULL in --check-config. */
	struct sw_tenant_file_cache *tfcache;
	/* The config a reload replaced, freed in a later turn of the loop
	 * (config_retire), and the event that frees it. */
	struct sw_config *cfg_retired;
	struct event *retire_ev;
	/* The last config load, the start's or a reload's: status
	 * config_load, the metrics smtpwatch_config_*. */
	struct config_load {
		int64_t at;            /* wall clock */
		int64_t reloads;       /* since the start */
		int64_t applied_ms;    /* a reload's, the loop held that long; -1: the start's */
		int64_t cpu_ms;        /* the loop thread's CPU of it; -1: the start's */
		size_t tenant_files;   /* tenants_dir files found */
		size_t tenant_files_parsed; /* of those, read and parsed (the rest: from tfcache) */
	} load;
	struct sw_store *store;
	struct walckpt *walckpt;     /* the store's checkpoints, off the loop (walckpt.c) */
	struct http *http;
	struct tenant **tenants;
	size_t n_tenants;
	struct deliver *deliver;
	struct control *control;
	struct metrics_http *metrics; /* [daemon] metrics_listen, NULL when off */
	int64_t started;   /* wall clock */
	int64_t last_prune;
	struct event *prune_more;   /* the next slice of a prune (the sign-ins) */
	int64_t pruned;             /* observations that prune deleted so far */
	struct event *health_more;  /* the next slice of the minute's health rules */
	size_t health_next;         /* the tenant it begins with */
	/* Tenants whose status text is to be made again, and the timer that
	 * does it a slice at a time in the loop's idle turns (status.c). */
	LIST_HEAD(, tenant) status_dirty;
	struct event *status_more;
	bool once;         /* --once: exit when the cycle is done */
	int once_failed;   /* sources that failed in --once */
	int once_pending;  /* sources still running in --once */
	struct event *sig_term, *sig_int, *sig_hup, *watchdog, *health;
	/* The stall probe: a timer every LOOP_PROBE_MS whose lateness (on the
	 * monotonic clock) is how long the loop could not run it. */
	struct loop_probe {
		struct event *ev;
		int64_t due_us;       /* monotonic, when it should fire next */
		int64_t max_us;       /* the longest lateness since the start */
		int64_t max_at;       /* wall clock of that one */
		int64_t max_cpu_us;   /* the loop thread's CPU between the two firings around it */
		int64_t cpu_us;       /* the loop thread's CPU at the last firing */
		int64_t over_100ms;   /* firings later than 100 ms */
		/* The longest step since the last firing (daemon_loop_step) and
		 * the one around the longest stall, for its log line and status. */
		struct loop_step {
			const char *what;     /* static: "detection", "control alerts", ... */
			char tenant[64];      /* "" when not one tenant's */
			int64_t began_us, us; /* monotonic */
		} step, max_step;
	} probe;
};

/* The loop's priorities (event_base_priority_init(LOOP_PRIORITIES)).
 * libevent makes every event at LOOP_PRIORITIES / 2 (I/O, timers, the
 * sources, delivery); the levels above it are unused.  Below it, the work
 * that runs in slices from a timer of 0, one slice a loop turn
 * (event_config_set_max_dispatch_interval from PRIO_JOB): a turn that
 * runs one never runs a lower one, so
 *   PRIO_JOB         a control request's reply built in steps (status,
 *                    report): an operator waits for it;
 *   PRIO_BACKGROUND  detection over a backlog, pruning, the health rules,
 *                    the background status, freeing an old config:
 *                    nobody waits for one slice.
 * A request or a reply that became ready while a slice ran goes first. */
#define LOOP_PRIORITIES 5
#define PRIO_JOB 3
#define PRIO_BACKGROUND 4

/* Wall clock, Unix seconds; the only clock read for observations. */
int64_t daemon_now(void);
/* Monotonic milliseconds, for pacing and timers. */
int64_t daemon_mono_ms(void);
/* Monotonic microseconds, for the stall probe and time budgets. */
int64_t daemon_mono_us(void);
/* A callback that may hold the loop ends: what (a static string) for
 * tenant (or NULL) ran from began_us (daemon_mono_us) until now.  The
 * stall probe names the longest since its last firing beside a stall, so
 * a stall's log line says what held the loop.  An outer callback (http's,
 * in which a source stored a page) keeps the name of a step within it
 * that took at least half of its time. */
void daemon_loop_step(struct daemon *d, const char *what, const char *tenant, int64_t began_us);

/* Everything after the command line: load d->config_path (set, like
 * d->once, by main()), and with check only report on it; otherwise open
 * the store and run the loop until a signal (or the end of --once).  The
 * process's exit status. */
int daemon_run(struct daemon *d, bool check);
/* A source of a tenant finished a run (ok or not): detect, deliver, and in
 * --once count it down. */
void daemon_source_done(struct daemon *d, struct tenant *t, const char *source, bool ok);
/* What a poller's run leaves the rules after it to skip (daemon_run_done). */
#define DAEMON_RUN_NOTHING_NEW 1u /* sign-ins: no new record; others: the same answers as its last run */
#define DAEMON_RUN_HEALTH_SAME 2u /* ok, and ok before it: its source's health did not change */
/* The rules daemon_run_done ran (status last_run_rules). */
#define DAEMON_RULES_SIGNINS 1u
#define DAEMON_RULES_STATE 2u
#define DAEMON_RULES_HEALTH 4u
/* daemon_source_done for a poller's run, told what the run changed
 * (DAEMON_RUN_*): after a run with nothing new the state rules wait (for
 * a run that changes something, or DAEMON_STATE_REFRESH_S),
 * and after a run that left its source as healthy as before the health
 * rules wait for their minute's timer.  The rules run (DAEMON_RULES_*). */
unsigned daemon_run_done(struct daemon *d, struct tenant *t, const char *source, bool ok, unsigned quiet);
/* The members of `status` after its "tenants" (version, uptime_s,
 * config, sinks, alerts, loop) as compact JSON, and the document's
 * closing brace, appended to out: 0 or -ENOMEM.  The tenants come before
 * them, from their texts (control_status.c, status.c). */
struct sw_buf;
int daemon_status_rest(struct daemon *d, int64_t now, struct sw_buf *out);
/* Poll every source of tenant (NULL: every tenant) now. -ENOENT unknown tenant. */
int daemon_poll_now(struct daemon *d, const char *tenant);
/* Reload the config; on failure (< 0) the running one stays and why says
 * why.  1: the new one runs, but why holds a warning (metrics_listen could
 * not be bound). */
int daemon_reload(struct daemon *d, char *why, size_t n);
struct tenant *daemon_tenant(struct daemon *d, const char *name);
/* The tenant name, which was d->tenants[i] when a job named it: still
 * there unless a reload moved or removed it (then looked up by name, or
 * NULL). */
struct tenant *daemon_tenant_at(struct daemon *d, size_t i, const char *name);
/* The tenants' names for a job that visits them across loop turns, each
 * at its index in d->tenants (for daemon_tenant_at): all of them, or only
 * the one named only (the others NULL).  *ret_n is d->n_tenants; NULL out
 * of memory.  Freed by daemon_tenant_names_free. */
char **daemon_tenant_names(struct daemon *d, const char *only, size_t *ret_n);
void daemon_tenant_names_free(char **names, size_t n);
