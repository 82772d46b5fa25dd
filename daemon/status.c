/* status.c: the tenants of the `status` document, cheap at thousands.
 *
 * A tenant's part of status is a few SQLite reads (its checkpoints, its
 * top failures) and a jansson tree of about 60 values: at 10,000 tenants
 * building, dumping and freeing that held the loop for most of a second
 * per call.  So each tenant keeps its part as compact JSON text and a call
 * copies the texts.  What changes a tenant's part calls status_touch: a
 * run that starts or ends, a first run armed, a detection pass, a report
 * imported.  The touched tenants are made again a slice at a time in the
 * loop's idle turns, soon after (so a call finds them made, whenever it
 * comes), and a call that finds one not made yet makes it itself, in
 * the step of its reply for that tenant (control_status.c).  What
 * changes while a run is under way (pages, records, throttling) is never
 * kept: a tenant with a source running, a detection pass in slices, a
 * report spool or remediation (their status moves with their own timers
 * and files) is made at each call, as before.  The one field that changes
 * with the clock alone, a source's lag_s (now minus its watermark), is
 * left out of the text and written in at each call.  The top failures'
 * window moves by the hour: a call in a new hour serves each text as it
 * is and has it made again in the background (a second or so at 10,000
 * tenants) rather than hold the loop for all of them. */
#include "status.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect_attack.h"
#include "poller.h"
#include "remedy.h"
#include "source_report.h"
#include "util.h"

/* Sources in a tenant's status: signins, exchange, policies, report,
 * audit, usage, trace. */
#define STATUS_SOURCES_MAX 8

/* The loop time one background slice may take. */
#define STATUS_SLICE_US 5000
/* How soon after a touch the background makes it again: the run's own
 * callbacks (detection, deliveries) go first, and touches gather. */
#define STATUS_DELAY_MS 200

struct status_cache {
	unsigned gen;                       /* t->status_gen when it was made */
	int64_t hour;                       /* the top failures' window then */
	struct sw_buf text;                 /* "NAME":{...}, no lag_s */
	size_t n_holes;
	struct {
		size_t at;         /* in text: before the closing brace of a source */
		int64_t watermark; /* lag_s is now minus this */
	} holes[STATUS_SOURCES_MAX];
};

static void status_more_cb(evutil_socket_t fd, short what, void *arg);

/* Arm the background slice in ms. */
static void status_more_arm(struct daemon *d, int64_t ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	if (d->status_more == NULL) {
		d->status_more = evtimer_new(d->base, status_more_cb, d);
		if (d->status_more == NULL)
			return; /* then each call makes what it needs */
		/* As detection slices: after everything that is ready. */
		event_priority_set(d->status_more, PRIO_BACKGROUND);
	}
	if (!evtimer_pending(d->status_more, NULL))
		evtimer_add(d->status_more, &tv);
}

/* See status.h. */
void status_touch(struct tenant *t)
{
	t->status_gen++;
	if (t->daemon->once)
		return; /* no control socket */
	if (!t->status_queued) {
		LIST_INSERT_HEAD(&t->daemon->status_dirty, t, status_link);
		t->status_queued = true;
	}
	status_more_arm(t->daemon, STATUS_DELAY_MS);
}

/* Out of the background's list. */
static void unqueue(struct tenant *t)
{
	if (t->status_queued) {
		LIST_REMOVE(t, status_link);
		t->status_queued = false;
	}
}

/* See status.h. */
void status_tenant_free(struct tenant *t)
{
	unqueue(t);
	if (t->status == NULL)
		return;
	sw_buf_clear(&t->status->text);
	free(t->status);
	t->status = NULL;
}

/* See status.h. */
void status_daemon_free(struct daemon *d)
{
	while (!LIST_EMPTY(&d->status_dirty))
		unqueue(LIST_FIRST(&d->status_dirty));
	if (d->status_more != NULL)
		event_free(d->status_more);
	d->status_more = NULL;
}

/* The start of the top failures' window (what sw_detect_top_failures reads). */
static int64_t failures_hour(int64_t now)
{
	int64_t since = now - 86400;

	return since - since % 3600;
}

/* The tenant's status object, as a jansson tree (SPEC `status`). */
static json_t *tenant_tree(struct tenant *t, int64_t now)
{
	struct daemon *d = t->daemon;
	json_t *tobj = json_pack("{s:s,s:{s:o,s:o,s:o,s:o},s:o*}", "tenant_id", t->cfg->tenant_id, "sources",
	                         "signins", poller_status(t->signins), "exchange", poller_status(t->exchange),
	                         "policies", poller_status(t->policies), "report", report_source_status(t, t->report),
	                         "top_failures", sw_detect_top_failures(d->store, t->cfg->name, now - 86400, 10));
	if (tobj == NULL)
		return NULL;
	json_t *sources = json_object_get(tobj, "sources");
	if (t->audit != NULL)
		json_object_set_new(sources, "audit", poller_status(t->audit));
	if (t->usage != NULL)
		json_object_set_new(sources, "usage", poller_status(t->usage));
	if (t->trace != NULL)
		json_object_set_new(sources, "trace", poller_status(t->trace));
	json_object_set_new(tobj, "can_read", usage_can_read(sources));
	json_t *rem = remedy_status(t, now);
	if (rem != NULL)
		json_object_set_new(tobj, "remediation", rem);
	return tobj;
}

/* Append v as compact JSON. */
static int put_json(struct sw_buf *b, const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	int r = s != NULL ? sw_buf_append(b, s, strlen(s)) : -ENOMEM;

	free(s);
	return r;
}

/* Append a JSON string. */
static int put_string(struct sw_buf *b, const char *s)
{
	json_t *v = json_string(s);
	int r = v != NULL ? put_json(b, v) : -ENOMEM;

	json_decref(v);
	return r;
}

/* Make c's text from the tenant's tree: each source's lag_s taken out
 * and its place kept. */
static int cache_make(struct status_cache *c, struct tenant *t, int64_t now)
{
	json_t *tobj = tenant_tree(t, now), *v, *src;
	const char *key, *name;
	int r;

	c->text.len = 0;
	c->n_holes = 0;
	if (tobj == NULL)
		return -ENOMEM;
	r = put_string(&c->text, t->cfg->name);
	r = r < 0 ? r : sw_buf_append(&c->text, ":{", 2);
	bool first = true;
	json_object_foreach(tobj, key, v) {
		r = r < 0 || first ? r : sw_buf_putc(&c->text, ',');
		first = false;
		r = r < 0 ? r : put_string(&c->text, key);
		r = r < 0 ? r : sw_buf_putc(&c->text, ':');
		if (r < 0 || strcmp(key, "sources") != 0) {
			r = r < 0 ? r : put_json(&c->text, v);
			continue;
		}
		r = sw_buf_putc(&c->text, '{');
		bool first_src = true;
		json_object_foreach(v, name, src) {
			json_t *lag = json_object_get(src, "lag_s");
			r = r < 0 || first_src ? r : sw_buf_putc(&c->text, ',');
			first_src = false;
			r = r < 0 ? r : put_string(&c->text, name);
			r = r < 0 ? r : sw_buf_putc(&c->text, ':');
			if (r < 0 || lag == NULL || c->n_holes == STATUS_SOURCES_MAX) {
				r = r < 0 ? r : put_json(&c->text, src);
				continue;
			}
			int64_t watermark = now - (int64_t)json_integer_value(lag);
			json_object_del(src, "lag_s");
			r = put_json(&c->text, src);
			if (r < 0)
				break;
			/* Before its closing brace; a source object always has
			 * fields, so lag_s follows a comma. */
			c->holes[c->n_holes].at = c->text.len - 1;
			c->holes[c->n_holes++].watermark = watermark;
		}
		r = r < 0 ? r : sw_buf_putc(&c->text, '}');
	}
	r = r < 0 ? r : sw_buf_putc(&c->text, '}');
	json_decref(tobj);
	return r;
}

/* Whether the tenant's status may be kept between calls: nothing in it
 * moves except through status_touch. */
static bool cacheable(const struct tenant *t)
{
	const struct poller *srcs[] = {t->signins, t->exchange, t->policies, t->audit, t->usage, t->trace};

	for (size_t i = 0; i < sizeof(srcs) / sizeof(srcs[0]); i++)
		if (srcs[i] != NULL && poller_running(srcs[i]))
			return false;
	return t->report == NULL && t->cfg->remediation == SW_REMEDIATION_OFF &&
	       (t->detect_more == NULL || !evtimer_pending(t->detect_more, NULL));
}

/* Append c's text to out with each lag_s written in for now. */
static int cache_put(const struct status_cache *c, int64_t now, struct sw_buf *out)
{
	size_t from = 0;
	int r = 0;

	for (size_t i = 0; r >= 0 && i < c->n_holes; i++) {
		r = sw_buf_append(out, c->text.data + from, c->holes[i].at - from);
		r = r < 0 ? r : sw_buf_printf(out, ",\"lag_s\":%lld", (long long)(now - c->holes[i].watermark));
		from = c->holes[i].at;
	}
	return r < 0 ? r : sw_buf_append(out, c->text.data + from, c->text.len - from);
}

/* Make the tenant's text again, and keep it when nothing in it moves on
 * its own: 0 or -ENOMEM. */
static int remake(struct tenant *t, int64_t now)
{
	struct status_cache *c = t->status;
	int r;

	if (c == NULL) {
		c = calloc(1, sizeof(*c));
		if (c == NULL)
			return -ENOMEM;
		t->status = c;
	}
	c->gen = t->status_gen;
	c->hour = failures_hour(now);
	r = cache_make(c, t, now);
	if (r >= 0 && c->text.cap > c->text.len + 1) {
		/* Kept for every tenant: no more than it holds. */
		char *fit = realloc(c->text.data, c->text.len + 1);
		if (fit != NULL) {
			c->text.data = fit;
			c->text.cap = c->text.len + 1;
		}
	}
	return r;
}

/* A slice of the touched tenants, in the loop's idle turns. */
static void status_more_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	int64_t now = daemon_now(), start = daemon_mono_us();
	struct tenant *t;

	while ((t = LIST_FIRST(&d->status_dirty)) != NULL) {
		unqueue(t);
		/* One that is running is touched again when its run ends (and a
		 * unit suite's tenant may lack the usual sources). */
		if (t->signins != NULL && t->exchange != NULL && t->policies != NULL && cacheable(t) && (t->status == NULL || t->status->gen != t->status_gen ||
		                     t->status->hour != failures_hour(now)) && remake(t, now) < 0)
			status_tenant_free(t);
		if (daemon_mono_us() - start >= STATUS_SLICE_US)
			break;
	}
	if (!LIST_EMPTY(&d->status_dirty))
		status_more_arm(d, 0);
	daemon_loop_step(d, "status text", NULL, start);
}

/* See status.h. */
int status_tenant_dump(struct tenant *t, int64_t now, struct sw_buf *out)
{
	struct status_cache *c = t->status;
	int r;

	if (c != NULL && c->gen == t->status_gen && cacheable(t)) {
		if (c->hour != failures_hour(now))
			status_touch(t); /* a new hour: made again in the background */
		return cache_put(c, now, out);
	}
	r = remake(t, now);
	if (r >= 0)
		r = cache_put(t->status, now, out);
	/* Not kept when it may move on its own (or could not be made). */
	if (r < 0 || !cacheable(t))
		status_tenant_free(t);
	return r;
}
