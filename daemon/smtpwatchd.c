/* smtpwatchd.c: the daemon: start-up, signals, systemd
 * notification, and the wiring between sources, detection and delivery. */
#include "smtpwatchd.h"
#include "smtpwatchd_internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "control.h"
#include "deliver.h"
#include "detect.h"
#include "detect_attack.h"
#include "detect_health.h"
#include "detect_source.h"
#include "store_report.h"
#include "store_audit.h"
#include "http.h"
#include "lifecycle.h"
#include "log.h"
#include "metrics.h"
#include "poller.h"
#include "remedy.h"
#include "source_report.h"
#include "status.h"
#include "walckpt.h"

/* Exit statuses a restart cannot cure (smtpwatchd(8), EXIT STATUS; the
 * unit's RestartPreventExitStatus=): sysexits' EX_DATAERR, EX_NOINPUT. */
#define EXIT_STORE_CORRUPT 65
#define EXIT_STORE_DELETED 66

/* See smtpwatchd.h. */
int64_t daemon_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

/* See smtpwatchd.h. */
int64_t daemon_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* See smtpwatchd.h. */
int64_t daemon_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The calling thread's CPU time, microseconds (the stall probe's second
 * figure: a stall with little CPU is the machine's, not a callback's). */
static int64_t thread_cpu_us(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Print every diagnostic as FILE:LINE: message. */
static void print_diag(const struct sw_diag *diag)
{
	for (size_t i = 0; i < diag->n; i++) {
		const struct sw_error *e = &diag->items[i];
		fprintf(stderr, "%s:%d: %s%s\n", e->source, e->line, e->warning ? "warning: " : "", e->text);
	}
}

/* The config and each tenant's register.  SW_CONFIG_KEEP_GOING (a
 * reload): a tenant whose register does not load is left out like the
 * tenant of a broken tenants_dir file (listed in cfg->broken, its
 * problems in diag), so the reload keeps its running register; without
 * it any problem fails the load. */
static struct sw_config *load_config(const char *path, unsigned flags, struct sw_tenant_file_cache *cache,
                                     struct sw_register ***ret_regs, struct sw_diag *diag)
{
	struct sw_config *cfg = NULL;
	struct sw_register **regs = NULL;
	int64_t now = daemon_now();
	bool bad = false, dropped = false;

	if (sw_config_load3(path, flags, cache, &cfg, diag) < 0)
		return NULL;
	regs = calloc(cfg->n_tenants + 1, sizeof(*regs));
	if (regs == NULL) {
		sw_config_free(cfg);
		return NULL;
	}
	for (size_t i = 0; i < cfg->n_tenants && !bad; i++) {
		size_t from = diag ? diag->n : 0;
		int r = sw_register_load(cfg->tenants[i].exceptions, cfg->rules.max_exception_lifetime, now, &regs[i],
		                         diag);
		if (r >= 0)
			continue;
		if (!(flags & SW_CONFIG_KEEP_GOING) || r == -ENOMEM) {
			bad = true;
			continue;
		}
		const struct sw_error *e = NULL;
		for (size_t k = from; diag != NULL && k < diag->n && e == NULL; k++)
			if (!diag->items[k].warning)
				e = &diag->items[k];
		if (sw_config_tenant_break(cfg, i, cfg->tenants[i].exceptions, e ? e->line : 0,
		                           e ? e->text : "does not load (smtpwatchd --check-config)") < 0)
			bad = true;
		dropped = true;
	}
	if (bad) {
		for (size_t i = 0; i < cfg->n_tenants; i++)
			sw_register_free(regs[i]);
		free(regs);
		sw_config_free(cfg);
		return NULL;
	}
	if (dropped) {
		/* regs[] follows cfg->tenants: compact both alike. */
		size_t kept = 0;
		for (size_t i = 0; i < cfg->n_tenants; i++)
			if (cfg->tenants[i].name != NULL)
				regs[kept++] = regs[i];
		sw_config_tenants_compact(cfg);
	}
	*ret_regs = regs;
	return cfg;
}

/* See smtpwatchd_internal.h. */
struct sw_config *daemon_load_config(const char *path, struct sw_tenant_file_cache *cache,
                                     struct sw_register ***ret_regs, struct sw_diag *diag)
{
	return load_config(path, 0, cache, ret_regs, diag);
}

/* What identifies a register file's version: inode, size, mtime ("" for none). */
static void reg_stamp(const char *path, char *buf, size_t n)
{
	struct stat st;

	if (path == NULL || stat(path, &st) < 0)
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%llu:%lld:%lld.%09ld", (unsigned long long)st.st_ino, (long long)st.st_size,
		         (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

/* Free one tenant runtime. */
static void tenant_free(struct tenant *t)
{
	if (t == NULL)
		return;
	if (t->detect_more != NULL)
		event_free(t->detect_more);
	poller_free(t->signins);
	poller_free(t->exchange);
	poller_free(t->audit);
	free(t->audit_state);
	poller_free(t->policies);
	poller_free(t->usage);
	poller_free(t->trace);
	report_spool_free(t->report);
	remedy_tenant_free(t);
	auth_free(t->auth);
	sw_register_free(t->reg);
	status_tenant_free(t);
	free(t);
}

/* See smtpwatchd_internal.h. */
void daemon_tenants_free(struct daemon *d)
{
	if (d->retire_ev != NULL)
		event_free(d->retire_ev);
	d->retire_ev = NULL;
	sw_config_free(d->cfg_retired);
	d->cfg_retired = NULL;
	for (size_t i = 0; i < d->n_tenants; i++)
		tenant_free(d->tenants[i]);
	status_daemon_free(d);
	free(d->tenants);
	d->tenants = NULL;
	d->n_tenants = 0;
}

static void detect_more_cb(evutil_socket_t fd, short what, void *arg);

static int tenant_init(struct daemon *d, struct tenant *t, const struct sw_tenant_config *cfg, struct sw_register *reg);

/* See smtpwatchd_internal.h. */
int daemon_tenants_build(struct daemon *d, struct sw_register **regs)
{
	int r = 0;

	d->tenants = calloc(d->cfg->n_tenants + 1, sizeof(*d->tenants));
	if (d->tenants == NULL)
		r = -ENOMEM;
	for (size_t i = 0; i < d->cfg->n_tenants; i++) {
		struct tenant *t = r == 0 ? calloc(1, sizeof(*t)) : NULL;
		if (t == NULL) {
			sw_register_free(regs[i]);
			r = -ENOMEM;
			continue;
		}
		d->tenants[d->n_tenants++] = t;
		if (tenant_init(d, t, &d->cfg->tenants[i], regs[i]) < 0)
			r = -ENOMEM;
	}
	free(regs);
	return r;
}

/* A tenant's runtime for cfg (in d->cfg), taking reg.  -ENOMEM leaves a
 * runtime tenant_free() can free. */
static int tenant_init(struct daemon *d, struct tenant *t, const struct sw_tenant_config *cfg, struct sw_register *reg)
{
	int r = 0;

	{
		t->daemon = d;
		t->cfg = cfg;
		t->reg = reg;
		reg_stamp(cfg->exceptions, t->reg_stamp, sizeof(t->reg_stamp));
		t->auth = auth_new(t);
		t->detect_more = evtimer_new(d->base, detect_more_cb, t);
		/* Below everything else (PRIO_BACKGROUND). */
		if (t->detect_more != NULL)
			event_priority_set(t->detect_more, PRIO_BACKGROUND);
		t->signins = t->auth ? poller_new(t, &signins_ops) : NULL;
		t->exchange = t->auth ? poller_new(t, &exo_ops) : NULL;
		t->audit = t->auth && t->cfg->audit ? poller_new(t, &audit_ops) : NULL;
		t->policies = t->auth ? poller_new(t, &policies_ops) : NULL;
		t->usage = t->auth && t->cfg->usage ? poller_new(t, &usage_ops) : NULL;
		t->trace = t->auth && t->cfg->trace ? poller_new(t, &trace_ops) : NULL;
		/* A restart finds the last Exchange snapshot stored: the first
		 * policies run asks What If for its mailboxes, and need not run
		 * again once the new snapshot is in (at MSP scale that second
		 * read of every tenant's policies and groups was half the start). */
		struct sw_checkpoint cp;
		t->policies_fresh = sw_store_checkpoint_get(d->store, cfg->name, "exchange", &cp) == 0 && cp.watermark > 0;
		if (t->signins == NULL || t->exchange == NULL || t->policies == NULL || t->detect_more == NULL ||
		    (t->cfg->audit && t->audit == NULL) || (t->cfg->usage && t->usage == NULL) || (t->cfg->trace && t->trace == NULL) || report_spool_new(t, &t->report) < 0)
			r = -ENOMEM;
	}
	return r;
}

/* Start every source of tenant i, the k-th of n tenants started together
 * (n 0: at once; see poller_start). */
static void tenant_start(struct daemon *d, size_t i, size_t k, size_t n)
{
	{
		poller_start(d->tenants[i]->signins, k, n);
		poller_start(d->tenants[i]->exchange, k, n);
		poller_start(d->tenants[i]->policies, k, n);
		if (d->tenants[i]->audit != NULL)
			poller_start(d->tenants[i]->audit, k, n);
		if (d->tenants[i]->usage != NULL)
			poller_start(d->tenants[i]->usage, k, n);
		if (d->tenants[i]->trace != NULL)
			poller_start(d->tenants[i]->trace, k, n);
		if (d->once)
			d->once_pending += 3 + (d->tenants[i]->report != NULL) + (d->tenants[i]->audit != NULL) +
			                   (d->tenants[i]->usage != NULL) + (d->tenants[i]->trace != NULL);
		report_spool_start(d->tenants[i]->report);
		remedy_resume(d->tenants[i]);
	}
}

/* Start every tenant's sources: --once at once, the daemon spread over
 * the start window (poller_start). */
static void tenants_start(struct daemon *d)
{
	for (size_t i = 0; i < d->n_tenants; i++)
		tenant_start(d, i, i, d->once ? 0 : d->n_tenants);
}

/* See smtpwatchd.h. */
struct tenant *daemon_tenant_at(struct daemon *d, size_t i, const char *name)
{
	if (i < d->n_tenants && strcmp(d->tenants[i]->cfg->name, name) == 0)
		return d->tenants[i];
	return daemon_tenant(d, name);
}

/* See smtpwatchd.h. */
char **daemon_tenant_names(struct daemon *d, const char *only, size_t *ret_n)
{
	char **names = calloc(d->n_tenants + 1, sizeof(*names));

	for (size_t i = 0; names != NULL && i < d->n_tenants; i++) {
		const char *name = d->tenants[i]->cfg->name;
		if (only != NULL && strcmp(only, name) != 0)
			continue;
		if ((names[i] = strdup(name)) == NULL) {
			daemon_tenant_names_free(names, d->n_tenants);
			names = NULL;
		}
	}
	*ret_n = names != NULL ? d->n_tenants : 0;
	return names;
}

/* See smtpwatchd.h. */
void daemon_tenant_names_free(char **names, size_t n)
{
	if (names == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* See smtpwatchd.h.  Through the config's index: d->tenants[i] runs
 * d->cfg->tenants[i] (the build and a reload keep them in step; only out
 * of memory can leave a gap, and then the runtimes are searched). */
struct tenant *daemon_tenant(struct daemon *d, const char *name)
{
	const struct sw_tenant_config *c = sw_config_tenant(d->cfg, name);
	size_t i = c != NULL ? (size_t)(c - d->cfg->tenants) : 0;

	if (c == NULL)
		return NULL;
	if (i < d->n_tenants && d->tenants[i]->cfg == c)
		return d->tenants[i];
	for (i = 0; i < d->n_tenants; i++)
		if (d->tenants[i]->cfg == c)
			return d->tenants[i];
	return NULL;
}

/* Run every source of t now. */
static void tenant_poll_now(struct tenant *t)
{
	poller_run_now(t->signins);
	poller_run_now(t->exchange);
	poller_run_now(t->policies);
	if (t->audit != NULL)
		poller_run_now(t->audit);
	if (t->usage != NULL)
		poller_run_now(t->usage);
	if (t->trace != NULL)
		poller_run_now(t->trace);
}

/* Count firing alerts by severity, for STATUS= and `status`. */
/* Firing alerts: how many, and how many of each severity. */
struct alert_counts {
	int64_t firing;
	int64_t by_sev[SW_SEV_CRITICAL + 1];
};

/* Count the firing alerts (a query of the counts, not of the alerts). */
static void count_alerts(struct daemon *d, struct alert_counts *c)
{
	memset(c, 0, sizeof(*c));
	if (sw_store_alerts_count(d->store, c->by_sev) < 0)
		log_warn("cannot count the firing alerts: %s", sw_store_errmsg(d->store));
	for (int i = 0; i <= SW_SEV_CRITICAL; i++)
		c->firing += c->by_sev[i];
}

/* STATUS= counts the firing alerts of every tenant, a scan that grows
 * with them, and every source run ends with it: with thousands of tenants
 * dozens of runs end each second.  So it is sent at most once per
 * STATUS_NOTIFY_MS (a timer armed by the first run that ends after the
 * last one sent), and not counted at all when no service manager listens
 * (no NOTIFY_SOCKET: started by hand, by a test, by the bench). */
#define STATUS_NOTIFY_MS 1000
static struct {
	struct event *ev;
} statusnote;

/* Tell systemd what we are doing, now. */
static void daemon_notify_status_now(struct daemon *d)
{
	struct alert_counts c;

	if (getenv("NOTIFY_SOCKET") == NULL)
		return;
	count_alerts(d, &c);
	sd_notifyf(0, "STATUS=%zu tenant%s, %lld alert%s firing", d->n_tenants, d->n_tenants == 1 ? "" : "s",
	           (long long)c.firing, c.firing == 1 ? "" : "s");
}

/* The coalescing timer: the counts as they are now. */
static void statusnote_cb(evutil_socket_t fd, short what, void *arg)
{
	daemon_notify_status_now(arg);
}

/* Tell systemd what we are doing, within STATUS_NOTIFY_MS. */
static void daemon_notify_status(struct daemon *d)
{
	static const struct timeval every = {STATUS_NOTIFY_MS / 1000, STATUS_NOTIFY_MS % 1000 * 1000};

	if (statusnote.ev == NULL) {
		daemon_notify_status_now(d);
		return;
	}
	if (!evtimer_pending(statusnote.ev, NULL))
		evtimer_add(statusnote.ev, &every);
}

/* --once: the last delivery attempt is done. */
static void once_drained_cb(void *arg)
{
	struct daemon *d = arg;

	event_base_loopexit(d->base, NULL);
}

/* source-unhealthy and coverage-gap for every source of a tenant. */
static void daemon_check_health(struct daemon *d, struct tenant *t)
{
	struct poller *sources[] = {t->signins, t->exchange, t->policies, t->audit, t->usage, t->trace};
	struct sw_detect_stats st = {0};
	int r = sw_store_begin(d->store);

	for (size_t i = 0; r >= 0 && i < sizeof(sources) / sizeof(sources[0]); i++) {
		struct sw_source_health h;
		if (sources[i] == NULL)
			continue;
		poller_health(sources[i], &h);
		r = sw_detect_source(d->store, d->cfg, t->cfg, &h, daemon_now(), &st);
	}
	if (r >= 0) {
		/* Writes refused (401/403): the role is missing. */
		struct sw_source_health h;
		remedy_health(t, &h);
		r = sw_detect_source(d->store, d->cfg, t->cfg, &h, daemon_now(), &st);
	}
	if (r >= 0)
		r = sw_store_commit(d->store);
	if (r < 0) {
		sw_store_rollback(d->store);
		log_err("tenant %s: health rules failed: %s", t->cfg->name, sw_store_errmsg(d->store));
	}
	/* credential-expiring: a certificate's notAfter (secrets cannot be read
	 * for expiry; an expired one shows as source-unhealthy). */
	int64_t not_after = auth_cert_not_after(t->auth);
	if (not_after > 0) {
		r = sw_detect_credential(d->store, d->cfg, t->cfg, not_after, daemon_now(), &st);
		if (r < 0)
			log_warn("tenant %s: credential-expiring check failed: %s", t->cfg->name, strerror(-r));
	}
	/* And the remediation app's own certificate, when it has one: an
	 * expired one is found otherwise only when a fix is needed.  Turned
	 * off, or on a secret, its alert resolves. */
	if (t->cfg->remediation_client_id != NULL) {
		bool on = t->cfg->remediation != SW_REMEDIATION_OFF;
		struct sw_credential cr = {t->cfg->remediation_client_id, on ? t->cfg->remediation_certificate_file : NULL,
		                           "remediation_certificate_file"};
		int64_t wna = on ? remedy_cert_not_after(t) : 0;
		int rr = 0;
		if (cr.certificate_file == NULL || wna > 0)
			rr = sw_detect_credential_of(d->store, d->cfg, t->cfg, &cr, wna, daemon_now(), &st);
		if (rr < 0)
			log_warn("tenant %s: credential-expiring check of the remediation app failed: %s", t->cfg->name,
			         strerror(-rr));
	}
	if (st.fired > 0)
		deliver_kick(d->deliver);
}

/* Sign-ins a prune slice deletes: a day of a 10M-row store is about
 * 170,000 of them, seconds in one transaction. */
#define PRUNE_SLICE 2000

/* Drop observations older than retention, once a day: the sign-ins in
 * slices of PRUNE_SLICE, one a loop turn at the lowest priority (as
 * detection's), then the rest in one short transaction. */
static void daemon_prune(struct daemon *d)
{
	int64_t cutoff = daemon_now() - d->cfg->daemon.retention, n = 0, m = 0;
	int r = sw_store_begin(d->store);

	if (r >= 0)
		r = sw_store_prune_signins(d->store, cutoff, PRUNE_SLICE, &n);
	if (r >= 0 && n < PRUNE_SLICE)
		r = sw_store_prune(d->store, cutoff, &m); /* the outbox; no sign-in is left */
	if (r >= 0 && n < PRUNE_SLICE) {
		int64_t k = 0;
		r = sw_store_report_prune(d->store, cutoff, &k);
		m += k;
	}
	/* Content blobs are gone from Microsoft after 7 days: forget them a
	 * day later (the changes they held stay for the retention). */
	int64_t b = 0;
	if (r >= 0 && n < PRUNE_SLICE)
		r = sw_store_blobs_prune(d->store, daemon_now() - 8 * 86400, &b);
	if (r >= 0)
		r = sw_store_commit(d->store);
	if (r < 0) {
		sw_store_rollback(d->store);
		log_warn("pruning observations older than the retention failed: %s; retrying tomorrow",
		         sw_store_errmsg(d->store));
		d->pruned = 0;
		return;
	}
	d->pruned += n + m;
	if (n == PRUNE_SLICE && d->prune_more != NULL) {
		struct timeval now = {0, 0};
		evtimer_add(d->prune_more, &now);
		return;
	}
	if (d->pruned > 0)
		log_info("pruned %lld observation%s older than the retention", (long long)d->pruned,
		         d->pruned == 1 ? "" : "s");
	d->pruned = 0;
	sw_store_optimize(d->store);
}

/* The next slice of a prune. */
static void prune_more_cb(evutil_socket_t fd, short what, void *arg)
{
	int64_t start = daemon_mono_us();

	daemon_prune(arg);
	daemon_loop_step(arg, "pruning", NULL, start);
}

/* The time one slice of the minute's health pass may hold the loop. */
#define HEALTH_SLICE_US 10000

/* The next slice of the minute's health rules: tenants from the cursor
 * until HEALTH_SLICE_US is spent, then the rest a loop turn later at the
 * lowest priority.  All at once, 10,000 tenants' rules (a transaction
 * and a few reads each) held the loop every minute for longer than the
 * stall target.  The cursor is an index: a reload that reorders the
 * tenants meanwhile makes this pass check one twice or not at all, and
 * the next minute's pass sees it (the rules act on transitions only). */
static void health_more_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	int64_t start = daemon_mono_us();

	while (d->health_next < d->n_tenants) {
		daemon_check_health(d, d->tenants[d->health_next++]);
		if (daemon_mono_us() - start >= HEALTH_SLICE_US)
			break;
	}
	daemon_loop_step(d, "health rules", NULL, start);
	if (d->health_next < d->n_tenants) {
		struct timeval now = {0, 0};
		evtimer_add(d->health_more, &now);
	}
}

/* Every minute: sources that hang or stay down are noticed without a
 * completed run (in slices, health_more_cb); once a day, prune.  A pass
 * still under way from the last minute goes on where it is. */
static void health_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	if (d->health_more == NULL) {
		for (size_t i = 0; i < d->n_tenants; i++)
			daemon_check_health(d, d->tenants[i]);
	} else if (!evtimer_pending(d->health_more, NULL)) {
		d->health_next = 0;
		health_more_cb(-1, 0, d);
	}
	if (daemon_now() - d->last_prune >= 86400 && (d->prune_more == NULL || !evtimer_pending(d->prune_more, NULL))) {
		int64_t start = daemon_mono_us();
		d->last_prune = daemon_now();
		daemon_prune(d);
		daemon_loop_step(d, "pruning", NULL, start);
	}
}

/* Clock watch (Redis Sentinel's TILT mode): when the wall clock moves
 * more than CLOCK_JUMP_S away from the monotonic clock between two checks
 * (a step by NTP, a resume from suspend), "now" cannot be trusted against
 * the times in the database, and the event rules would resolve (and then
 * re-raise) everything at once.  They pause for one sign-ins run per
 * tenant; the detect cursor does not move, so nothing is skipped. */
#define CLOCK_JUMP_S 600
#define CLOCK_CHECK_S 10
static struct {
	struct event *ev;
	int64_t wall, mono_ms;
	size_t paused; /* sign-ins runs still to finish with event rules paused */
} clockwatch;

/* See smtpwatchd_internal.h. */
void daemon_clock_reset(int64_t wall, int64_t mono_ms)
{
	clockwatch.wall = wall;
	clockwatch.mono_ms = mono_ms;
	clockwatch.paused = 0;
}

/* See smtpwatchd_internal.h. */
size_t daemon_clock_paused(void)
{
	return clockwatch.paused;
}

/* See smtpwatchd_internal.h. */
void daemon_clock_check(struct daemon *d, int64_t wall, int64_t mono)
{
	int64_t skew = (wall - clockwatch.wall) - (mono - clockwatch.mono_ms) / 1000;

	if (skew > CLOCK_JUMP_S || skew < -CLOCK_JUMP_S) {
		int64_t moved = 0;
		log_warn("the wall clock jumped %+llds: sign-in event rules pause for one cycle", (long long)skew);
		clockwatch.paused = d->n_tenants;
		/* Queued deliveries are due by the wall clock.  After a step back
		 * they move with it, or they would wait until the clock is where it
		 * was; one rescheduled between the step and this check becomes due
		 * at once, which is harmless.  After a step forward they are simply
		 * due early (moving them would push one rescheduled meanwhile hours
		 * out). */
		if (skew < 0 && sw_store_outbox_shift(d->store, skew, &moved) < 0)
			log_warn("cannot reschedule queued deliveries after the clock jump: %s", sw_store_errmsg(d->store));
		else if (moved > 0)
			deliver_kick(d->deliver);
	}
	clockwatch.wall = wall;
	clockwatch.mono_ms = mono;
}

/* Every CLOCK_CHECK_S: compare how far each clock moved. */
static void clockwatch_cb(evutil_socket_t fd, short what, void *arg)
{
	daemon_clock_check(arg, daemon_now(), daemon_mono_ms());
}

/* Store watch: the database file deleted (or replaced) under the daemon.
 * SQLite in WAL mode goes on writing to the unlinked file without an
 * error, so everything stored from then on would vanish at the next stop
 * without a word.  Said once, as an error; the daemon keeps running (the
 * open file is all that is left of the data). */
#define STORE_CHECK_S 10
static struct {
	struct event *ev;
	bool reported;
} storewatch;

/* Every STORE_CHECK_S: is the database file still the one we opened? */
static void storewatch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	if (storewatch.reported || sw_store_check_file(d->store) >= 0)
		return;
	storewatch.reported = true;
	log_err("%s: nothing stored from now on survives a restart; stop smtpwatchd, restore the database from "
	        "a backup and start it again (it refuses to start without it: remove %s/smtpwatch.db%s to start "
	        "with an empty one)",
	        sw_store_errmsg(d->store), d->cfg->daemon.state_dir, SW_STORE_MARKER_SUFFIX);
	sd_notifyf(0, "STATUS=%s", sw_store_errmsg(d->store));
}

/* The time one detection slice may hold the loop: the stall target is
 * 100 ms, and a page or a step may run past the budget before it is
 * looked at (a page of sign-ins costs 10-20 ms of CPU, bench/README.md). */
#define DETECT_SLICE_US 20000

static int64_t detect_slice_us = DETECT_SLICE_US;

/* See smtpwatchd_internal.h. */
void daemon_detect_slice_set(int64_t us)
{
	detect_slice_us = us >= 0 ? us : DETECT_SLICE_US;
}

/* See smtpwatchd_internal.h.  A page runs whole once begun, so its size
 * is what bounds a slice: on a big store one page of 500 sign-ins took
 * 15-73 ms (bench/README.md, round 5), the pages of a slow mailbox mix or
 * a cold page cache the dear ones. */
unsigned daemon_detect_page(unsigned cur, int64_t examined, int64_t took_us, int64_t slice_us)
{
	int64_t fit;

	if (cur == 0 || cur > SW_DETECT_SLICE_PAGE)
		cur = SW_DETECT_SLICE_PAGE;
	if (examined <= 0 || took_us <= 0 || slice_us <= 0)
		return cur;
	fit = examined * (slice_us / 2) / took_us;
	if (fit < DETECT_PAGE_MIN)
		fit = DETECT_PAGE_MIN;
	if (fit > SW_DETECT_SLICE_PAGE)
		fit = SW_DETECT_SLICE_PAGE;
	return (unsigned)((cur + fit + 1) / 2);
}

struct slice_clock {
	int64_t start_us;
};

/* Is the slice's budget spent?  The monotonic clock, read here: lib/
 * reads none. */
static bool slice_spent(void *arg)
{
	const struct slice_clock *c = arg;

	return daemon_mono_us() - c->start_us >= detect_slice_us;
}

/* Run the rules of one tenant.  A large backlog of sign-ins (a first
 * backfill, a long outage, the first pass over a big store) is examined
 * in slices of detect_slice_us on the monotonic clock, one per loop turn
 * at the lowest priority, so the control socket, the watchdog and the
 * other tenants keep being served; the rules that read the whole store
 * follow as steps, sliced likewise (t->detect_step says where the pass
 * stands).  --once simply goes on until it is done. */
static void tenant_detect(struct daemon *d, struct tenant *t, unsigned what)
{
	struct sw_detect_stats st = {0};
	struct slice_clock clock = {daemon_mono_us()};
	int64_t cpu0 = thread_cpu_us();
	struct sw_detect_budget budget = {slice_spent, &clock, t->detect_step, t->detect_page};
	int r;

	what |= t->detect_what;
	t->detect_what = 0;
	status_touch(t); /* its top failures */
	do {
		st.pending = false;
		r = sw_detect_tenant_sliced(d->store, d->cfg, t->cfg, t->reg, daemon_now(), what,
		                            d->once ? NULL : &budget, &st);
	} while (r >= 0 && st.pending && d->once);
	/* A failed step starts the pass over at its next run. */
	t->detect_step = r >= 0 ? budget.step : 0;
	if (r < 0)
		log_err("tenant %s: detection failed: %s (%s); it resumes on the next run", t->cfg->name,
		        strerror(-r), sw_store_errmsg(d->store));
	else if (st.fired > 0 || st.resolved > 0)
		log_info("tenant %s: %lld sign-in%s examined, %lld notification%s, %lld resolved", t->cfg->name,
		         (long long)st.signins_examined, st.signins_examined == 1 ? "" : "s", (long long)st.fired,
		         st.fired == 1 ? "" : "s", (long long)st.resolved);
	if (r >= 0 && st.pending) {
		struct timeval now = {0, 0};
		t->detect_what = what;
		evtimer_add(t->detect_more, &now);
	}
	daemon_loop_step(d, "detection", t->cfg->name, clock.start_us);
	/* A page or a step runs whole before the budget is looked at again:
	 * one that ran far past it is what a stall's line points at. */
	int64_t took = daemon_mono_us() - clock.start_us;
	if (!d->once && took > 2 * detect_slice_us && detect_slice_us > 0)
		log_debug("tenant %s: a detection slice took %lld ms (%lld ms of CPU), its budget %lld ms (%lld sign-ins "
		          "examined in pages of %u, %lld notifications; step %u next)", t->cfg->name,
		          (long long)(took / 1000), (long long)((thread_cpu_us() - cpu0) / 1000),
		          (long long)(detect_slice_us / 1000), (long long)st.signins_examined,
		          t->detect_page ? t->detect_page : SW_DETECT_SLICE_PAGE, (long long)st.fired, t->detect_step);
	/* The next slice's pages, from this one's pace. */
	if (!d->once && st.signins_examined > 0)
		t->detect_page = daemon_detect_page(t->detect_page, st.signins_examined, took, detect_slice_us);
	if (st.fired > 0 || st.resolved > 0)
		deliver_kick(d->deliver);
}

/* The next slice of a large backlog, with the rules the last one owes. */
static void detect_more_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tenant *t = arg;

	/* What the pass was asked for is in t->detect_what: a pass the clock
	 * watch ran without the sign-in rules must not gain them here. */
	if (!poller_running(t->signins))
		tenant_detect(t->daemon, t, 0);
}

/* See smtpwatchd_internal.h. */
void daemon_detect_finish(struct tenant *t)
{
	for (int i = 0; i < 100000 && evtimer_pending(t->detect_more, NULL); i++) {
		event_del(t->detect_more);
		detect_more_cb(-1, EV_TIMEOUT, t);
	}
}

/* The state rules (the snapshot's, the register's, the reports') run
 * after a run that changed what they read: a sign-ins run that stored
 * something new, another source's run whose answers differ from its last
 * run's (or that failed, or any run of a source that does not say);
 * an idle tenant has them at least this often, for what only the clock
 * changes (an exception that expires, a mailbox that stops using its
 * exception). */
#define DAEMON_STATE_REFRESH_S 900

/* See smtpwatchd.h. */
void daemon_source_done(struct daemon *d, struct tenant *t, const char *source, bool ok)
{
	daemon_run_done(d, t, source, ok, 0);
}

/* See smtpwatchd.h. */
unsigned daemon_run_done(struct daemon *d, struct tenant *t, const char *source, bool ok, unsigned quiet)
{
	unsigned rules = 0;

	if (d->once)
		quiet = 0;

	/* Sign-in rules wait for the end of a sign-ins run: a run commits page
	 * by page, and counting half a run would notify twice for one burst. */
	unsigned what = 0;
	if (!poller_running(t->signins))
		what |= SW_DETECT_SIGNINS;
	/* Likewise the state rules wait for a whole Exchange snapshot and a
	 * whole read of the policies. */
	if (!poller_running(t->exchange) && !poller_running(t->policies))
		what |= SW_DETECT_STATE;
	/* A run that changed nothing the state rules read (DAEMON_RUN_*)
	 * leaves them to the next run that does, unless the clock changed
	 * something (DAEMON_STATE_REFRESH_S): state_dirty remembers a change
	 * whose rules waited for another source's run to end.  A pass that
	 * owes them (t->detect_what) keeps them. */
	if (!(quiet & DAEMON_RUN_NOTHING_NEW))
		t->state_dirty = true;
	if (!t->state_dirty && t->state_at > 0 && daemon_now() - t->state_at < DAEMON_STATE_REFRESH_S &&
	    daemon_now() >= t->state_at)
		what &= ~(unsigned)SW_DETECT_STATE;
	if (what & SW_DETECT_STATE) {
		t->state_at = daemon_now();
		t->state_dirty = false;
	}
	if (clockwatch.paused > 0 && (what & SW_DETECT_SIGNINS)) {
		what &= ~(unsigned)SW_DETECT_SIGNINS;
		if (strcmp(source, "signins") == 0 && --clockwatch.paused == 0)
			log_info("sign-in event rules resume after the clock jump");
	}
	tenant_detect(d, t, what);
	rules |= ((what & SW_DETECT_SIGNINS) ? DAEMON_RULES_SIGNINS : 0) | ((what & SW_DETECT_STATE) ? DAEMON_RULES_STATE : 0);
	/* What If is asked for the mailboxes of the Exchange snapshot: at
	 * start the two sources run side by side, so once the first snapshot
	 * is in, the policies are read again (not in --once, which counts its
	 * runs). */
	struct sw_checkpoint cp;
	if (!d->once && !t->policies_fresh && !poller_running(t->policies) && !poller_running(t->exchange) &&
	    sw_store_checkpoint_get(d->store, t->cfg->name, "exchange", &cp) == 0 && cp.watermark > 0) {
		t->policies_fresh = true;
		poller_run_now(t->policies);
	}
	/* Auto mode acts once the state rules have seen a whole snapshot
	 * (whichever source ended last); its guard reads the snapshot's age. */
	if (what & SW_DETECT_STATE)
		remedy_auto(t);
	if (!ok)
		d->once_failed++;
	/* A source as healthy after its run as before: nothing for the
	 * health rules that their minute's timer would not find.  Not so
	 * for a tenant with remediation under way (t->remedy: a write
	 * pending or refused), whose health is not its pollers'. */
	if (!(quiet & DAEMON_RUN_HEALTH_SAME) || t->remedy != NULL) {
		daemon_check_health(d, t);
		rules |= DAEMON_RULES_HEALTH;
	}
	deliver_kick(d->deliver);
	daemon_notify_status(d);
	if (d->once && --d->once_pending == 0)
		deliver_drain(d->deliver, once_drained_cb, d);
	return rules;
}

/* See smtpwatchd.h. */
int daemon_poll_now(struct daemon *d, const char *tenant)
{
	struct tenant *t = tenant != NULL ? daemon_tenant(d, tenant) : NULL;

	if (tenant != NULL && t == NULL)
		return -ENOENT;
	if (t != NULL)
		tenant_poll_now(t);
	for (size_t i = 0; t == NULL && i < d->n_tenants; i++)
		tenant_poll_now(d->tenants[i]);
	return 0;
}

/* See smtpwatchd.h. */
int daemon_status_rest(struct daemon *d, int64_t now, struct sw_buf *out)
{
	struct alert_counts c;
	json_t *doc;
	char *rest;
	int r;

	count_alerts(d, &c);
	/* The last config load's figures (a reload's time is null at the start's). */
	json_t *load = json_pack("{s:I,s:I,s:I,s:I,s:o,s:o}", "at", (json_int_t)d->load.at, "reloads",
	                         (json_int_t)d->load.reloads, "tenant_files", (json_int_t)d->load.tenant_files,
	                         "tenant_files_parsed", (json_int_t)d->load.tenant_files_parsed, "applied_ms",
	                         d->load.applied_ms >= 0 ? json_integer(d->load.applied_ms) : json_null(), "cpu_ms",
	                         d->load.cpu_ms >= 0 ? json_integer(d->load.cpu_ms) : json_null());
	/* What held the loop then, as far as the steps measured say. */
	const struct loop_step *ms = &d->probe.max_step;
	json_t *step = ms->what == NULL ? json_null()
	               : json_pack("{s:s,s:o,s:I}", "what", ms->what, "tenant",
	                           ms->tenant[0] ? json_string(ms->tenant) : json_null(), "ms", (json_int_t)(ms->us / 1000));
	doc = json_pack("{s:s,s:I,s:s,s:o,s:o*,s:{s:I,s:I,s:I,s:I,s:I,s:I},s:{s:I,s:I,s:I,s:o*,s:I}}", "version", SW_VERSION,
	                "uptime_s", (json_int_t)(now - d->started), "config", d->config_path, "sinks",
	                deliver_status(d->deliver), "config_load", load, "alerts", "firing", (json_int_t)c.firing, "critical",
	                (json_int_t)c.by_sev[SW_SEV_CRITICAL], "high", (json_int_t)c.by_sev[SW_SEV_HIGH], "medium",
	                (json_int_t)c.by_sev[SW_SEV_MEDIUM], "low", (json_int_t)c.by_sev[SW_SEV_LOW], "info",
	                (json_int_t)c.by_sev[SW_SEV_INFO], "loop", "stall_max_ms", (json_int_t)(d->probe.max_us / 1000),
	                "stall_max_at", (json_int_t)d->probe.max_at, "stall_max_cpu_ms",
	                (json_int_t)(d->probe.max_cpu_us / 1000), "stall_max_step", step, "stalls_over_100ms",
	                (json_int_t)d->probe.over_100ms);
	rest = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (rest == NULL)
		return -ENOMEM;
	/* The members without the tree's opening brace. */
	r = sw_buf_append(out, rest + 1, strlen(rest + 1));
	free(rest);
	return r;
}

/* Tenant names (or files) in order, for lookups in O(log n) at reload (a
 * reload of 10,000 tenants would spend seconds comparing every pair). */
struct name_idx {
	const char *name;
	size_t i;
};

static int name_idx_cmp(const void *a, const void *b)
{
	return strcmp(((const struct name_idx *)a)->name, ((const struct name_idx *)b)->name);
}

/* The index i of name in the sorted v, or -1. */
static ssize_t name_find(const struct name_idx *v, size_t n, const char *name)
{
	struct name_idx key = {.name = name};
	const struct name_idx *hit = n > 0 && name != NULL ? bsearch(&key, v, n, sizeof(*v), name_idx_cmp) : NULL;

	return hit ? (ssize_t)hit->i : -1;
}

/* The running tenants by name and by tenants_dir file (NULL on OOM). */
static struct name_idx *running_index(struct daemon *d, bool by_file, size_t *ret_n)
{
	struct name_idx *v = calloc(d->n_tenants + 1, sizeof(*v));
	size_t n = 0;

	if (v == NULL)
		return NULL;
	for (size_t j = 0; j < d->n_tenants; j++) {
		const char *key = by_file ? d->tenants[j]->cfg->file : d->tenants[j]->cfg->name;
		if (key != NULL)
			v[n++] = (struct name_idx){.name = key, .i = j};
	}
	qsort(v, n, sizeof(*v), name_idx_cmp);
	*ret_n = n;
	return v;
}

/* A reload gave t a new exception register and t carries on (schedules,
 * token, runs in flight): the rules that read the register run again
 * over what is stored, as a detection pass at the loop's lowest priority
 * (detect_more), not in the reload's callback.  The state rules only when
 * no Exchange snapshot or policies read is half done (their run's end
 * runs them, as after any run); a pass under way starts over, with the
 * new register (each step decides from the store alone). */
static void tenant_register_reloaded(struct tenant *t)
{
	struct timeval now = {0, 0};

	log_info("reload: tenant %s: exception register %s reloaded (%zu entr%s); its sources carry on", t->cfg->name,
	         t->cfg->exceptions ? t->cfg->exceptions : "(none)", t->reg ? t->reg->n : 0,
	         t->reg && t->reg->n == 1 ? "y" : "ies");
	if (!poller_running(t->exchange) && !poller_running(t->policies))
		t->detect_what |= SW_DETECT_STATE;
	t->detect_step = 0;
	evtimer_add(t->detect_more, &now);
}

/* Free the config a reload replaced. */
static void config_retired_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	(void)fd;
	(void)what;
	sw_config_free(d->cfg_retired);
	d->cfg_retired = NULL;
}

/* The config a reload replaced (nothing points into it any more) is
 * freed in the loop's next idle turn, not in the reload's callback: at
 * 10,000 tenants its free took 10-15 ms of the time the reload held the
 * loop, which the timers and clients due meanwhile waited for. */
static void config_retire(struct daemon *d, struct sw_config *old)
{
	struct timeval now = {0, 0};

	sw_config_free(d->cfg_retired); /* a reload again before the last one's was freed */
	d->cfg_retired = NULL;
	if (d->base != NULL && d->retire_ev == NULL &&
	    (d->retire_ev = evtimer_new(d->base, config_retired_cb, d)) != NULL)
		event_priority_set(d->retire_ev, PRIO_BACKGROUND);
	if (d->retire_ev == NULL) {
		sw_config_free(old);
		return;
	}
	d->cfg_retired = old;
	evtimer_add(d->retire_ev, &now);
}

/* Move the new config in: a tenant whose config did not change keeps its
 * runtime (schedules, token, runs in flight), with the register just
 * loaded when its file changed; a
 * tenant of a tenants_dir file that no longer loads, or whose exception
 * register no longer loads, keeps its running config and register; the
 * others are built anew, the removed ones freed.  Takes cfg and *regs.
 * Every lookup goes through a sorted index: O(n log n) in tenants. */
static int tenants_reconcile(struct daemon *d, struct sw_config *cfg, struct sw_register ***pregs)
{
	struct sw_config *old = d->cfg;
	struct sw_register **regs = *pregs;
	/* keep[i]: the runtime new tenant i carries on with, i over the new
	 * tenants and those a broken file or register adopts from old. */
	struct tenant **keep = calloc(cfg->n_tenants + cfg->n_broken + 1, sizeof(*keep));
	struct tenant **tenants;
	struct name_idx *byname = NULL, *run_byname = NULL, *run_byfile = NULL;
	size_t n_new = cfg->n_tenants, n_run_byname = 0, n_run_byfile = 0;
	bool *known = NULL; /* new tenant i had a runtime before */
	/* new tenant i keeps its runtime with regs[i]: 1 under new [rules],
	 * 2 from a changed register file (its rules run again) */
	unsigned char *reg_new = NULL;
	int r = 0;

	*pregs = NULL;
	if (keep == NULL)
		goto oom;
	for (size_t j = 0; j < d->n_tenants; j++)
		d->tenants[j]->kept = false;
	byname = calloc(cfg->n_tenants + 1, sizeof(*byname));
	known = calloc(cfg->n_tenants + cfg->n_broken + 1, sizeof(*known));
	reg_new = calloc(cfg->n_tenants + cfg->n_broken + 1, sizeof(*reg_new));
	run_byname = running_index(d, false, &n_run_byname);
	run_byfile = running_index(d, true, &n_run_byfile);
	if (byname == NULL || known == NULL || reg_new == NULL || run_byname == NULL || run_byfile == NULL)
		goto oom;
	for (size_t i = 0; i < n_new; i++)
		byname[i] = (struct name_idx){.name = cfg->tenants[i].name, .i = i};
	qsort(byname, n_new, sizeof(*byname), name_idx_cmp);
	/* A broken file's tenant keeps the config it runs with: the tenant
	 * that ran from that file, unless its name loads from elsewhere now;
	 * a broken register's tenant keeps its config and register. */
	for (size_t b = 0; b < cfg->n_broken; b++) {
		const struct sw_tenant_file_error *e = &cfg->broken[b];
		struct tenant *t = NULL;
		ssize_t j = e->exceptions ? name_find(run_byname, n_run_byname, e->name)
		                          : name_find(run_byfile, n_run_byfile, e->file);
		if (j >= 0 && !d->tenants[j]->kept && name_find(byname, n_new, d->tenants[j]->cfg->name) < 0)
			t = d->tenants[j];
		if (t == NULL) {
			if (e->exceptions)
				log_err("reload: %s:%d: %s; tenant %s not loaded (its exception register does not load)",
				        e->file, e->line, e->text, e->name);
			else
				log_err("reload: %s:%d: %s; %s not loaded", e->file, e->line, e->text,
				        e->name ? "its tenant is" : "the file is");
			continue;
		}
		log_err("reload: %s:%d: %s; tenant %s keeps its running configuration%s", e->file, e->line, e->text,
		        t->cfg->name, e->exceptions ? " and exception register" : "");
		struct sw_register **nr = realloc(regs, (cfg->n_tenants + 2) * sizeof(*nr));
		if (nr == NULL)
			goto oom;
		regs = nr;
		regs[cfg->n_tenants] = NULL;
		regs[cfg->n_tenants + 1] = NULL;
		if (sw_config_adopt_tenant(cfg, (struct sw_tenant_config *)t->cfg) < 0)
			goto oom;
		keep[cfg->n_tenants - 1] = t;
		t->kept = true; /* t->cfg: its slot in old, zeroed; set below */
	}
	/* A tenant whose config is unchanged keeps its runtime.  Its
	 * register is the one just loaded when its file changed, or when
	 * [rules] did (they decide how registers load): nothing else of the
	 * runtime reads the register but at the start of a run. */
	tenants = calloc(cfg->n_tenants + 1, sizeof(*tenants));
	if (tenants == NULL)
		goto oom;
	bool rules_same = memcmp(&old->rules, &cfg->rules, sizeof(cfg->rules)) == 0;
	for (size_t j = 0; j < d->n_tenants; j++) {
		struct tenant *t = d->tenants[j];
		char stamp[sizeof(t->reg_stamp)];
		ssize_t i = t->kept ? -1 : name_find(byname, n_new, t->cfg->name);
		if (i < 0 || keep[i] != NULL)
			continue;
		known[i] = true;
		if (!sw_tenant_config_equal(&cfg->tenants[i], t->cfg))
			continue;
		keep[i] = t;
		t->kept = true;
		reg_stamp(cfg->tenants[i].exceptions, stamp, sizeof(stamp));
		reg_new[i] = strcmp(stamp, t->reg_stamp) != 0 ? 2 : !rules_same ? 1 : 0;
	}
	for (size_t j = 0; j < d->n_tenants; j++)
		if (!d->tenants[j]->kept) {
			log_info("reload: tenant %s %s", d->tenants[j]->cfg->name,
			         name_find(byname, n_new, d->tenants[j]->cfg->name) >= 0 ? "changed: restarting its sources"
			                                                                   : "removed");
			tenant_free(d->tenants[j]);
		}
	free(d->tenants);
	d->tenants = tenants;
	d->n_tenants = 0;
	for (size_t i = 0; i < cfg->n_tenants; i++) {
		struct tenant *t = keep[i];
		if (t != NULL) {
			t->cfg = &cfg->tenants[i];
			d->tenants[d->n_tenants++] = t;
			if (reg_new[i] == 0) {
				sw_register_free(regs[i]);
				continue;
			}
			sw_register_free(t->reg);
			t->reg = regs[i];
			regs[i] = NULL;
			reg_stamp(t->cfg->exceptions, t->reg_stamp, sizeof(t->reg_stamp));
			/* The state rules read the register and [rules]: the next
			 * run's end has them even if it changed nothing else. */
			t->state_dirty = true;
			if (reg_new[i] == 2)
				tenant_register_reloaded(t);
			continue;
		}
		t = calloc(1, sizeof(*t));
		if (t == NULL) {
			sw_register_free(regs[i]);
			r = -ENOMEM;
			continue;
		}
		d->tenants[d->n_tenants++] = t;
		if (!known[i])
			log_info("reload: tenant %s added", cfg->tenants[i].name);
		if (tenant_init(d, t, &cfg->tenants[i], regs[i]) < 0)
			r = -ENOMEM;
	}
	config_retire(d, old);
	d->cfg = cfg;
	free(regs);
	free(keep);
	free(byname);
	free(run_byname);
	free(run_byfile);
	free(known);
	free(reg_new);
	return r;
oom:
	/* Nothing was freed yet: the running config stays whole once a
	 * tenant adopted into cfg is back in its slot of old. */
	for (size_t i = n_new; keep != NULL && i < cfg->n_tenants; i++)
		if (keep[i] != NULL) {
			*(struct sw_tenant_config *)keep[i]->cfg = cfg->tenants[i];
			memset(&cfg->tenants[i], 0, sizeof(cfg->tenants[i]));
		}
	free(keep);
	free(byname);
	free(run_byname);
	free(run_byfile);
	free(known);
	free(reg_new);
	for (size_t i = 0; regs != NULL && i < cfg->n_tenants; i++)
		sw_register_free(regs[i]);
	free(regs);
	return -ENOMEM;
}

/* A tenants_dir file, or a tenant's exception register, that does not
 * load (a reload's d->cfg->broken): source-unhealthy (subject "config")
 * for its tenant, naming the file and line.  Every other firing config
 * alert resolves, whoever raised it: its tenant loads now, or is no
 * longer configured (a nameless file's, "-", once no broken file is
 * nameless).  At start (no file is broken then: a broken one refuses the
 * start) that resolves what an earlier process raised, for a file fixed
 * or removed while the daemon was down.  The store's firing config alerts
 * are read once: nothing here is per configured tenant. */
static void tenant_files_alert(struct daemon *d, const char *when)
{
	const struct sw_config *cfg = d->cfg;
	int64_t now = daemon_now();
	struct name_idx *broken = calloc(cfg->n_broken + 1, sizeof(*broken)), *run = NULL;
	struct sw_strv firing = {0};
	size_t n_broken = 0, n_run = 0;
	int r = broken != NULL ? sw_store_begin(d->store) : -ENOMEM;

	if (r >= 0 && cfg->n_broken > 0 && (run = running_index(d, false, &n_run)) == NULL)
		r = -ENOMEM;
	for (size_t b = 0; r >= 0 && b < cfg->n_broken; b++) {
		const struct sw_tenant_file_error *e = &cfg->broken[b];
		char summary[768], remediation[512];
		struct sw_condition c = {0};
		bool running = name_find(run, n_run, e->name) >= 0;
		json_t *ev = json_pack("{s:s,s:i,s:s}", "file", e->file, "line", e->line, "error", e->text);
		if (e->exceptions)
			snprintf(summary, sizeof(summary), "exception register %s:%d: %s; %s", e->file, e->line, e->text,
			         running ? "the tenant keeps its running configuration and register"
			                 : "the tenant is not loaded");
		else
			snprintf(summary, sizeof(summary), "tenant file %s:%d: %s; %s", e->file, e->line, e->text,
			         running ? "the tenant keeps its running configuration" : "the tenant is not loaded");
		snprintf(remediation, sizeof(remediation),
		         "smtpwatchd --check-config -c %s names every problem; fix the file and smtpwatchctl reload",
		         d->config_path);
		c.rule = SW_RULE_SOURCE_UNHEALTHY;
		c.severity = SW_SEV_MEDIUM; /* as a source that fails */
		c.tenant = e->name ? e->name : "-";
		c.subject = "config";
		c.first_seen = now;
		c.last_seen = now;
		c.count = 1;
		c.summary = summary;
		c.remediation = remediation;
		c.evidence = ev;
		r = ev ? sw_lifecycle_fire(d->store, cfg, &c, now, NULL) : -ENOMEM;
		json_decref(ev);
		if (e->name != NULL)
			broken[n_broken++] = (struct name_idx){.name = e->name, .i = b};
	}
	qsort(broken, n_broken, sizeof(*broken), name_idx_cmp);
	bool nameless = false;
	for (size_t b = 0; b < cfg->n_broken; b++)
		nameless = nameless || cfg->broken[b].name == NULL;
	if (r >= 0)
		r = sw_store_alerts_firing_subject(d->store, SW_RULE_SOURCE_UNHEALTHY, "config", sw_strv_add_tenant, &firing);
	for (size_t k = 0; r >= 0 && k < firing.n; k++) {
		const char *tn = firing.v[k];
		bool gone = strcmp(tn, "-") == 0 ? !nameless : name_find(broken, n_broken, tn) < 0;
		if (!gone)
			continue;
		r = sw_lifecycle_resolve(d->store, cfg, SW_RULE_SOURCE_UNHEALTHY, tn, "config", now);
		if (r >= 0)
			log_info("%s: the config alert of %s%s resolved: %s", when, strcmp(tn, "-") == 0 ? "" : "tenant ",
			         strcmp(tn, "-") == 0 ? "a tenant file that names no tenant" : tn,
			         strcmp(tn, "-") == 0 ? "no such file is broken now"
			         : sw_config_tenant(cfg, tn) ? "its configuration loads"
			                                     : "it is no longer configured");
	}
	if (r >= 0)
		r = sw_store_commit(d->store);
	if (r < 0) {
		sw_store_rollback(d->store);
		log_err("%s: the tenant file alerts failed: %s", when,
		        r == -ENOMEM ? strerror(ENOMEM) : sw_store_errmsg(d->store));
	}
	sw_strv_clear(&firing);
	free(broken);
	free(run);
}

/* See smtpwatchd.h.  The new config replaces the old only when it loads
 * whole; tenants and sinks are rebuilt from it, sources keep their
 * checkpoints in the database, so nothing is lost or read twice. */
int daemon_reload(struct daemon *d, char *why, size_t n)
{
	struct sw_diag diag = {0};
	struct sw_register **regs = NULL;
	struct sw_config *cfg;
	bool metrics_failed = false, files_failed = false;
	char more_why[256];

	int64_t t0 = daemon_mono_us(), cpu0 = thread_cpu_us();

	sd_notify(0, "RELOADING=1");
	cfg = load_config(d->config_path, SW_CONFIG_KEEP_GOING, d->tfcache, &regs, &diag);
	if (cfg == NULL) {
		const struct sw_error *e = NULL;
		for (size_t i = 0; i < diag.n && e == NULL; i++)
			if (!diag.items[i].warning)
				e = &diag.items[i];
		char more[96] = "";
		if (diag.n_errors > 1)
			snprintf(more, sizeof(more), " (and %zu more problem%s: smtpwatchd --check-config)",
			         diag.n_errors - 1, diag.n_errors == 2 ? "" : "s");
		snprintf(why, n, "%s:%d: %s%s; keeping the running configuration", e ? e->source : d->config_path,
		         e ? e->line : 0, e ? e->text : "cannot load", more);
		log_err("reload refused: %s", why);
		sw_diag_clear(&diag);
		sd_notify(0, "READY=1");
		return -EINVAL;
	}
	for (size_t i = 0; i < diag.n; i++)
		(diag.items[i].warning ? log_warn : log_err)("%s:%d: %s", diag.items[i].source, diag.items[i].line,
		                                             diag.items[i].text);
	sw_diag_clear(&diag);
	deliver_free(d->deliver);
	d->deliver = NULL;
	int r = tenants_reconcile(d, cfg, &regs);
	if (r >= 0)
		r = http_set_proxy(d->http, cfg->daemon.proxy);
	d->deliver = deliver_new(d);
	if (r >= 0 && d->deliver != NULL) {
		/* The added and changed tenants: spread like a start. */
		size_t n_new = 0, k = 0;
		for (size_t i = 0; i < d->n_tenants; i++)
			n_new += !d->tenants[i]->kept;
		for (size_t i = 0; i < d->n_tenants; i++)
			if (!d->tenants[i]->kept)
				tenant_start(d, i, k++, n_new);
		tenant_files_alert(d, "reload");
	}
	if (r < 0 || d->deliver == NULL) {
		snprintf(why, n, "out of memory while applying the new configuration");
		log_err("reload: %s", why);
		return -ENOMEM;
	}
	if (cfg->n_broken > 0) {
		const struct sw_tenant_file_error *e = &cfg->broken[0];
		size_t regs_bad = 0;
		char what[96];
		for (size_t b = 0; b < cfg->n_broken; b++)
			regs_bad += cfg->broken[b].exceptions;
		if (regs_bad == 0 || regs_bad == cfg->n_broken)
			snprintf(what, sizeof(what), "%zu %s%s", cfg->n_broken, regs_bad ? "exception register" : "tenant file",
			         cfg->n_broken == 1 ? "" : "s");
		else
			snprintf(what, sizeof(what), "%zu tenant file%s and %zu exception register%s",
			         cfg->n_broken - regs_bad, cfg->n_broken - regs_bad == 1 ? "" : "s", regs_bad,
			         regs_bad == 1 ? "" : "s");
		snprintf(why, n, "%s:%d: %s (%s not loaded: smtpwatchd --check-config)", e->file, e->line, e->text, what);
		files_failed = true;
	}
	deliver_kick(d->deliver);
	/* The new configuration stands either way: a metrics_listen that
	 * cannot be bound is said in the log and in the answer to reload. */
	if (!d->once && metrics_http_reload(d, &d->metrics, files_failed ? more_why : why,
	                                    files_failed ? sizeof(more_why) : n) < 0) {
		log_err("reload: metrics_listen %s: %s", cfg->daemon.metrics_listen, files_failed ? more_why : why);
		metrics_failed = true;
	}
	/* How long the loop was held, and how much of it was this thread's
	 * CPU (the rest: waiting for a core on a loaded machine). */
	d->load = (struct config_load){
		.at = daemon_now(),
		.reloads = d->load.reloads + 1,
		.applied_ms = (daemon_mono_us() - t0) / 1000,
		.cpu_ms = (thread_cpu_us() - cpu0) / 1000,
		.tenant_files = cfg->n_tenant_files,
		.tenant_files_parsed = cfg->n_tenant_files_parsed,
	};
	char files[96] = "";
	if (cfg->daemon.tenants_dir != NULL)
		snprintf(files, sizeof(files), "; tenant files: parsed %zu of %zu", cfg->n_tenant_files_parsed,
		         cfg->n_tenant_files);
	log_info("configuration reloaded: %zu tenant%s, %zu sink%s%s (applied in %lld ms, %lld ms of CPU)",
	         cfg->n_tenants, cfg->n_tenants == 1 ? "" : "s", cfg->n_sinks, cfg->n_sinks == 1 ? "" : "s", files,
	         (long long)d->load.applied_ms, (long long)d->load.cpu_ms);
	sd_notify(0, "READY=1");
	daemon_notify_status(d);
	return metrics_failed || files_failed ? 1 : 0;
}

/* SIGTERM/SIGINT: stop after the callback in hand (every transaction is
 * complete between callbacks); queued deliveries stay in the outbox. */
static void signal_stop_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	log_info("signal %d: stopping", (int)sig);
	sd_notify(0, "STOPPING=1");
	event_base_loopbreak(d->base);
}

/* SIGHUP: reload. */
static void signal_hup_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	char why[512];

	int64_t start = daemon_mono_us();

	log_info("SIGHUP: reloading %s", d->config_path);
	daemon_reload(d, why, sizeof(why));
	daemon_loop_step(d, "reload", NULL, start);
}

/* The stall probe's period: a stall shows as at least its length less
 * this (the timer may have just fired when the stall began), give or take
 * the resolution of the monotonic clock libevent's timers run on. */
#define LOOP_PROBE_MS 50

/* The stall probe fired: how late, on the monotonic clock.  A callback
 * that holds the loop (a long query, a big reply) delays every timer and
 * every client behind it; this is the measure of it, for status and
 * metrics (issue 22 #4). */
static void loop_probe_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct timeval tv = {0, LOOP_PROBE_MS * 1000};

	daemon_loop_probe(d, daemon_mono_us(), thread_cpu_us());
	/* Armed a period from now, as daemon_loop_probe counts.  libevent
	 * counts a timeout from the time it cached when the loop turn began,
	 * before the callbacks that ran ahead of this one in the turn: a
	 * persistent timer's next due time was that much earlier than a
	 * period after this firing, and the next firing's lateness came out
	 * short by their time (a stall's interval showed more CPU than its
	 * length).  The cache is brought up to now first. */
	event_base_update_cache_time(d->base);
	evtimer_add(d->probe.ev, &tv);
}

/* See smtpwatchd_internal.h. */
void daemon_loop_probe(struct daemon *d, int64_t now, int64_t cpu)
{
	struct loop_probe *p = &d->probe;
	int64_t late = now - p->due_us;

	if (late > p->max_us) {
		p->max_us = late;
		p->max_at = daemon_now();
		p->max_cpu_us = cpu - p->cpu_us;
		p->max_step = p->step;
	}
	if (late > 100000) {
		p->over_100ms++;
		if (p->step.what != NULL)
			log_debug("event loop stalled for %lld ms (%lld ms of its CPU; the longest step: %s%s%s, %lld ms)",
			          (long long)(late / 1000), (long long)((cpu - p->cpu_us) / 1000), p->step.what,
			          p->step.tenant[0] ? " of tenant " : "", p->step.tenant, (long long)(p->step.us / 1000));
		else
			log_debug("event loop stalled for %lld ms (%lld ms of its CPU; no step measured)",
			          (long long)(late / 1000), (long long)((cpu - p->cpu_us) / 1000));
	}
	p->cpu_us = cpu;
	memset(&p->step, 0, sizeof(p->step));
	p->due_us = now + LOOP_PROBE_MS * 1000;
}

/* See smtpwatchd.h. */
void daemon_loop_step(struct daemon *d, const char *what, const char *tenant, int64_t began_us)
{
	struct loop_step *st = &d->probe.step;
	int64_t us = daemon_mono_us() - began_us;

	if (us <= st->us)
		return;
	if (st->began_us >= began_us && st->us * 2 >= us) {
		st->us = us; /* the inner step's name, the outer's time */
		return;
	}
	st->what = what;
	snprintf(st->tenant, sizeof(st->tenant), "%s", tenant != NULL ? tenant : "");
	st->began_us = began_us;
	st->us = us;
}

/* Start the stall probe. */
static void loop_probe_start(struct daemon *d)
{
	struct timeval tv = {0, LOOP_PROBE_MS * 1000};

	d->probe.ev = evtimer_new(d->base, loop_probe_cb, d);
	if (d->probe.ev == NULL)
		return;
	event_base_update_cache_time(d->base);
	d->probe.due_us = daemon_mono_us() + LOOP_PROBE_MS * 1000;
	d->probe.cpu_us = thread_cpu_us();
	evtimer_add(d->probe.ev, &tv);
}

/* Ping the systemd watchdog from the loop, so a stuck loop gets noticed. */
static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	sd_notify(0, "WATCHDOG=1");
}

/* Create the state directory if missing (0750). */
static int ensure_dir(const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (mkdir(path, 0750) < 0)
		return -errno;
	return 0;
}

#define SECRET_HEAP (4u << 20)

/* Before any secret is read: no core dumps (a core holds the client
 * secret, the webhook URL and the HMAC key), and no ptrace or
 * /proc/PID/mem by other processes of our uid.  Under the unit,
 * SystemCallFilter=~@resources refuses setrlimit() with EPERM, and
 * LimitCORE=0 has done it already. */
static void secrets_protect(void)
{
	struct rlimit none = {0, 0};

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		log_warn("prctl(PR_SET_DUMPABLE, 0): %s; a core dump could hold secrets", strerror(errno));
	if (setrlimit(RLIMIT_CORE, &none) < 0 && errno != EPERM)
		log_warn("setrlimit(RLIMIT_CORE, 0): %s", strerror(errno));
	/* The secrets read from files (sw_secret_alloc) packed in OpenSSL's
	 * secure heap: guard pages, left out of core dumps, locked as they
	 * are touched (MLOCK_ONFAULT: the heap costs only what it holds).
	 * 4 MiB hold 65,536 secrets of up to 63 bytes (a client secret is
	 * 40); past that each secret takes a page of its own. */
	if (!CRYPTO_secure_malloc_initialized() && CRYPTO_secure_malloc_init(SECRET_HEAP, 32) == 0)
		log_warn("no secure heap for secrets; each takes a page of its own");
}

/* See smtpwatchd.h. */
int daemon_run(struct daemon *d, bool check)
{
	struct sw_diag diag = {0};
	struct sw_register **regs = NULL;
	struct sw_error err = {0};
	char why[512], *dbpath = NULL;
	int rc = 1;

	secrets_protect();
	srandom((unsigned)(daemon_mono_ms() ^ getpid()));

	/* --check-config reads every file; the daemon keeps what it read
	 * for its reloads (out of memory it reads them all each time). */
	if (!check)
		d->tfcache = sw_tenant_file_cache_new();
	d->cfg = daemon_load_config(d->config_path, d->tfcache, &regs, &diag);
	if (d->cfg != NULL)
		d->load = (struct config_load){
			.at = daemon_now(),
			.applied_ms = -1,
			.cpu_ms = -1,
			.tenant_files = d->cfg->n_tenant_files,
			.tenant_files_parsed = d->cfg->n_tenant_files_parsed,
		};
	print_diag(&diag);
	bool root = d->cfg != NULL && geteuid() == 0 && !d->cfg->daemon.allow_root;
	if (check) {
		/* A warning, not an error: the unit checks as its own user, and an
		 * admin checking with sudo usually runs the daemon as another. */
		if (root)
			fprintf(stderr, "%s:0: warning: running as root: smtpwatchd refuses to start as root unless "
			        "[daemon] allow_root = yes\n", d->config_path);
		if (d->cfg != NULL)
			printf("%s: configuration OK (%zu tenant%s, %zu sink%s%s)\n", d->config_path, d->cfg->n_tenants,
			       d->cfg->n_tenants == 1 ? "" : "s", d->cfg->n_sinks, d->cfg->n_sinks == 1 ? "" : "s",
			       diag.n > diag.n_errors || root ? ", with warnings" : "");
		rc = d->cfg != NULL ? 0 : 1;
		goto out;
	}
	/* EX_CONFIG (78) for what only the admin can fix: the unit's
	 * RestartPreventExitStatus= lists it, so systemd does not restart
	 * into the same error every RestartSec=. */
	if (d->cfg == NULL) {
		log_err("%s: invalid configuration, not starting (smtpwatchd --check-config -c %s)", d->config_path,
		        d->config_path);
		rc = EX_CONFIG;
		goto out;
	}
	/* As root, whatever the daemon writes (the database, the spool's
	 * .error files) could be aimed anywhere by a mistake or a spool
	 * writer: it runs as its own user unless told otherwise. */
	if (root) {
		log_err("running as root (uid 0): not starting; run smtpwatchd as its own user (the unit uses "
		        "User=smtpwatch) or set [daemon] allow_root = yes in %s", d->config_path);
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_err("cannot initialise libcurl");
		goto out;
	}
	int r = ensure_dir(d->cfg->daemon.state_dir);
	if (r < 0) {
		log_err("state_dir %s: %s", d->cfg->daemon.state_dir, strerror(-r));
		goto out;
	}
	if (asprintf(&dbpath, "%s/smtpwatch.db", d->cfg->daemon.state_dir) < 0)
		goto out;
	/* quick_check and a schema migration read the whole store: a 10M-row
	 * one takes about a minute, past systemd's default start timeout, and
	 * a killed migration rolls back and starts over at the next start. */
	sd_notify(0, "STATUS=opening the database (integrity check, migrations)\nEXTEND_TIMEOUT_USEC=900000000");
	r = sw_store_open(dbpath, &d->store, &err);
	if (r == -EBADMSG || r == -ENOENT) {
		/* Corrupt or deleted: a restart cannot help, the operator must
		 * choose (the unit's RestartPreventExitStatus= lists both). */
		log_err("%s", err.text);
		rc = r == -EBADMSG ? EXIT_STORE_CORRUPT : EXIT_STORE_DELETED;
		goto out;
	}
	if (r < 0) {
		log_err("%s: cannot open the database: %s", dbpath, err.text);
		goto out;
	}
	/* A store never analyzed (one written before there were statistics,
	 * or by an import) is analyzed here, before the loop, where it holds
	 * up nothing; later the daily prune's PRAGMA optimize keeps the
	 * statistics fresh, bounded by analysis_limit (bench/README.md). */
	if (sw_store_optimize(d->store) < 0)
		log_warn("%s: ANALYZE failed: %s", dbpath, sw_store_errmsg(d->store));
	/* In-memory stores (tests) have no file to share with a thread. */
	if (strcmp(dbpath, ":memory:") != 0 && walckpt_start(d->store, dbpath, &d->walckpt, why, sizeof(why)) < 0)
		log_warn("%s: WAL checkpoints stay in the event loop's commits: %s", dbpath, why);
	d->started = daemon_now();
	/* One callback of PRIO_JOB or below a loop turn, then the loop looks
	 * for what became ready meanwhile.  Each slice (a detection pass, a
	 * reply built later, the health rules) keeps to its budget,
	 * but libevent runs every ready one in the same turn: eight replies
	 * built at once (CONTROL_MAX_JOBS) made a turn of eight 20 ms slices,
	 * a stall of 160 ms. */
	struct event_config *ec = event_config_new();
	if (ec != NULL && event_config_set_max_dispatch_interval(ec, NULL, 1, PRIO_JOB) < 0) {
		event_config_free(ec);
		ec = NULL;
	}
	d->base = ec != NULL ? event_base_new_with_config(ec) : event_base_new();
	if (ec != NULL)
		event_config_free(ec);
	if (d->base != NULL && event_base_priority_init(d->base, LOOP_PRIORITIES) < 0) {
		log_err("cannot set up the event loop's priorities");
		goto out;
	}
	d->http = d->base ? http_new(d->base) : NULL;
	if (d->http == NULL || http_set_proxy(d->http, d->cfg->daemon.proxy) < 0) {
		log_err("cannot set up the event loop");
		goto out;
	}
	if (daemon_tenants_build(d, regs) < 0) {
		regs = NULL;
		log_err("out of memory");
		goto out;
	}
	regs = NULL;
	d->deliver = deliver_new(d);
	if (d->deliver == NULL) {
		log_err("cannot set up delivery");
		goto out;
	}
	if (!d->once) {
		r = control_new(d, d->cfg->daemon.socket, d->cfg->daemon.socket_group, &d->control, why, sizeof(why));
		if (r < 0) {
			log_err("control socket %s: %s", d->cfg->daemon.socket, why);
			goto out;
		}
		/* Like a listen directive of sshd or nginx: an address that
		 * cannot be bound stops the start, not the first scrape. */
		if (d->cfg->daemon.metrics_listen != NULL) {
			r = metrics_http_new(d, d->cfg->daemon.metrics_listen, d->cfg->daemon.socket_group, &d->metrics,
			                     why, sizeof(why));
			if (r < 0) {
				log_err("metrics_listen %s: %s", d->cfg->daemon.metrics_listen, why);
				goto out;
			}
		}
	}
	d->sig_term = evsignal_new(d->base, SIGTERM, signal_stop_cb, d);
	d->sig_int = evsignal_new(d->base, SIGINT, signal_stop_cb, d);
	d->sig_hup = evsignal_new(d->base, SIGHUP, signal_hup_cb, d);
	evsignal_add(d->sig_term, NULL);
	evsignal_add(d->sig_int, NULL);
	evsignal_add(d->sig_hup, NULL);
	uint64_t wd_usec = 0;
	if (!d->once) {
		struct timeval minute = {60, 0};
		d->health = event_new(d->base, -1, EV_PERSIST, health_timer_cb, d);
		d->prune_more = evtimer_new(d->base, prune_more_cb, d);
		if (d->prune_more != NULL)
			event_priority_set(d->prune_more, PRIO_BACKGROUND);
		d->health_more = evtimer_new(d->base, health_more_cb, d);
		if (d->health_more != NULL)
			event_priority_set(d->health_more, PRIO_BACKGROUND);
		event_add(d->health, &minute);
		daemon_clock_reset(daemon_now(), daemon_mono_ms());
		struct timeval every = {CLOCK_CHECK_S, 0};
		clockwatch.ev = event_new(d->base, -1, EV_PERSIST, clockwatch_cb, d);
		event_add(clockwatch.ev, &every);
		struct timeval store_every = {STORE_CHECK_S, 0};
		storewatch.ev = event_new(d->base, -1, EV_PERSIST, storewatch_cb, d);
		event_add(storewatch.ev, &store_every);
		statusnote.ev = evtimer_new(d->base, statusnote_cb, d);
		loop_probe_start(d);
	}
	if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
		struct timeval tv = {(time_t)(wd_usec / 2000000), (suseconds_t)(wd_usec / 2 % 1000000)};
		d->watchdog = event_new(d->base, -1, EV_PERSIST, watchdog_cb, d);
		event_add(d->watchdog, &tv);
	}

	/* Config alerts an earlier process raised: the config loads whole. */
	tenant_files_alert(d, "start");
	tenants_start(d);
	if (d->once && d->once_pending == 0)
		deliver_drain(d->deliver, once_drained_cb, d);
	log_info("smtpwatchd %s started: %zu tenant%s, %zu sink%s, database %s%s", SW_VERSION, d->cfg->n_tenants,
	         d->cfg->n_tenants == 1 ? "" : "s", d->cfg->n_sinks, d->cfg->n_sinks == 1 ? "" : "s", dbpath,
	         d->once ? " (once)" : "");
	sd_notify(0, "READY=1");
	daemon_notify_status(d);
	event_base_dispatch(d->base);
	rc = d->once && d->once_failed > 0 ? 2 : 0;
	log_info("stopped");
out:
	if (d->sig_term) event_free(d->sig_term);
	if (d->sig_int) event_free(d->sig_int);
	if (d->sig_hup) event_free(d->sig_hup);
	if (d->watchdog) event_free(d->watchdog);
	if (d->health) event_free(d->health);
	if (d->prune_more) event_free(d->prune_more);
	if (d->health_more) event_free(d->health_more);
	if (d->probe.ev) event_free(d->probe.ev);
	if (clockwatch.ev) event_free(clockwatch.ev);
	if (storewatch.ev) event_free(storewatch.ev);
	if (statusnote.ev) event_free(statusnote.ev);
	statusnote.ev = NULL;
	metrics_http_free(d->metrics);
	control_free(d->control);
	deliver_free(d->deliver);
	daemon_tenants_free(d);
	if (regs != NULL && d->cfg != NULL) {
		for (size_t i = 0; i < d->cfg->n_tenants; i++)
			sw_register_free(regs[i]);
		free(regs);
	}
	http_free(d->http);
	if (d->base)
		event_base_free(d->base);
	walckpt_stop(d->walckpt, d->store);
	d->walckpt = NULL;
	sw_store_free(d->store);
	sw_config_free(d->cfg);
	sw_tenant_file_cache_free(d->tfcache);
	d->tfcache = NULL;
	sw_diag_clear(&diag);
	free(dbpath);
	curl_global_cleanup();
	return rc;
}
