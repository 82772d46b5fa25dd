/* control_metrics.c: the daemon's counters and gauges in the Prometheus
 * text exposition format (version 0.0.4): metrics_render() writes them
 * once, for `metrics` (in data.text) and GET /metrics (metrics_http.c).
 *
 * Everything comes from what the daemon already keeps: the checkpoints
 * (records, last success per tenant and source), the alerts and outbox
 * tables, the sinks' counters, and the pollers' status.  Counters kept in
 * the database (records, deliveries) survive restarts; the ones kept in
 * memory (throttles, runs) start again at 0 after a restart or a reload,
 * which Prometheus reads as a counter reset. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "metrics.h"
#include "poller.h"
#include "smtpwatchd.h"

/* The sources of a tenant, as named in checkpoints and `status`. */
static const char *const metrics_sources[] = {"signins", "exchange", "report", "audit", "policies", "usage"};
#define N_SOURCES (sizeof(metrics_sources) / sizeof(metrics_sources[0]))

/* Outbox row states (store.c: 0 pending, 1 delivered, 2 dead). */
static const char *const outbox_states[] = {"pending", "delivered", "dead"};
#define N_OUTBOX_STATES (sizeof(outbox_states) / sizeof(outbox_states[0]))

/* One tenant's source, gathered before printing. */
struct source_sample {
	const char *tenant;
	const char *source;
	struct sw_checkpoint cp;
	bool have_cp;
	bool polled; /* has a poller: the in-memory fields below are valid */
	bool running;
	int64_t throttled;
	int64_t skipped;
	int64_t runs, failed_runs; /* -1 when this poller does not count them */
};

/* An (a, b) -> n tally from a GROUP BY query. */
struct tally {
	char *a, *b;
	int64_t n;
};

/* A growing list of tallies (a linear search: a few dozen at most). */
struct tallies {
	struct tally *items;
	size_t n, cap;
};

/* Write s as a label value: backslash, double quote and newline escaped. */
static void put_label(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s != NULL && *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '"')
			fputs("\\\"", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

/* The # HELP and # TYPE lines of a metric family. */
static void put_family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample with up to three labels (NULL names end the list). */
static void put_sample(FILE *f, const char *name, const char *k1, const char *v1, const char *k2, const char *v2,
                       const char *k3, const char *v3, int64_t value)
{
	const char *keys[] = {k1, k2, k3};
	const char *vals[] = {v1, v2, v3};

	fputs(name, f);
	for (int i = 0; i < 3 && keys[i] != NULL; i++) {
		fprintf(f, "%s%s=", i == 0 ? "{" : ",", keys[i]);
		put_label(f, vals[i]);
		if (i == 2 || keys[i + 1] == NULL)
			fputc('}', f);
	}
	fprintf(f, " %lld\n", (long long)value);
}

/* Add n to the tally (a, b), creating it. */
static int tally_add(struct tallies *t, const char *a, const char *b, int64_t n)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->items[i].a, a) == 0 && strcmp(t->items[i].b, b) == 0) {
			t->items[i].n += n;
			return 0;
		}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 32;
		struct tally *items = realloc(t->items, cap * sizeof(*items));
		if (items == NULL)
			return -ENOMEM;
		t->items = items;
		t->cap = cap;
	}
	t->items[t->n].a = strdup(a);
	t->items[t->n].b = strdup(b);
	t->items[t->n].n = n;
	if (t->items[t->n].a == NULL || t->items[t->n].b == NULL) {
		free(t->items[t->n].a);
		free(t->items[t->n].b);
		return -ENOMEM;
	}
	t->n++;
	return 0;
}

/* Free a tally list's contents. */
static void tallies_clear(struct tallies *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->items[i].a);
		free(t->items[i].b);
	}
	free(t->items);
	memset(t, 0, sizeof(*t));
}

/* Alert status column to its name. */
static const char *alert_state_name(int64_t v)
{
	return sw_alert_status_name(v == SW_ALERT_RESOLVED ? SW_ALERT_RESOLVED : SW_ALERT_FIRING);
}

/* Outbox state column to its name. */
static const char *outbox_state_name(int64_t v)
{
	if (v < 0 || v >= (int64_t)N_OUTBOX_STATES)
		return "unknown";
	return outbox_states[v];
}

/* Where the store's tally rows go: name_b maps the state to its label. */
struct tally_ctx {
	struct tallies *t;
	const char *(*name_b)(int64_t);
};

/* One (name, state, count) row of a store tally. */
static int tally_cb(const char *name, int64_t state, int64_t n, void *arg)
{
	struct tally_ctx *c = arg;

	return tally_add(c->t, name, c->name_b(state), n);
}

/* Fill t from one of the store's tallies; why says what failed. */
static int tally_store(struct sw_store *store, int (*tally)(struct sw_store *, sw_tally_cb, void *),
                       const char *(*name_b)(int64_t), struct tallies *t, char *why, size_t n)
{
	struct tally_ctx c = {.t = t, .name_b = name_b};
	int r = tally(store, tally_cb, &c);

	if (r == -ENOMEM)
		snprintf(why, n, "out of memory");
	else if (r < 0)
		snprintf(why, n, "cannot read the database: %s", sw_store_errmsg(store));
	return r;
}

/* An integer member of a status object, or def. */
static int64_t json_int_or(const json_t *o, const char *key, int64_t def)
{
	const json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

/* Fill one source sample from the checkpoint and, if any, the poller. */
static void source_gather(struct daemon *d, struct tenant *t, const char *source, struct source_sample *s)
{
	struct poller *p = NULL;
	json_t *st;

	memset(s, 0, sizeof(*s));
	s->tenant = t->cfg->name;
	s->source = source;
	s->runs = s->failed_runs = -1;
	s->have_cp = sw_store_checkpoint_get(d->store, t->cfg->name, source, &s->cp) == 0;
	if (strcmp(source, "signins") == 0)
		p = t->signins;
	else if (strcmp(source, "exchange") == 0)
		p = t->exchange;
	else if (strcmp(source, "audit") == 0)
		p = t->audit;
	else if (strcmp(source, "policies") == 0)
		p = t->policies;
	else if (strcmp(source, "usage") == 0)
		p = t->usage;
	if (p == NULL)
		return;
	st = poller_status(p);
	if (st == NULL)
		return;
	s->polled = true;
	s->running = poller_running(p);
	s->throttled = json_int_or(st, "throttled", 0);
	s->skipped = json_int_or(st, "skipped", 0);
	s->runs = json_int_or(st, "runs", -1);
	s->failed_runs = json_int_or(st, "failed_runs", -1);
	json_decref(st);
}

/* The per tenant and source families. */
static void put_sources(FILE *f, const struct source_sample *s, size_t n)
{
	bool have_runs = false;

	/* The exchange checkpoint's records is the size of the last snapshot,
	 * which shrinks when mailboxes go: a gauge of its own, not a counter. */
	put_family(f, "smtpwatch_records_total", "counter",
	           "Records stored since the database was created (kept across restarts and pruning): for signins "
	           "the sign-ins new to the database (one read again is not counted again), for report the report "
	           "rows added or changed.");
	for (size_t i = 0; i < n; i++)
		if (strcmp(s[i].source, "exchange") != 0 && strcmp(s[i].source, "policies") != 0)
			put_sample(f, "smtpwatch_records_total", "tenant", s[i].tenant, "source", s[i].source, NULL, NULL,
			           s[i].cp.records);
	put_family(f, "smtpwatch_mailboxes", "gauge",
	           "Mailboxes in the last complete Exchange snapshot (Get-CASMailbox) of the tenant.");
	for (size_t i = 0; i < n; i++)
		if (strcmp(s[i].source, "exchange") == 0)
			put_sample(f, "smtpwatch_mailboxes", "tenant", s[i].tenant, NULL, NULL, NULL, NULL, s[i].cp.records);
	put_family(f, "smtpwatch_source_up", "gauge", "1 if the last run of the source succeeded, else 0.");
	for (size_t i = 0; i < n; i++)
		put_sample(f, "smtpwatch_source_up", "tenant", s[i].tenant, "source", s[i].source, NULL, NULL,
		           s[i].cp.last_success > 0 && s[i].cp.last_error[0] == '\0');
	put_family(f, "smtpwatch_source_running", "gauge", "1 while a run of the source is in progress.");
	for (size_t i = 0; i < n; i++)
		if (s[i].polled)
			put_sample(f, "smtpwatch_source_running", "tenant", s[i].tenant, "source", s[i].source, NULL,
			           NULL, s[i].running);
	put_family(f, "smtpwatch_source_last_success_timestamp_seconds", "gauge",
	           "Unix time of the last successful run of the source (0: never).");
	for (size_t i = 0; i < n; i++)
		put_sample(f, "smtpwatch_source_last_success_timestamp_seconds", "tenant", s[i].tenant, "source",
		           s[i].source, NULL, NULL, s[i].cp.last_success);
	put_family(f, "smtpwatch_source_last_attempt_timestamp_seconds", "gauge",
	           "Unix time of the last run of the source, successful or not (0: never).");
	for (size_t i = 0; i < n; i++)
		put_sample(f, "smtpwatch_source_last_attempt_timestamp_seconds", "tenant", s[i].tenant, "source",
		           s[i].source, NULL, NULL, s[i].cp.last_attempt);
	put_family(f, "smtpwatch_source_watermark_timestamp_seconds", "gauge",
	           "Unix time up to which the source has been read completely (0: not yet).");
	for (size_t i = 0; i < n; i++)
		put_sample(f, "smtpwatch_source_watermark_timestamp_seconds", "tenant", s[i].tenant, "source",
		           s[i].source, NULL, NULL, s[i].cp.watermark);
	put_family(f, "smtpwatch_throttles_total", "counter",
	           "429 and 503 answers the source received since the daemon started or last reloaded its "
	           "configuration (a reload rebuilds the sources).");
	for (size_t i = 0; i < n; i++)
		if (s[i].polled)
			put_sample(f, "smtpwatch_throttles_total", "tenant", s[i].tenant, "source", s[i].source, NULL,
			           NULL, s[i].throttled);
	put_family(f, "smtpwatch_records_skipped_total", "counter",
	           "Records the source could not read and skipped (no id, a bad time, a wrong type, an "
	           "over-long field) since the daemon started or last reloaded; a record read again is counted "
	           "again.");
	for (size_t i = 0; i < n; i++)
		if (s[i].polled)
			put_sample(f, "smtpwatch_records_skipped_total", "tenant", s[i].tenant, "source", s[i].source,
			           NULL, NULL, s[i].skipped);
	for (size_t i = 0; i < n; i++)
		have_runs = have_runs || s[i].runs >= 0;
	if (!have_runs)
		return;
	put_family(f, "smtpwatch_polls_total", "counter",
	           "Finished runs of the source, successful or not, since the daemon started or last reloaded.");
	for (size_t i = 0; i < n; i++)
		if (s[i].runs >= 0)
			put_sample(f, "smtpwatch_polls_total", "tenant", s[i].tenant, "source", s[i].source, NULL, NULL,
			           s[i].runs);
	put_family(f, "smtpwatch_poll_failures_total", "counter",
	           "Runs of the source that failed since the daemon started or last reloaded.");
	for (size_t i = 0; i < n; i++)
		if (s[i].failed_runs >= 0)
			put_sample(f, "smtpwatch_poll_failures_total", "tenant", s[i].tenant, "source", s[i].source,
			           NULL, NULL, s[i].failed_runs);
}

/* Alerts by rule and state; every known rule appears, at 0 if need be. */
static int put_alerts(FILE *f, struct daemon *d, char *why, size_t n)
{
	int64_t by_sev[SW_SEV_CRITICAL + 1] = {0};
	struct tallies t = {0};
	int r = 0;

	for (size_t i = 0; sw_rules_all[i] != NULL && r == 0; i++) {
		r = tally_add(&t, sw_rules_all[i], "firing", 0);
		if (r == 0)
			r = tally_add(&t, sw_rules_all[i], "resolved", 0);
	}
	if (r < 0) {
		snprintf(why, n, "out of memory");
		goto out;
	}
	r = tally_store(d->store, sw_store_alerts_tally, alert_state_name, &t, why, n);
	if (r == 0 && (r = sw_store_alerts_count(d->store, by_sev)) < 0)
		snprintf(why, n, "cannot read the database: %s", sw_store_errmsg(d->store));
	if (r < 0)
		goto out;
	put_family(f, "smtpwatch_alerts", "gauge", "Alerts in the database by rule and state (firing, resolved).");
	for (size_t i = 0; i < t.n; i++)
		put_sample(f, "smtpwatch_alerts", "rule", t.items[i].a, "state", t.items[i].b, NULL, NULL,
		           t.items[i].n);
	put_family(f, "smtpwatch_alerts_firing", "gauge", "Firing alerts by severity.");
	for (int s = SW_SEV_CRITICAL; s >= SW_SEV_INFO; s--)
		put_sample(f, "smtpwatch_alerts_firing", "severity", sw_severity_name((enum sw_severity)s), NULL, NULL,
		           NULL, NULL, by_sev[s]);
out:
	tallies_clear(&t);
	return r;
}

/* Outbox rows and delivery counters per sink. */
static int put_sinks(FILE *f, struct daemon *d, char *why, size_t n)
{
	const struct sw_config *cfg = d->cfg;
	struct sw_outbox_stats *st = NULL;
	struct tallies t = {0};
	int r = 0;

	st = calloc(cfg->n_sinks + 1, sizeof(*st));
	if (st == NULL) {
		r = -ENOMEM;
		snprintf(why, n, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < cfg->n_sinks; i++) {
		for (size_t k = 0; k < N_OUTBOX_STATES && r == 0; k++)
			r = tally_add(&t, cfg->sinks[i].name, outbox_states[k], 0);
		if (r < 0) {
			snprintf(why, n, "out of memory");
			goto out;
		}
		r = sw_store_outbox_stats(d->store, cfg->sinks[i].name, &st[i]);
		if (r < 0) {
			snprintf(why, n, "cannot read the counters of sink %s: %s", cfg->sinks[i].name,
			         sw_store_errmsg(d->store));
			goto out;
		}
	}
	r = tally_store(d->store, sw_store_outbox_tally, outbox_state_name, &t, why, n);
	if (r < 0)
		goto out;
	put_family(f, "smtpwatch_outbox", "gauge",
	           "Outbox rows by sink and state (pending, delivered, dead); finished rows go after retention.");
	for (size_t i = 0; i < t.n; i++)
		put_sample(f, "smtpwatch_outbox", "sink", t.items[i].a, "state", t.items[i].b, NULL, NULL,
		           t.items[i].n);
	put_family(f, "smtpwatch_queue_depth", "gauge", "Alert documents waiting for delivery to the sink.");
	for (size_t i = 0; i < cfg->n_sinks; i++)
		put_sample(f, "smtpwatch_queue_depth", "sink", cfg->sinks[i].name, "type",
		           sw_sink_type_name(cfg->sinks[i].type), NULL, NULL, st[i].queued);
	put_family(f, "smtpwatch_deliveries_total", "counter",
	           "Deliveries since the database was created, by sink name and outcome: delivered, documents the "
	           "sink accepted; failed, attempts that failed (each one, the last of a dead document too); dead, "
	           "documents given up after dead_after.");
	for (size_t i = 0; i < cfg->n_sinks; i++) {
		const char *name = cfg->sinks[i].name;
		put_sample(f, "smtpwatch_deliveries_total", "sink", name, "outcome", "delivered", NULL, NULL,
		           st[i].delivered);
		put_sample(f, "smtpwatch_deliveries_total", "sink", name, "outcome", "failed", NULL, NULL,
		           st[i].failed_attempts);
		put_sample(f, "smtpwatch_deliveries_total", "sink", name, "outcome", "dead", NULL, NULL, st[i].dead);
	}
	put_family(f, "smtpwatch_sink_last_success_timestamp_seconds", "gauge",
	           "Unix time of the last delivery the sink accepted (0: never).");
	for (size_t i = 0; i < cfg->n_sinks; i++)
		put_sample(f, "smtpwatch_sink_last_success_timestamp_seconds", "sink", cfg->sinks[i].name, NULL, NULL,
		           NULL, NULL, st[i].last_success);
out:
	free(st);
	tallies_clear(&t);
	return r;
}

/* See metrics.h. */
int metrics_render(struct daemon *d, char **ret_text, size_t *ret_len, char *why, size_t n)
{
	struct source_sample *samples = NULL;
	size_t n_samples = 0;
	char *text = NULL;
	size_t len = 0;
	FILE *f = NULL;
	int r = 0;

	samples = calloc(d->n_tenants * N_SOURCES + 1, sizeof(*samples));
	f = open_memstream(&text, &len);
	if (samples == NULL || f == NULL) {
		r = -ENOMEM;
		snprintf(why, n, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < d->n_tenants; i++) {
		struct tenant *t = d->tenants[i];
		for (size_t k = 0; k < N_SOURCES; k++) {
			struct source_sample *s = &samples[n_samples];
			source_gather(d, t, metrics_sources[k], s);
			/* A report source shows once it is configured or has run. */
			if (strcmp(s->source, "report") == 0 && !s->have_cp && t->cfg->report_spool == NULL)
				continue;
			/* The audit source likewise, once on or once it has run. */
			if (strcmp(s->source, "audit") == 0 && !s->have_cp && !t->cfg->audit)
				continue;
			/* And the usage report source, once on or once it has run. */
			if (strcmp(s->source, "usage") == 0 && !s->have_cp && !t->cfg->usage)
				continue;
			n_samples++;
		}
	}

	put_family(f, "smtpwatch_info", "gauge", "Version of the running smtpwatchd.");
	put_sample(f, "smtpwatch_info", "version", SW_VERSION, NULL, NULL, NULL, NULL, 1);
	put_family(f, "smtpwatch_start_time_seconds", "gauge",
	           "Unix time the daemon started (a reload does not change it).");
	put_sample(f, "smtpwatch_start_time_seconds", NULL, NULL, NULL, NULL, NULL, NULL, d->started);
	put_family(f, "smtpwatch_loop_stall_seconds_max", "gauge",
	           "Longest time the event loop could not run its 50 ms stall probe since the daemon started.");
	fprintf(f, "smtpwatch_loop_stall_seconds_max %.3f\n", (double)d->probe.max_us / 1e6);
	put_family(f, "smtpwatch_loop_stalls_total", "counter",
	           "Times the stall probe ran more than 100 ms late since the daemon started.");
	put_sample(f, "smtpwatch_loop_stalls_total", NULL, NULL, NULL, NULL, NULL, NULL, d->probe.over_100ms);
	put_family(f, "smtpwatch_config_reloads_total", "counter", "Configuration reloads applied since the daemon started.");
	put_sample(f, "smtpwatch_config_reloads_total", NULL, NULL, NULL, NULL, NULL, NULL, d->load.reloads);
	put_family(f, "smtpwatch_config_tenant_files", "gauge",
	           "tenants_dir files the last configuration load (the start's or a reload's) found.");
	put_sample(f, "smtpwatch_config_tenant_files", NULL, NULL, NULL, NULL, NULL, NULL,
	           (int64_t)d->load.tenant_files);
	put_family(f, "smtpwatch_config_tenant_files_parsed", "gauge",
	           "Of those, the files it read and parsed: new or changed since the load before (the others as "
	           "that load read them).");
	put_sample(f, "smtpwatch_config_tenant_files_parsed", NULL, NULL, NULL, NULL, NULL, NULL,
	           (int64_t)d->load.tenant_files_parsed);
	put_family(f, "smtpwatch_tenants", "gauge", "Tenants in the running configuration.");
	put_sample(f, "smtpwatch_tenants", NULL, NULL, NULL, NULL, NULL, NULL, (int64_t)d->n_tenants);
	put_family(f, "smtpwatch_signins_stored", "gauge", "Sign-in records in the database (after pruning).");
	for (size_t i = 0; i < d->n_tenants; i++) {
		int64_t count = 0;
		if (sw_store_signins_count(d->store, d->tenants[i]->cfg->name, &count) < 0)
			count = 0;
		put_sample(f, "smtpwatch_signins_stored", "tenant", d->tenants[i]->cfg->name, NULL, NULL, NULL, NULL,
		           count);
	}
	put_sources(f, samples, n_samples);
	r = put_alerts(f, d, why, n);
	if (r < 0)
		goto fail;
	r = put_sinks(f, d, why, n);
	if (r < 0)
		goto fail;
	if (fclose(f) != 0) {
		f = NULL;
		r = -ENOMEM;
		snprintf(why, n, "out of memory");
		goto fail;
	}
	f = NULL;
	*ret_text = text;
	*ret_len = len;
	free(samples);
	return 0;
fail:
	if (f != NULL)
		fclose(f);
	free(text);
	free(samples);
	return r;
}

/* See control.h: the text of metrics_render() in data.text. */
int control_cmd_metrics(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data, char *why,
                        size_t n)
{
	char *text = NULL;
	size_t len = 0;
	int r = metrics_render(d, &text, &len, why, n);

	if (r < 0)
		return r;
	*ret_data = json_pack("{s:s%}", "text", text, len);
	free(text);
	if (*ret_data == NULL) {
		snprintf(why, n, "out of memory");
		return -ENOMEM;
	}
	return 0;
}
