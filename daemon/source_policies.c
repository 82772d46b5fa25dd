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
 * changes only when the run has read every layer it could. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capolicy.h"
#include "log.h"
#include "poller.h"
#include "smtpwatchd.h"
#include "store_capolicy.h"

/* Graph documents at most 195 conditional access policies per tenant. */
#define POL_MAX_POLICIES 10000

enum pol_step {
	POL_CA,
	POL_SECDEFAULTS,
	POL_GROUPS,
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
		return pol_finish(p, run, ret, why, n);
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
	return pol_finish(p, run, ret, why, n);
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
	}
	return -EINVAL;
}

/* 403 (a permission missing) or 404 (a group gone) of one read. */
static int pol_refused(struct poller *p, long status, const char *error, enum poller_next *ret, char *why, size_t n)
{
	struct pol_run *run = poller_priv(p);
	struct tenant *t = poller_tenant(p);

	switch (run->step) {
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
		return pol_finish(p, run, ret, why, n);
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
	.end = pol_end,
};
