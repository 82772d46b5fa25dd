/* source_policies.c: the Entra layers that decide whether legacy SMTP AUTH
 * can sign in (Graph, on the config interval): the conditional access
 * policies (paged), the security defaults policy, and the transitive user
 * members of the groups those policies include or exclude, and only those
 * (each paged: a group of 100,000 members is stored page by page, never
 * held whole).
 *
 * The reads need separate permissions: Policy.Read.All (policies, security
 * defaults) and GroupMember.Read.All (members).  A 403 on one of them
 * makes that layer unknown and the run goes on with the others; the run
 * then ends refused, naming the permission, so source-unhealthy says what
 * to grant, while the verdicts use what was read and say "unknown" for
 * the rest.  Everything of one run is one snapshot; the stored state
 * changes only when the run has read every layer it could.
 *
 * Then, for the mailboxes that matter (their own override on, or in the
 * register; at most POL_WHATIF_MAX a run), Microsoft's What If evaluation
 * (POST /identity/conditionalAccess/evaluate, Policy.Read.ConditionalAccess,
 * which Policy.Read.All includes) of a legacy client ("other") signing in
 * to Exchange Online: its answers decide where they exist, and the local
 * evaluator decides the rest.  A What If that is refused or rejects the
 * request is logged and leaves the local evaluator to decide: it is not a
 * layer, so the run does not fail for it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capolicy.h"
#include "log.h"
#include "poller.h"
#include "smtpwatchd.h"
#include "register.h"
#include "store_capolicy.h"
#include "store_exo.h"

/* Graph documents at most 195 conditional access policies per tenant. */
#define POL_MAX_POLICIES 10000
/* What If evaluations per run (one request each, paced with the rest). */
#define POL_WHATIF_MAX 200

enum pol_step {
	POL_CA,
	POL_SECDEFAULTS,
	POL_GROUPS,
	POL_WHATIF,
};

struct pol_run {
	enum pol_step step;
	int64_t snapshot;
	char *base;       /* graph_url ending in "/" */
	json_t *policies; /* the policy objects read */
	bool ca_known;
	int secdefaults;
	json_t *groups; /* the group ids the policies name */
	size_t group;   /* index in groups of the one in hand */
	int64_t records;
	json_t *users;  /* What If: the user ids to evaluate */
	size_t user;    /* index in users of the one in hand */
	int64_t whatif; /* answers stored */
	char denied[400]; /* what was refused, for the run's error */
	char perms[80];   /* the permissions missing */
};

static const char *pol_resource(const struct tenant *t)
{
	return t->cfg->graph_url;
}

static int64_t pol_interval(const struct tenant *t)
{
	return t->cfg->config_interval;
}

/* GET base + path. */
static int pol_get(struct poller *p, struct pol_run *run, const char *path)
{
	char *url = NULL;
	int r;

	if (asprintf(&url, "%s%s", run->base, path) < 0)
		return -ENOMEM;
	r = poller_request(p, "GET", url, NULL, NULL);
	free(url);
	return r;
}

/* The request for the members of the group in hand. */
static int pol_get_group(struct poller *p, struct pol_run *run)
{
	char path[300];

	snprintf(path, sizeof(path), "v1.0/groups/%s/transitiveMembers/microsoft.graph.user?$select=id&$top=999",
	         json_string_value(json_array_get(run->groups, run->group)));
	return pol_get(p, run, path);
}

static int pol_begin(struct poller *p, char *why, size_t n)
{
	struct tenant *t = poller_tenant(p);
	const char *g = t->cfg->graph_url;
	struct pol_run *run = calloc(1, sizeof(*run));
	int r = -ENOMEM;

	if (run == NULL)
		goto out;
	poller_set_priv(p, run);
	run->snapshot = daemon_now();
	run->ca_known = true;
	run->secdefaults = SW_UNKNOWN;
	run->policies = json_array();
	if (run->policies == NULL || asprintf(&run->base, "%s%s", g, g[strlen(g) - 1] == '/' ? "" : "/") < 0) {
		run->base = NULL;
		goto out;
	}
	run->step = POL_CA;
	r = pol_get(p, run, "v1.0/identity/conditionalAccess/policies");
out:
	if (r < 0)
		snprintf(why, n, "cannot build the request: %s", strerror(-r));
	return r;
}

/* Note a refused layer and the permission it needs. */
static void pol_note_denied(struct pol_run *run, const char *layer, long status, const char *error, const char *perm)
{
	size_t off = strlen(run->denied);

	snprintf(run->denied + off, sizeof(run->denied) - off, "%s%s: HTTP %ld %s", off ? "; " : "", layer, status,
	         error);
	if (strstr(run->perms, perm) == NULL) {
		off = strlen(run->perms);
		snprintf(run->perms + off, sizeof(run->perms) - off, "%s%s", off ? " and " : "", perm);
	}
}

/* Store the snapshot; -EACCES (why set) when a layer was refused. */
static int pol_finish(struct poller *p, struct pol_run *run, enum poller_next *ret, char *why, size_t n)
{
	struct tenant *t = poller_tenant(p);
	struct sw_store *s = t->daemon->store;
	struct sw_checkpoint cp;
	char error[300] = "";
	int r;

	if (run->denied[0] != '\0')
		snprintf(error, sizeof(error), "refused (needs %.60s): %.200s", run->perms, run->denied);
	r = sw_store_begin(s);
	if (r >= 0)
		r = sw_store_policy_state_put(s, t->cfg->name, run->snapshot, run->ca_known,
		                              run->ca_known ? run->policies : NULL, run->secdefaults, error);
	if (r >= 0)
		r = sw_store_groups_sweep(s, t->cfg->name, run->snapshot);
	/* Answers of this run stay; older ones would speak of old policies. */
	if (r >= 0)
		r = sw_store_whatif_sweep(s, t->cfg->name, run->snapshot);
	if (r >= 0) {
		sw_store_checkpoint_get(s, t->cfg->name, "policies", &cp);
		cp.watermark = run->snapshot;
		cp.records = run->records; /* the size of this read: policies and members */
		r = sw_store_checkpoint_put(s, t->cfg->name, "policies", &cp);
	}
	if (r >= 0)
		r = sw_store_commit(s);
	if (r < 0) {
		sw_store_rollback(s);
		snprintf(why, n, "cannot store the policies: %s", sw_store_errmsg(s));
		return r;
	}
	poller_add_records(p, run->records);
	*ret = POLLER_DONE;
	if (run->denied[0] == '\0')
		return 0;
	snprintf(why, n, "%s; the app needs the %s application permission%s (admin consent); the verdicts say "
	         "unknown for %s", run->denied, run->perms, strchr(run->perms, ' ') ? "s" : "",
	         !run->ca_known ? "conditional access" : run->secdefaults == SW_UNKNOWN ? "security defaults"
	                                                                                : "the groups not read");
	return -EACCES;
}

static int pol_after_groups(struct poller *p, struct pol_run *run, enum poller_next *ret, char *why, size_t n);

/* After security defaults: the groups the policies name, then the end. */
static int pol_after_secdefaults(struct poller *p, struct pol_run *run, enum poller_next *ret, char *why, size_t n)
{
	struct sw_ca_policies ps = {0};
	size_t i;
	json_t *v;

	json_array_foreach(run->policies, i, v)
		sw_ca_policies_add(&ps, v);
	run->groups = sw_ca_policies_groups(&ps);
	sw_ca_policies_clear(&ps);
	if (run->groups == NULL) {
		snprintf(why, n, "out of memory");
		return -ENOMEM;
	}
	if (json_array_size(run->groups) == 0)
		return pol_after_groups(p, run, ret, why, n);
	run->step = POL_GROUPS;
	run->group = 0;
	*ret = POLLER_MORE;
	return pol_get_group(p, run);
}

/* The group in hand is read (complete) or not: store that, go on. */
static int pol_group_done(struct poller *p, struct pol_run *run, bool complete, enum poller_next *ret, char *why,
                          size_t n)
{
	struct tenant *t = poller_tenant(p);
	struct sw_store *s = t->daemon->store;
	int r = sw_store_begin(s);

	if (r >= 0)
		r = sw_store_group_done(s, t->cfg->name, json_string_value(json_array_get(run->groups, run->group)),
		                        complete, run->snapshot);
	if (r >= 0)
		r = sw_store_commit(s);
	if (r < 0) {
		sw_store_rollback(s);
		snprintf(why, n, "cannot store the group members: %s", sw_store_errmsg(s));
		return r;
	}
	if (++run->group < json_array_size(run->groups)) {
		*ret = POLLER_MORE;
		return pol_get_group(p, run);
	}
	return pol_after_groups(p, run, ret, why, n);
}

/* The What If request for the user in hand. */
static int pol_post_whatif(struct poller *p, struct pol_run *run)
{
	char *url = NULL, *body = sw_whatif_body(json_string_value(json_array_get(run->users, run->user)));
	int r = -ENOMEM;

	if (body != NULL && asprintf(&url, "%sv1.0/identity/conditionalAccess/evaluate", run->base) >= 0) {
		r = poller_request(p, "POST", url, body, NULL);
		free(url);
	}
	free(body);
	return r;
}

/* Add the object id of a mailbox of the snapshot, once. */
static int whatif_user_add(struct pol_run *run, const char *object_id)
{
	size_t i;
	json_t *v;
	char *low;

	if (object_id == NULL || *object_id == '\0' || json_array_size(run->users) >= POL_WHATIF_MAX)
		return 0;
	low = sw_strdup_lower(object_id);
	if (low == NULL)
		return -ENOMEM;
	json_array_foreach(run->users, i, v) {
		if (strcmp(json_string_value(v), low) == 0) {
			free(low);
			return 0;
		}
	}
	json_array_append_new(run->users, json_string(low));
	free(low);
	return 0;
}

static int whatif_mailbox_cb(const struct sw_mailbox_row *m, void *arg)
{
	return whatif_user_add(arg, m->object_id);
}

/* After the groups: What If for the mailboxes that matter, then the end. */
static int pol_after_groups(struct poller *p, struct pol_run *run, enum poller_next *ret, char *why, size_t n)
{
	struct tenant *t = poller_tenant(p);
	struct sw_store *s = t->daemon->store;
	struct sw_ca_policies ps = {0};
	bool blocks = false;
	size_t i;
	json_t *v;
	int r = 0;

	json_array_foreach(run->policies, i, v)
		sw_ca_policies_add(&ps, v);
	for (i = 0; i < ps.n; i++)
		blocks = blocks || (ps.v[i].block && ps.v[i].state != SW_CA_DISABLED);
	sw_ca_policies_clear(&ps);
	run->users = json_array();
	if (run->users == NULL)
		return -ENOMEM;
	if (run->ca_known && blocks) {
		r = sw_store_mailboxes_enabled(s, t->cfg->name, whatif_mailbox_cb, run);
		for (size_t k = 0; r >= 0 && t->reg != NULL && k < t->reg->n; k++) {
			struct sw_mailbox_row m;
			if (sw_store_mailbox_get(s, t->cfg->name, t->reg->entries[k].mailbox, &m) == 0 && !m.removed)
				r = whatif_user_add(run, m.object_id);
		}
	}
	if (r < 0) {
		snprintf(why, n, "cannot read the mailboxes for What If: %s", sw_store_errmsg(s));
		return r;
	}
	if (json_array_size(run->users) == 0)
		return pol_finish(p, run, ret, why, n);
	run->step = POL_WHATIF;
	run->user = 0;
	*ret = POLLER_MORE;
	return pol_post_whatif(p, run);
}

struct whatif_store {
	struct sw_store *s;
	const char *tenant, *user;
	int64_t snapshot, stored;
};

static int whatif_store_cb(const char *policy_id, bool applies, const char *reasons, void *arg)
{
	struct whatif_store *w = arg;
	int r = sw_store_whatif_put(w->s, w->tenant, w->user, policy_id, applies, reasons, w->snapshot);

	w->stored += r >= 0;
	return r;
}

/* Next user, or the end. */
static int pol_whatif_next(struct poller *p, struct pol_run *run, enum poller_next *ret, char *why, size_t n)
{
	if (++run->user < json_array_size(run->users)) {
		*ret = POLLER_MORE;
		return pol_post_whatif(p, run);
	}
	log_info("tenant %s: policies: What If evaluated %zu mailbox%s (%lld answers)", poller_tenant(p)->cfg->name,
	         json_array_size(run->users), json_array_size(run->users) == 1 ? "" : "es", (long long)run->whatif);
	return pol_finish(p, run, ret, why, n);
}

/* One What If answer. */
static int pol_whatif_page(struct poller *p, struct pol_run *run, const char *body, size_t len,
                           enum poller_next *ret, char *why, size_t n)
{
	struct tenant *t = poller_tenant(p);
	struct sw_store *s = t->daemon->store;
	struct sw_error err = {0};
	struct whatif_store w = {s, t->cfg->name, json_string_value(json_array_get(run->users, run->user)),
	                         run->snapshot, 0};
	int r = sw_store_begin(s);

	if (r >= 0) {
		r = sw_whatif_parse(body, len, whatif_store_cb, &w, &err);
		if (r == -EINVAL) {
			sw_store_rollback(s);
			snprintf(why, n, "malformed What If answer (%zu bytes): %s", len, err.text);
			return -EAGAIN;
		}
	}
	if (r >= 0)
		r = sw_store_commit(s);
	if (r < 0) {
		sw_store_rollback(s);
		snprintf(why, n, "cannot store the What If answer: %s", sw_store_errmsg(s));
		return r;
	}
	run->whatif += w.stored;
	return pol_whatif_next(p, run, ret, why, n);
}

/* What If said no (403: Policy.Read.ConditionalAccess missing; 400: it
 * takes no such request): the local evaluator decides, for every user. */
static int pol_whatif_off(struct poller *p, struct pol_run *run, long status, const char *error,
                          enum poller_next *ret, char *why, size_t n)
{
	log_warn("tenant %s: policies: What If answered HTTP %ld (%s): conditional access is evaluated by smtpwatch "
	         "from the policies it read%s", poller_tenant(p)->cfg->name, status, error,
	         status == 403 ? " (What If needs Policy.Read.ConditionalAccess or Policy.Read.All)" : "");
	run->user = json_array_size(run->users);
	return pol_finish(p, run, ret, why, n);
}

/* Answers other than 200 and 403/404 (see refused): a 400 of What If. */
static int pol_answer(struct poller *p, long status, const char *body, size_t len, enum poller_next *ret, char *why,
                      size_t n)
{
	struct pol_run *run = poller_priv(p);
	char error[300];

	if (run->step != POL_WHATIF || status != 400)
		return 0;
	sw_exo_error_text(body, len, error, sizeof(error));
	int r = pol_whatif_off(p, run, status, error, ret, why, n);
	return r < 0 ? r : 1;
}

/* A page of conditional access policies. */
static int pol_ca_page(struct poller *p, struct pol_run *run, const char *body, size_t len, enum poller_next *ret,
                       char *why, size_t n)
{
	json_error_t je;
	json_auto_t *root = json_loadb(body, len, 0, &je);
	json_t *value = json_object_get(root, "value"), *v;
	const char *next = json_string_value(json_object_get(root, "@odata.nextLink"));
	size_t i, skipped = 0;

	if (!json_is_array(value)) {
		snprintf(why, n, "malformed conditional access answer (%zu bytes): %s", len,
		         root ? "no \"value\" array" : je.text);
		return -EAGAIN;
	}
	json_array_foreach(value, i, v) {
		struct sw_ca_policy pol;
		if (sw_ca_policy_parse(v, &pol) < 0) {
			skipped++;
			continue;
		}
		sw_ca_policy_clear(&pol);
		json_array_append(run->policies, v);
		run->records++;
	}
	if (skipped > 0) {
		log_warn("tenant %s: policies: skipped %zu conditional access polic%s without an id", poller_tenant(p)->cfg->name,
		         skipped, skipped == 1 ? "y" : "ies");
		poller_add_skipped(p, (int64_t)skipped);
	}
	if (json_array_size(run->policies) > POL_MAX_POLICIES) {
		snprintf(why, n, "more than %d conditional access policies: refusing the answer", POL_MAX_POLICIES);
		return -E2BIG;
	}
	*ret = POLLER_MORE;
	if (next != NULL && *next != '\0')
		return poller_request(p, "GET", next, NULL, NULL);
	run->step = POL_SECDEFAULTS;
	return pol_get(p, run, "v1.0/policies/identitySecurityDefaultsEnforcementPolicy");
}

/* A page of group members: stored at once, in its own transaction. */
static int pol_members_page(struct poller *p, struct pol_run *run, const char *body, size_t len,
                            enum poller_next *ret, char *why, size_t n)
{
	struct tenant *t = poller_tenant(p);
	struct sw_store *s = t->daemon->store;
	struct sw_error err = {0};
	json_t *ids = NULL;
	char *next = NULL;
	int r = sw_group_members_parse(body, len, &ids, &next, &err);

	if (r < 0) {
		snprintf(why, n, "malformed group members answer (%zu bytes): %s", len, err.text);
		return r == -EINVAL ? -EAGAIN : r;
	}
	r = sw_store_begin(s);
	if (r >= 0)
		r = sw_store_group_members_add(s, t->cfg->name, json_string_value(json_array_get(run->groups, run->group)),
		                               ids, run->snapshot);
	if (r >= 0)
		r = sw_store_commit(s);
	if (r < 0) {
		sw_store_rollback(s);
		snprintf(why, n, "cannot store %zu group members: %s", json_array_size(ids), sw_store_errmsg(s));
	} else {
		run->records += (int64_t)json_array_size(ids);
	}
	json_decref(ids);
	if (r >= 0 && next != NULL) {
		*ret = POLLER_MORE;
		r = poller_request(p, "GET", next, NULL, NULL);
	} else if (r >= 0) {
		r = pol_group_done(p, run, true, ret, why, n);
	}
	free(next);
	return r;
}

static int pol_page(struct poller *p, const char *body, size_t len, enum poller_next *ret, char *why, size_t n)
{
	struct pol_run *run = poller_priv(p);
	struct sw_error err = {0};
	bool on;

	why[0] = '\0';
	switch (run->step) {
	case POL_CA:
		return pol_ca_page(p, run, body, len, ret, why, n);
	case POL_SECDEFAULTS:
		if (sw_secdefaults_parse(body, len, &on, &err) < 0) {
			snprintf(why, n, "malformed security defaults answer (%zu bytes): %s", len, err.text);
			return -EAGAIN;
		}
		run->secdefaults = on ? SW_YES : SW_NO;
		return pol_after_secdefaults(p, run, ret, why, n);
	case POL_GROUPS:
		return pol_members_page(p, run, body, len, ret, why, n);
	case POL_WHATIF:
		return pol_whatif_page(p, run, body, len, ret, why, n);
	}
	return -EINVAL;
}

/* 403 (a permission missing) or 404 (a group gone) of one read. */
static int pol_refused(struct poller *p, long status, const char *error, enum poller_next *ret, char *why, size_t n)
{
	struct pol_run *run = poller_priv(p);
	struct tenant *t = poller_tenant(p);

	switch (run->step) {
	case POL_WHATIF:
		return pol_whatif_off(p, run, status, error, ret, why, n);
	case POL_CA:
		if (status != 403)
			break;
		run->ca_known = false;
		json_array_clear(run->policies);
		pol_note_denied(run, "conditional access policies", status, error, SW_CA_PERMISSION);
		run->step = POL_SECDEFAULTS;
		*ret = POLLER_MORE;
		return pol_get(p, run, "v1.0/policies/identitySecurityDefaultsEnforcementPolicy");
	case POL_SECDEFAULTS:
		if (status != 403)
			break;
		pol_note_denied(run, "security defaults", status, error, SW_CA_PERMISSION);
		return pol_after_secdefaults(p, run, ret, why, n);
	case POL_GROUPS:
		if (status == 404) {
			/* A deleted group a policy still names includes nobody. */
			log_info("tenant %s: policies: group %s no longer exists (%s): it has no members",
			         t->cfg->name, json_string_value(json_array_get(run->groups, run->group)), error);
			return pol_group_done(p, run, true, ret, why, n);
		}
		/* One refusal: every group is unknown, none is guessed. */
		pol_note_denied(run, "group members", status, error, "GroupMember.Read.All");
		struct sw_store *s = t->daemon->store;
		int r = sw_store_begin(s);
		for (size_t i = run->group; r >= 0 && i < json_array_size(run->groups); i++)
			r = sw_store_group_done(s, t->cfg->name, json_string_value(json_array_get(run->groups, i)), false,
			                        run->snapshot);
		if (r >= 0)
			r = sw_store_commit(s);
		if (r < 0) {
			sw_store_rollback(s);
			snprintf(why, n, "cannot store the group members: %s", sw_store_errmsg(s));
			return r;
		}
		return pol_after_groups(p, run, ret, why, n);
	}
	snprintf(why, n, "HTTP %ld %s", status, error);
	return -EIO;
}

static void pol_end(struct poller *p, bool ok)
{
	struct pol_run *run = poller_priv(p);

	if (run != NULL) {
		free(run->base);
		json_decref(run->policies);
		json_decref(run->groups);
		json_decref(run->users);
		free(run);
	}
	poller_set_priv(p, NULL);
}

const struct poller_ops policies_ops = {
	.name = "policies",
	.permission_hint = "the app needs the Policy.Read.All application permission (conditional access, security "
	                   "defaults) and GroupMember.Read.All (members of the groups the policies name), with admin "
	                   "consent",
	.pace_requests = 5,
	.pace_window_ms = 10000,
	.resource = pol_resource,
	.interval = pol_interval,
	.begin = pol_begin,
	.page = pol_page,
	.refused = pol_refused,
	.answer = pol_answer,
	.end = pol_end,
};
