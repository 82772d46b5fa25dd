/* remedy.c: remediation writes of a tenant (see remedy.h).
 *
 * Order, for the record to survive a crash: the action is committed as
 * pending before the write is sent; the write's answer is committed when
 * it comes; the read-back completes the row (and queues the remediated
 * transition) in one transaction.  A pending row found at start is only
 * read back, never written again: Exchange may or may not have applied a
 * write whose answer was lost, and the read-back says which. */
#include "remedy.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "deliver.h"
#include "detect_source.h"
#include "exo.h"
#include "http.h"
#include "log.h"
#include "poller.h"
#include "smtpwatchd.h"
#include "store_remediate.h"

#define REMEDY_TRIES 6          /* answers of 429/503 or no answer before giving up a step */
#define REMEDY_RETRY_MAX_S 120
#define REMEDY_HINT "writes need the Exchange Administrator role for the app (Entra ID, Roles and administrators) " \
	"besides Exchange.ManageAsApp"

struct remedy;

/* One action in flight: the write, then the read-back. */
struct remedy_job {
	struct remedy *rm;
	int64_t id;
	char alert_id[24];
	char target[320];
	bool tenant_switch;
	char *body;       /* the write's InvokeCommand body */
	bool reading;     /* the write is answered: reading back */
	bool resumed;     /* left pending by a stopped daemon: no write */
	bool retried_401;
	int tries;
	struct event *retry;
	struct remedy_job *next;
};

/* A tenant's remediation runtime: the write credentials and the jobs. */
struct remedy {
	struct tenant *t;
	/* A tenant of the write app (remediation_client_id): auth.c reads
	 * the credentials from a tenant's config, so a copy of it with the
	 * write credentials in place gets its own token cache. */
	struct tenant shadow;
	struct sw_tenant_config shadow_cfg;
	struct auth *wauth; /* NULL: the tenant's own */
	char *url, *anchor;
	struct remedy_job *jobs;
	char health_error[512]; /* remedy_health()'s last_error */
};

static void job_send(struct remedy_job *job);

/* The tenant's runtime, made on first use. */
static struct remedy *remedy_get(struct tenant *t)
{
	const struct sw_tenant_config *tc = t->cfg;
	struct remedy *rm = t->remedy;

	if (rm != NULL)
		return rm;
	rm = calloc(1, sizeof(*rm));
	if (rm == NULL)
		return NULL;
	rm->t = t;
	const char *slash = tc->exchange_url[strlen(tc->exchange_url) - 1] == '/' ? "" : "/";
	if (asprintf(&rm->url, "%s%sadminapi/beta/%s/InvokeCommand", tc->exchange_url, slash, tc->tenant_id) < 0)
		rm->url = NULL;
	if (asprintf(&rm->anchor, "X-AnchorMailbox: APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@%s",
	             tc->tenant_id) < 0)
		rm->anchor = NULL;
	if (tc->remediation_client_id != NULL) {
		rm->shadow_cfg = *tc;
		rm->shadow_cfg.client_id = tc->remediation_client_id;
		rm->shadow_cfg.client_secret_file = tc->remediation_client_secret_file;
		rm->shadow_cfg.client_secret = tc->remediation_client_secret;
		rm->shadow_cfg.certificate_file = tc->remediation_certificate_file;
		rm->shadow = *t;
		rm->shadow.cfg = &rm->shadow_cfg;
		rm->wauth = auth_new(&rm->shadow);
	}
	if (rm->url == NULL || rm->anchor == NULL || (tc->remediation_client_id != NULL && rm->wauth == NULL)) {
		free(rm->url);
		free(rm->anchor);
		auth_free(rm->wauth);
		free(rm);
		return NULL;
	}
	t->remedy = rm;
	return rm;
}

/* See remedy.h. */
void remedy_credentials(const struct tenant *t, char *buf, size_t n)
{
	if (t->cfg->remediation_client_id != NULL)
		snprintf(buf, n, "remediation_client_id %s", t->cfg->remediation_client_id);
	else
		snprintf(buf, n, "client_id %s (no remediation_client_id)", t->cfg->client_id);
}

/* See remedy.h. */
int64_t remedy_cert_not_after(struct tenant *t)
{
	const struct sw_tenant_config *tc = t->cfg;
	struct remedy *rm;

	if (tc->remediation == SW_REMEDIATION_OFF || tc->remediation_client_id == NULL ||
	    tc->remediation_certificate_file == NULL)
		return 0;
	rm = remedy_get(t);
	return rm != NULL ? auth_cert_not_after(rm->wauth) : 0;
}

/* The auth of a step: the write app for the write, the read app for the read-back. */
static struct auth *job_auth(struct remedy_job *job)
{
	if (!job->reading && job->rm->wauth != NULL)
		return job->rm->wauth;
	return job->rm->t->auth;
}

/* Forget a job: cancel what it waits for. */
static void job_free(struct remedy_job *job)
{
	struct remedy *rm = job->rm;
	struct remedy_job **pp;

	for (pp = &rm->jobs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == job) {
			*pp = job->next;
			break;
		}
	http_cancel_arg(rm->t->daemon->http, job);
	auth_forget(rm->t->auth, job);
	if (rm->wauth != NULL)
		auth_forget(rm->wauth, job);
	if (job->retry != NULL)
		event_free(job->retry);
	free(job->body);
	free(job);
}

/* The retry timer fired. */
static void job_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	job_send(arg);
}

/* Complete the record: outcome, the state read back, the remediated
 * transition when done; then let the next Exchange poll confirm it. */
static void job_complete(struct remedy_job *job, const char *state, const char *outcome, const char *answer)
{
	struct tenant *t = job->rm->t;
	struct daemon *d = t->daemon;
	struct sw_remedy_action a = {0};
	int64_t now = daemon_now();
	int r = sw_store_begin(d->store);

	if (r >= 0)
		r = sw_store_remedy_complete(d->store, job->id, state != NULL ? now : 0, state, outcome, answer);
	if (r >= 0)
		r = sw_store_remedy_get(d->store, job->id, &a);
	if (r >= 0 && strcmp(outcome, SW_REMEDY_DONE) == 0 && !a.notified) {
		json_t *doc = sw_remedy_action_json(&a);
		r = doc != NULL ? sw_store_remedy_notify(d->store, d->cfg, a.alert_id, doc, now) : -ENOMEM;
		if (r == -ENOENT)
			r = 0; /* the alert was pruned: the record stands */
		if (r >= 0)
			r = sw_store_remedy_notified(d->store, job->id);
		json_decref(doc);
	}
	if (r >= 0)
		r = sw_store_commit(d->store);
	if (r < 0) {
		sw_store_rollback(d->store);
		log_err("tenant %s: remediation %lld (%s): cannot record the outcome: %s; it stays pending until the "
		        "next start", t->cfg->name, (long long)job->id, job->target, sw_store_errmsg(d->store));
	} else if (strcmp(outcome, SW_REMEDY_DONE) == 0) {
		log_info("tenant %s: remediation %lld done: %s (alert %s, asked by %s); read back "
		           "SmtpClientAuthenticationDisabled = %s", t->cfg->name, (long long)job->id, a.command,
		           a.alert_id, a.requested_by, state ? state : "?");
		deliver_kick(d->deliver);
		poller_run_now(t->exchange);
	} else {
		log_warn("tenant %s: remediation %lld failed: %s (alert %s, asked by %s): %s", t->cfg->name,
		         (long long)job->id, a.command ? a.command : job->target, a.alert_id ? a.alert_id : "-",
		         a.requested_by ? a.requested_by : "-", answer ? answer : a.answer ? a.answer : "-");
	}
	sw_remedy_action_clear(&a);
	job_free(job);
}

/* Try a step again later (throttled, no answer), or give up. */
static void job_again(struct remedy_job *job, int64_t retry_after, const char *what)
{
	int64_t s = retry_after > 0 ? retry_after : 5LL << job->tries;
	char msg[600];

	if (++job->tries >= REMEDY_TRIES) {
		snprintf(msg, sizeof(msg), "%s: %s (gave up after %d tries)", job->reading ? "read-back" : "write", what,
		         job->tries);
		/* A write never answered may still have been applied: read back. */
		if (!job->reading) {
			log_warn("tenant %s: remediation %lld: %s; reading %s back", job->rm->t->cfg->name,
			         (long long)job->id, msg, job->target);
			sw_store_remedy_written(job->rm->t->daemon->store, job->id, 0, 0, msg);
			job->reading = true;
			job->tries = 0;
			job->retried_401 = false;
			job_send(job);
			return;
		}
		job_complete(job, NULL, SW_REMEDY_FAILED, msg);
		return;
	}
	if (s > REMEDY_RETRY_MAX_S)
		s = REMEDY_RETRY_MAX_S;
	log_info("tenant %s: remediation %lld: %s: %s, retrying in %llds", job->rm->t->cfg->name, (long long)job->id,
	         job->reading ? "read-back" : "write", what, (long long)s);
	if (job->retry == NULL)
		job->retry = evtimer_new(job->rm->t->daemon->base, job_retry_cb, job);
	struct timeval tv = {(time_t)s, 0};
	if (job->retry == NULL || evtimer_add(job->retry, &tv) < 0)
		job_complete(job, NULL, SW_REMEDY_FAILED, "out of memory");
}

/* Exchange's warnings of an answer, joined ("" when none). */
static void answer_warnings(const struct http_response *res, char *out, size_t n)
{
	struct sw_exo_page page = {0};
	struct sw_error err = {0};
	size_t off = 0, i;
	json_t *w;

	out[0] = '\0';
	if (sw_exo_page_parse(res->body.data, res->body.len, &page, &err) < 0)
		return;
	json_array_foreach(page.warnings, i, w) {
		const char *v = json_string_value(w);
		int k = snprintf(out + off, n - off, "%s%s", off ? "; " : "", v ? v : "?");
		if (k < 0 || (size_t)k >= n - off)
			break;
		off += (size_t)k;
	}
	sw_exo_page_clear(&page);
}

/* The write was answered. */
static void write_done(struct remedy_job *job, struct http_response *res)
{
	struct tenant *t = job->rm->t;
	char text[600], warn[400];

	if (res->status >= 200 && res->status < 300) {
		answer_warnings(res, warn, sizeof(warn));
		snprintf(text, sizeof(text), "HTTP %ld%s%s", res->status, warn[0] ? ": " : "", warn);
		if (sw_store_remedy_written(t->daemon->store, job->id, daemon_now(), (int)res->status, text) < 0)
			log_warn("tenant %s: remediation %lld: cannot record the write's answer: %s", t->cfg->name,
			         (long long)job->id, sw_store_errmsg(t->daemon->store));
		job->reading = true;
		job->tries = 0;
		job->retried_401 = false;
		job_send(job);
		return;
	}
	sw_exo_error_text(res->body.data, res->body.len, warn, sizeof(warn));
	snprintf(text, sizeof(text), "HTTP %ld: %s", res->status, warn);
	sw_store_remedy_written(t->daemon->store, job->id, daemon_now(), (int)res->status, text);
	job_complete(job, NULL, SW_REMEDY_FAILED, NULL);
}

/* The read-back was answered (200). */
static void read_done(struct remedy_job *job, struct http_response *res)
{
	struct sw_exo_page page = {0};
	struct sw_error err = {0};
	char text[600];

	if (sw_exo_page_parse(res->body.data, res->body.len, &page, &err) < 0 || json_array_size(page.rows) == 0) {
		sw_exo_page_clear(&page);
		job_again(job, 0, "malformed or empty answer");
		return;
	}
	enum sw_tristate st = sw_exo_row_smtp_disabled(json_array_get(page.rows, 0));
	sw_exo_page_clear(&page);
	if (job->resumed) {
		snprintf(text, sizeof(text), "no answer to the write was recorded (the daemon stopped or reloaded "
		         "first); read back: SmtpClientAuthenticationDisabled = %s", sw_tristate_name(st));
		job_complete(job, sw_tristate_name(st), st == SW_TRI_TRUE ? SW_REMEDY_DONE : SW_REMEDY_FAILED, text);
		return;
	}
	if (st != SW_TRI_TRUE) {
		snprintf(text, sizeof(text), "Exchange accepted the write, but %s reads back "
		         "SmtpClientAuthenticationDisabled = %s", job->target, sw_tristate_name(st));
		job_complete(job, sw_tristate_name(st), SW_REMEDY_FAILED, text);
		return;
	}
	job_complete(job, sw_tristate_name(st), SW_REMEDY_DONE, NULL);
}

/* An answer to either step. */
static void job_http_cb(struct http_response *res, void *arg)
{
	struct remedy_job *job = arg;
	char what[1024], serr[300];

	if (res->curl_code != 0) {
		snprintf(what, sizeof(what), "request failed: %s", res->error);
		job_again(job, 0, what);
		return;
	}
	if (res->status == 429 || res->status == 503 || res->status >= 500) {
		sw_exo_error_text(res->body.data, res->body.len, serr, sizeof(serr));
		snprintf(what, sizeof(what), "HTTP %ld %s", res->status, serr);
		job_again(job, res->retry_after, what);
		return;
	}
	if (res->status == 401 && !job->retried_401) {
		job->retried_401 = true;
		auth_invalidate(job_auth(job), job->rm->t->cfg->exchange_url);
		job_send(job);
		return;
	}
	if (!job->reading) {
		write_done(job, res);
		return;
	}
	if (res->status != 200) {
		sw_exo_error_text(res->body.data, res->body.len, serr, sizeof(serr));
		snprintf(what, sizeof(what), "read-back of %s: HTTP %ld: %s", job->target, res->status, serr);
		job_complete(job, NULL, SW_REMEDY_FAILED, what);
		return;
	}
	read_done(job, res);
}

/* The token of a step arrived (or did not). */
static void job_token_cb(const char *token, const char *error, long status, void *arg)
{
	struct remedy_job *job = arg;
	char what[600];

	if (token != NULL) {
		job_send(job);
		return;
	}
	if (status == 0 || status >= 500 || status == 429) {
		job_again(job, 0, error ? error : "no token");
		return;
	}
	snprintf(what, sizeof(what), "token refused (HTTP %ld): %s", status, error ? error : "-");
	if (!job->reading)
		sw_store_remedy_written(job->rm->t->daemon->store, job->id, daemon_now(), 401, what);
	job_complete(job, NULL, SW_REMEDY_FAILED, job->reading ? what : NULL);
}

/* Send the job's current step. */
static void job_send(struct remedy_job *job)
{
	struct remedy *rm = job->rm;
	struct auth *a = job_auth(job);
	const char *resource = rm->t->cfg->exchange_url;
	const char *token = auth_cached(a, resource);
	char authz[4096], *body = NULL;
	int r;

	if (token == NULL) {
		r = auth_fetch(a, resource, job_token_cb, job);
		if (r < 0)
			job_complete(job, NULL, SW_REMEDY_FAILED, "cannot request a token");
		return;
	}
	if (job->reading) {
		json_t *b = job->tenant_switch
		                    ? json_pack("{s:{s:s,s:{}}}", "CmdletInput", "CmdletName", "Get-TransportConfig", "Parameters")
		                    : json_pack("{s:{s:s,s:{s:s}}}", "CmdletInput", "CmdletName", "Get-CASMailbox",
		                                "Parameters", "Identity", job->target);
		body = b ? json_dumps(b, JSON_COMPACT) : NULL;
		json_decref(b);
	} else {
		body = job->body ? strdup(job->body) : NULL;
	}
	if (body == NULL) {
		job_complete(job, NULL, SW_REMEDY_FAILED, "out of memory");
		return;
	}
	snprintf(authz, sizeof(authz), "Authorization: Bearer %s", token);
	const char *headers[] = {authz, "Accept: application/json", "Content-Type: application/json", rm->anchor, NULL};
	struct http_request req = {
		.method = "POST",
		.url = rm->url,
		.headers = headers,
		.body = body,
		.body_len = strlen(body),
		.timeout_ms = 120000,
		.cb = job_http_cb,
		.arg = job,
	};
	r = http_submit(rm->t->daemon->http, &req);
	explicit_bzero(authz, sizeof(authz));
	free(body);
	if (r < 0)
		job_complete(job, NULL, SW_REMEDY_FAILED, "cannot send the request");
}

/* A job for action id. */
static struct remedy_job *job_new(struct remedy *rm, int64_t id, const char *alert_id, const char *target,
                                  bool tenant_switch)
{
	struct remedy_job *job = calloc(1, sizeof(*job));

	if (job == NULL)
		return NULL;
	job->rm = rm;
	job->id = id;
	snprintf(job->alert_id, sizeof(job->alert_id), "%s", alert_id);
	snprintf(job->target, sizeof(job->target), "%s", target);
	job->tenant_switch = tenant_switch;
	job->next = rm->jobs;
	rm->jobs = job;
	return job;
}

/* See remedy.h. */
int remedy_start(struct tenant *t, const struct sw_remedy_cmd *cmd, const char *alert_id, const char *rule,
                 const char *who, int64_t uid, int64_t *ret_id, char *why, size_t n)
{
	struct remedy *rm = remedy_get(t);
	struct sw_store *s = t->daemon->store;
	json_t *params = sw_remedy_cmd_params(cmd), *body = sw_remedy_cmd_body(cmd);
	char *ptext = params ? json_dumps(params, JSON_COMPACT) : NULL;
	struct remedy_job *job = NULL;
	int64_t id = 0;
	int r = -ENOMEM;

	if (rm == NULL || ptext == NULL || body == NULL) {
		snprintf(why, n, "out of memory");
		goto out;
	}
	struct sw_remedy_action a = {
		.tenant = (char *)t->cfg->name,
		.alert_id = (char *)alert_id,
		.rule = (char *)rule,
		.target = (char *)cmd->target,
		.cmdlet = (char *)cmd->cmdlet,
		.parameters = ptext,
		.command = (char *)cmd->command,
		.requested_by = (char *)who,
		.uid = uid,
		.requested_at = daemon_now(),
	};
	/* Committed before the write is sent: see the top of the file. */
	r = sw_store_begin(s);
	if (r >= 0)
		r = sw_store_remedy_add(s, &a, &id);
	if (r >= 0)
		r = sw_store_commit(s);
	if (r < 0) {
		sw_store_rollback(s);
		snprintf(why, n, "cannot record the action: %s", sw_store_errmsg(s));
		goto out;
	}
	job = job_new(rm, id, alert_id, cmd->target, cmd->tenant_switch);
	if (job == NULL || (job->body = json_dumps(body, JSON_COMPACT)) == NULL) {
		if (job != NULL)
			job_free(job);
		sw_store_remedy_complete(s, id, daemon_now(), NULL, SW_REMEDY_FAILED, "out of memory");
		snprintf(why, n, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	log_info("tenant %s: remediation %lld: %s (alert %s, asked by %s%s)", t->cfg->name, (long long)id,
	           cmd->command, alert_id, who, uid >= 0 ? "" : ", auto mode");
	job_send(job);
	*ret_id = id;
	r = 0;
out:
	free(ptext);
	json_decref(params);
	json_decref(body);
	return r;
}

/* A pending action left by a stopped daemon: read it back. */
static int resume_cb(const struct sw_remedy_action *a, void *arg)
{
	struct remedy *rm = remedy_get(arg);
	struct remedy_job *job;

	if (rm == NULL)
		return -ENOMEM;
	for (job = rm->jobs; job != NULL; job = job->next)
		if (job->id == a->id)
			return 0; /* in flight (a reload keeps nothing, but be sure) */
	job = job_new(rm, a->id, a->alert_id, a->target, strcmp(a->cmdlet, "Set-TransportConfig") == 0);
	if (job == NULL)
		return -ENOMEM;
	job->reading = true;
	job->resumed = a->written_at == 0;
	log_info("tenant %s: remediation %lld (%s) was left pending by a stopped daemon: reading %s back",
	           rm->t->cfg->name, (long long)a->id, a->command, a->target);
	return 0;
}

/* See remedy.h. */
void remedy_resume(struct tenant *t)
{
	struct remedy *rm;
	struct remedy_job *job;

	/* Even with remediation turned off since: the read-back only
	 * completes the record of what was asked while it was on.  The
	 * runtime is made for the first pending action: a tenant with none
	 * (nearly all) costs none. */
	if (sw_store_remedy_list(t->daemon->store, t->cfg->name, NULL, true, resume_cb, t) < 0)
		log_warn("tenant %s: cannot read the pending remediations: %s", t->cfg->name,
		         sw_store_errmsg(t->daemon->store));
	rm = t->remedy;
	if (rm == NULL)
		return;
	for (job = rm->jobs; job != NULL; job = job->next)
		if (job->reading && job->body == NULL && job->tries == 0 && job->retry == NULL)
			job_send(job);
}

struct auto_alert {
	char id[24];
	char *rule, *subject;
	int64_t first_seen;
};
struct auto_list {
	struct auto_alert *items;
	size_t n;
};

/* Collect a firing alert for auto mode. */
static int auto_collect_cb(const struct sw_alert *a, void *arg)
{
	struct auto_list *l = arg;
	struct auto_alert *it = realloc(l->items, (l->n + 1) * sizeof(*it));

	if (it == NULL)
		return -ENOMEM;
	l->items = it;
	it = &it[l->n];
	memset(it, 0, sizeof(*it));
	snprintf(it->id, sizeof(it->id), "%s", a->id);
	it->rule = strdup(a->rule);
	it->subject = strdup(a->subject);
	it->first_seen = a->first_seen;
	l->n++;
	return it->rule && it->subject ? 0 : -ENOMEM;
}

struct acted_ctx {
	int64_t since_failed;
	bool acted;
};

/* An action for the alert that counts: pending, done, or failed recently. */
static int acted_cb(const struct sw_remedy_action *a, void *arg)
{
	struct acted_ctx *c = arg;

	if (strcmp(a->outcome, SW_REMEDY_FAILED) != 0 || a->requested_at >= c->since_failed)
		c->acted = true;
	return 0;
}

/* See remedy.h. */
void remedy_auto(struct tenant *t)
{
	const struct sw_tenant_config *tc = t->cfg;
	struct daemon *d = t->daemon;
	struct auto_list list = {0};
	struct sw_checkpoint cp;
	int64_t now = daemon_now(), hour = 0;
	bool paused_logged = false;

	if (tc->remediation != SW_REMEDIATION_AUTO)
		return;
	for (size_t i = 0; tc->remediate_rules != NULL && tc->remediate_rules[i] != NULL; i++)
		if (sw_store_alerts_firing(d->store, tc->remediate_rules[i], tc->name, auto_collect_cb, &list) < 0)
			log_warn("tenant %s: auto remediation: cannot list the alerts of %s: %s", tc->name,
			         tc->remediate_rules[i], sw_store_errmsg(d->store));
	sw_store_checkpoint_get(d->store, tc->name, "exchange", &cp);
	sw_store_remedy_count(d->store, tc->name, "auto", now - 3600, &hour);
	for (size_t i = 0; i < list.n; i++) {
		struct auto_alert *al = &list.items[i];
		struct acted_ctx acted = {now - 3600, false};
		char why[512];
		struct sw_remedy_guard g = {
			.mode = tc->remediation,
			.rules = (const char *const *)tc->remediate_rules,
			.rule = al->rule,
			.registered = sw_remedy_register_check(t->reg, al->subject, now, why, sizeof(why)) < 0,
			.actions_last_hour = hour,
			.max_per_hour = tc->remediation_max_per_hour,
			.snapshot_at = cp.watermark,
			.snapshot_failing = cp.last_error[0] != '\0' || poller_running(t->exchange),
			.stale_after = d->cfg->rules.stale_after,
			.now = now,
		};
		sw_store_remedy_list(d->store, tc->name, al->id, false, acted_cb, &acted);
		g.acted = acted.acted;
		int r = sw_remedy_guard_check(&g, why, sizeof(why));
		if (r == -EAGAIN) {
			if (!paused_logged)
				log_info("tenant %s: auto remediation of %s (%s) waits: %s", tc->name, al->id, al->subject,
				         why);
			paused_logged = true;
			continue;
		}
		if (r < 0) {
			log_debug("tenant %s: auto remediation skips %s (%s): %s", tc->name, al->id, al->subject, why);
			continue;
		}
		struct sw_alert view = {.status = SW_ALERT_FIRING, .rule = al->rule, .subject = al->subject};
		struct sw_remedy_cmd cmd;
		int64_t id;
		snprintf(view.id, sizeof(view.id), "%s", al->id);
		if (sw_remedy_cmd_for(&view, false, &cmd, why, sizeof(why)) < 0 ||
		    remedy_start(t, &cmd, al->id, al->rule, "auto", -1, &id, why, sizeof(why)) < 0) {
			log_warn("tenant %s: auto remediation of %s: %s", tc->name, al->id, why);
			continue;
		}
		hour++;
	}
	for (size_t i = 0; i < list.n; i++) {
		free(list.items[i].rule);
		free(list.items[i].subject);
	}
	free(list.items);
}

struct health_ctx {
	bool found;
	bool denied;
	char error[512];
};

/* The newest completed action says whether writes are refused. */
static int health_cb(const struct sw_remedy_action *a, void *arg)
{
	struct health_ctx *c = arg;

	if (strcmp(a->outcome, SW_REMEDY_PENDING) == 0)
		return 0;
	c->found = true;
	c->denied = strcmp(a->outcome, SW_REMEDY_FAILED) == 0 && (a->http_status == 401 || a->http_status == 403);
	if (c->denied)
		snprintf(c->error, sizeof(c->error), "%s refused: %s", a->command, a->answer ? a->answer : "access denied");
	return -ECANCELED; /* the newest is enough */
}

/* See remedy.h. */
void remedy_health(struct tenant *t, struct sw_source_health *h)
{
	struct health_ctx c = {false, false, ""};
	struct remedy *rm;

	memset(h, 0, sizeof(*h));
	h->source = "remediation";
	h->hint = REMEDY_HINT;
	sw_store_remedy_list(t->daemon->store, t->cfg->name, NULL, false, health_cb, &c);
	if (!c.denied)
		return;
	/* The text outlives this call in the tenant's runtime, made only
	 * for a tenant whose writes were refused. */
	rm = remedy_get(t);
	if (rm == NULL)
		return;
	snprintf(rm->health_error, sizeof(rm->health_error), "%s", c.error);
	h->denied = true;
	h->last_error = rm->health_error;
}

struct status_ctx {
	int64_t day_ago;
	json_int_t pending, done_24h, failed_24h;
	json_t *last; /* the newest action */
};

/* Counts of the last day and the newest action, newest first. */
static int status_cb(const struct sw_remedy_action *a, void *arg)
{
	struct status_ctx *c = arg;

	if (c->last == NULL)
		c->last = sw_remedy_action_json(a);
	if (strcmp(a->outcome, SW_REMEDY_PENDING) == 0)
		c->pending++;
	if (a->requested_at < c->day_ago)
		return -ECANCELED; /* older ones are in `smtpwatchctl remediation` */
	if (strcmp(a->outcome, SW_REMEDY_DONE) == 0)
		c->done_24h++;
	else if (strcmp(a->outcome, SW_REMEDY_FAILED) == 0)
		c->failed_24h++;
	return 0;
}

/* See remedy.h. */
json_t *remedy_status(struct tenant *t, int64_t now)
{
	const struct sw_tenant_config *tc = t->cfg;
	struct sw_store *s = t->daemon->store;
	struct status_ctx c = {now - 86400, 0, 0, 0, NULL};
	struct sw_source_health h;
	int64_t hour = 0;
	char creds[400];
	size_t jobs = 0;

	if (tc->remediation == SW_REMEDIATION_OFF)
		return NULL;
	remedy_credentials(t, creds, sizeof(creds));
	sw_store_remedy_list(s, tc->name, NULL, false, status_cb, &c);
	sw_store_remedy_count(s, tc->name, "auto", now - 3600, &hour);
	remedy_health(t, &h);
	for (const struct remedy_job *j = t->remedy ? t->remedy->jobs : NULL; j != NULL; j = j->next)
		jobs++;
	json_t *rules = json_array();
	for (size_t i = 0; tc->remediation == SW_REMEDIATION_AUTO && tc->remediate_rules != NULL &&
	                   tc->remediate_rules[i] != NULL; i++)
		json_array_append_new(rules, json_string(tc->remediate_rules[i]));
	return json_pack("{s:s,s:s,s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:b,s:s?,s:o*}", "mode",
	                 sw_remediation_mode_name(tc->remediation), "credentials", creds, "rules", rules,
	                 "max_per_hour", (json_int_t)tc->remediation_max_per_hour, "auto_last_hour", (json_int_t)hour,
	                 "in_flight", (json_int_t)jobs, "pending", c.pending, "done_24h", c.done_24h, "failed_24h",
	                 c.failed_24h, "refused", h.denied, "why", h.denied ? h.last_error : NULL, "last", c.last);
}

/* See remedy.h. */
void remedy_tenant_free(struct tenant *t)
{
	struct remedy *rm = t->remedy;

	if (rm == NULL)
		return;
	while (rm->jobs != NULL)
		job_free(rm->jobs);
	auth_free(rm->wauth);
	free(rm->url);
	free(rm->anchor);
	free(rm);
	t->remedy = NULL;
}
