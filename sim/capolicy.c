/* capolicy.c: the Entra side of the simulator that decides whether legacy
 * SMTP AUTH can sign in: conditional access policies, the security
 * defaults policy and the transitive members of groups, as Graph v1.0
 * serves them, with the scenario's changes applied as of the simulator
 * clock, and a 403 when the scenario withholds the permission.
 *
 * Shapes (Microsoft Graph v1.0 reference):
 * - GET /identity/conditionalAccess/policies: a collection of
 *   conditionalAccessPolicy (Policy.Read.All), paged by @odata.nextLink;
 * - GET /policies/identitySecurityDefaultsEnforcementPolicy: one object
 *   with isEnabled (Policy.Read.All);
 * - GET /groups/{id}/transitiveMembers/microsoft.graph.user?$select=id:
 *   the users among the flattened members (GroupMember.Read.All), $top up
 *   to 999, 100 by default.
 * A missing permission answers 403 with Graph's error body: AccessDenied
 * "required scopes are missing in the token" for the policies,
 * Authorization_RequestDenied for directory reads. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sys/queue.h>

#include <event2/keyvalq_struct.h>

#include "sim.h"

#define PERM_POLICY "Policy.Read.All"
#define PERM_MEMBERS "GroupMember.Read.All"

static int errf(char *err, size_t errn, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int errf(char *err, size_t errn, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errn, fmt, ap);
	va_end(ap);
	return -1;
}

/* See sim.h. */
char *ca_user_id(const char *name)
{
	char id[37];

	if (strchr(name, '@') == NULL)
		return sim_xstrdup(name);
	char *lower = sim_strdup_lower(name);
	sim_guid_of("user", lower, id);
	free(lower);
	return sim_xstrdup(id);
}

/* Replace the addresses in the string array at obj[key] by user ids. */
static void map_users(json_t *obj, const char *key)
{
	json_t *arr = json_object_get(obj, key), *v;
	size_t i;

	json_array_foreach(arr, i, v) {
		if (!json_is_string(v))
			continue;
		char *id = ca_user_id(json_string_value(v));
		json_array_set_new(arr, i, json_string(id));
		free(id);
	}
}

/* Fill the fields Graph always sends and check the state; p is changed. */
static int policy_fill(json_t *p, const char *where, char *err, size_t errn)
{
	const char *name = json_string_value(json_object_get(p, "displayName"));
	const char *state = json_string_value(json_object_get(p, "state"));
	char id[37];

	if (name == NULL)
		return errf(err, errn, "%s: a policy needs a displayName", where);
	if (json_object_get(p, "id") == NULL) {
		sim_guid_of("capolicy", name, id);
		json_object_set_new(p, "id", json_string(id));
	}
	if (!json_is_string(json_object_get(p, "id")))
		return errf(err, errn, "%s.id: expected a string", where);
	if (state == NULL)
		json_object_set_new(p, "state", json_string(state = "enabled"));
	if (strcmp(state, "enabled") != 0 && strcmp(state, "disabled") != 0 &&
	    strcmp(state, "enabledForReportingButNotEnforced") != 0)
		return errf(err, errn, "%s.state: expected enabled, disabled or enabledForReportingButNotEnforced", where);
	static const char *const nulls[] = { "templateId", "sessionControls", NULL };
	for (const char *const *k = nulls; *k; k++)
		if (json_object_get(p, *k) == NULL)
			json_object_set_new(p, *k, json_null());
	if (json_object_get(p, "createdDateTime") == NULL)
		json_object_set_new(p, "createdDateTime", json_string("2024-03-01T10:00:00Z"));
	if (json_object_get(p, "modifiedDateTime") == NULL)
		json_object_set_new(p, "modifiedDateTime", json_null());
	json_t *cond = json_object_get(p, "conditions");
	if (cond == NULL)
		json_object_set_new(p, "conditions", cond = json_object());
	if (!json_is_object(cond))
		return errf(err, errn, "%s.conditions: expected an object", where);
	json_t *users = json_object_get(cond, "users");
	if (users == NULL)
		json_object_set_new(cond, "users", users = json_object());
	static const char *const lists[] = { "includeUsers", "excludeUsers", "includeGroups", "excludeGroups",
		"includeRoles", "excludeRoles", NULL };
	for (const char *const *k = lists; *k; k++) {
		if (json_object_get(users, *k) == NULL)
			json_object_set_new(users, *k, json_array());
		if (!json_is_array(json_object_get(users, *k)))
			return errf(err, errn, "%s.conditions.users.%s: expected an array", where, *k);
	}
	map_users(users, "includeUsers");
	map_users(users, "excludeUsers");
	if (json_object_get(cond, "clientAppTypes") == NULL)
		json_object_set_new(cond, "clientAppTypes", json_pack("[s]", "all"));
	if (json_object_get(p, "grantControls") == NULL)
		json_object_set_new(p, "grantControls", json_null());
	return 0;
}

/* See sim.h. */
int ca_scenario_parse(struct sim_tenant *t, json_t *o, const char *where, char *err, size_t errn)
{
	char w[400];
	json_t *v = json_object_get(o, "conditional_access_policies"), *p;
	size_t i;

	t->ca_policies = json_array();
	if (v != NULL && !json_is_array(v))
		return errf(err, errn, "%s.conditional_access_policies: expected an array", where);
	json_array_foreach(v, i, p) {
		snprintf(w, sizeof(w), "%s.conditional_access_policies[%zu]", where, i);
		if (!json_is_object(p))
			return errf(err, errn, "%s: expected an object", w);
		json_t *copy = json_deep_copy(p);
		json_array_append_new(t->ca_policies, copy);
		if (policy_fill(copy, w, err, errn) < 0)
			return -1;
	}
	v = json_object_get(o, "security_defaults");
	if (v != NULL && !json_is_boolean(v))
		return errf(err, errn, "%s.security_defaults: expected true or false", where);
	/* Microsoft turns security defaults on in every tenant created since
	 * October 2019; a tenant that says nothing of its Entra policies is
	 * such a tenant.  Giving policies (or the key) means they are off. */
	t->security_defaults = v != NULL ? json_is_true(v) : json_object_get(o, "conditional_access_policies") == NULL;

	t->groups = json_object();
	v = json_object_get(o, "groups");
	if (v != NULL && !json_is_object(v))
		return errf(err, errn, "%s.groups: expected an object of group id -> {\"members\": [...]}", where);
	const char *gid;
	json_t *g;
	json_object_foreach(v, gid, g) {
		snprintf(w, sizeof(w), "%s.groups.%s", where, gid);
		json_t *members = json_is_array(g) ? g : json_object_get(g, "members");
		json_t *gen = json_is_object(g) ? json_object_get(g, "generated_members") : NULL;
		if (members != NULL && !json_is_array(members))
			return errf(err, errn, "%s.members: expected an array of addresses or ids", w);
		if (gen != NULL && (!json_is_integer(gen) || json_integer_value(gen) < 0 ||
		                    json_integer_value(gen) > t->gen_count))
			return errf(err, errn, "%s.generated_members: expected 0..%ld (generate_mailboxes.count)", w,
			            t->gen_count);
		json_t *ids = json_array(), *m;
		size_t k;
		json_array_foreach(members, k, m) {
			if (!json_is_string(m)) {
				json_decref(ids);
				return errf(err, errn, "%s.members[%zu]: expected a string", w, k);
			}
			char *id = ca_user_id(json_string_value(m));
			char *low = sim_strdup_lower(id);
			json_array_append_new(ids, json_string(low));
			free(low);
			free(id);
		}
		for (json_int_t n = 1; gen != NULL && n <= json_integer_value(gen); n++) {
			char addr[320], id[37];
			snprintf(addr, sizeof(addr), "%s%0*lld@%s", t->gen_prefix, t->gen_width, (long long)n, t->domain);
			sim_guid_of("user", addr, id);
			json_array_append_new(ids, json_string(id));
		}
		char *low = sim_strdup_lower(gid);
		json_object_set_new(t->groups, low, ids);
		free(low);
	}
	v = json_object_get(o, "withhold_permissions");
	t->withheld = json_array();
	if (v != NULL && !json_is_array(v))
		return errf(err, errn, "%s.withhold_permissions: expected an array of permission names", where);
	json_array_foreach(v, i, p) {
		if (!json_is_string(p))
			return errf(err, errn, "%s.withhold_permissions[%zu]: expected a string", where, i);
		json_array_append(t->withheld, p);
	}
	return 0;
}

static bool withheld(const struct sim_tenant *t, const char *perm)
{
	size_t i;
	json_t *v;

	json_array_foreach(t->withheld, i, v) {
		if (strcasecmp(json_string_value(v), perm) == 0)
			return true;
	}
	return false;
}

/* The policies and security defaults as of now: the scenario's changes
 * applied in order. */
static json_t *ca_view(const struct sim_tenant *t, int64_t now, bool *ret_secdefaults)
{
	json_t *arr = json_deep_copy(t->ca_policies);
	bool sd = t->security_defaults;
	char err[300];

	for (size_t i = 0; i < t->n_changes && t->changes[i].at <= now; i++) {
		const struct sim_change *c = &t->changes[i];
		if (c->kind == CHANGE_SECDEFAULTS) {
			sd = json_is_true(c->set);
			continue;
		}
		if (c->kind != CHANGE_CA)
			continue;
		long idx = -1;
		size_t k;
		json_t *p;
		json_array_foreach(arr, k, p) {
			const char *id = json_string_value(json_object_get(p, "id"));
			const char *name = json_string_value(json_object_get(p, "displayName"));
			if ((id && strcasecmp(id, c->name) == 0) || (name && strcmp(name, c->name) == 0)) {
				idx = (long)k;
				break;
			}
		}
		if (c->op == OP_REMOVE) {
			if (idx >= 0)
				json_array_remove(arr, (size_t)idx);
		} else if (idx >= 0) {
			p = json_array_get(arr, (size_t)idx);
			json_object_update_recursive(p, c->set);
			policy_fill(p, "change", err, sizeof(err));
		} else if (c->op == OP_ADD) {
			p = json_deep_copy(c->set);
			if (json_object_get(p, "displayName") == NULL)
				json_object_set_new(p, "displayName", json_string(c->name));
			if (policy_fill(p, "change", err, sizeof(err)) == 0)
				json_array_append(arr, p);
			json_decref(p);
		}
	}
	*ret_secdefaults = sd;
	return arr;
}

/* $skiptoken and $top of the query; false after answering 400. */
static bool page_query(struct sim_req *r, long def_top, long max_top, long *ret_skip, long *ret_top)
{
	const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->req));
	struct evkeyvalq q;
	bool ok = true;

	*ret_skip = 0;
	*ret_top = def_top;
	TAILQ_INIT(&q);
	if (query && evhttp_parse_query_str(query, &q) < 0) {
		sim_graph_error(r, 400, "BadRequest", "Malformed query string.");
		return false;
	}
	for (struct evkeyval *kv = q.tqh_first; kv && ok; kv = kv->next.tqe_next) {
		const char *k = kv->key[0] == '$' ? kv->key + 1 : kv->key;
		char *end = NULL;
		if (strcasecmp(k, "skiptoken") == 0) {
			*ret_skip = strtol(kv->value, &end, 10);
			if (end == kv->value || *end || *ret_skip < 0) {
				sim_graph_error(r, 400, "BadRequest", "Invalid skip token '%s'.", kv->value);
				ok = false;
			}
		} else if (strcasecmp(k, "top") == 0) {
			*ret_top = strtol(kv->value, &end, 10);
			if (end == kv->value || *end || *ret_top < 1 || *ret_top > max_top) {
				sim_graph_error(r, 400, "Request_UnsupportedQuery",
				                "Invalid page size specified: '%s'. Must be between 1 and %ld inclusive.",
				                kv->value, max_top);
				ok = false;
			}
		}
	}
	evhttp_clear_headers(&q);
	return ok;
}

/* The tenant of the request's Graph token; NULL after answering. */
static const struct sim_tenant *graph_tenant(struct sim_req *r)
{
	if (evhttp_request_get_command(r->req) != EVHTTP_REQ_GET) {
		sim_graph_error(r, 405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.");
		return NULL;
	}
	struct sim_token *tok = token_require(r, TOKEN_GRAPH);
	return tok ? tok->tenant : NULL;
}

/* {"@odata.context": ctx, "@odata.nextLink"?: ..., "value": [items from skip, n of them]} */
static void collection_reply(struct sim_req *r, const char *ctx, json_t *items, long skip, long n, long top)
{
	long total = (long)json_array_size(items), end = skip + n;
	struct evbuffer *b = evbuffer_new(), *hostile = evbuffer_new();

	evbuffer_add_printf(b, "{\"@odata.context\":");
	sim_json_str(b, ctx);
	if (fault_next_link(r, hostile)) {
		evbuffer_add(b, ",\"@odata.nextLink\":", 19);
		sim_json_str(b, (const char *)evbuffer_pullup(hostile, -1));
	} else if (end < total) {
		char link[600];
		if (top > 0)
			snprintf(link, sizeof(link), "%s?$select=id&$top=%ld&$skiptoken=%ld", r->base_url, top, end);
		else
			snprintf(link, sizeof(link), "%s?$skiptoken=%ld", r->base_url, end);
		evbuffer_add(b, ",\"@odata.nextLink\":", 19);
		sim_json_str(b, link);
	}
	evbuffer_free(hostile);
	evbuffer_add_printf(b, ",\"value\":[");
	for (long i = skip; i < end && i < total; i++) {
		if (i > skip)
			evbuffer_add(b, ",", 1);
		sim_json_add(b, json_array_get(items, (size_t)i));
	}
	evbuffer_add(b, "]}", 2);
	sim_reply(r, 200, b);
}

static void scopes_missing(struct sim_req *r)
{
	sim_graph_error(r, 403, "AccessDenied",
	                "You cannot perform the requested operation, required scopes are missing in the token.");
}

/* See sim.h. */
void ca_policies_handle(struct sim_req *r)
{
	const struct sim_tenant *t = graph_tenant(r);
	long skip, top;
	bool sd;

	if (t == NULL)
		return;
	if (withheld(t, PERM_POLICY)) {
		scopes_missing(r);
		return;
	}
	if (!page_query(r, r->sim->page_size, 1000, &skip, &top))
		return;
	json_t *arr = ca_view(t, sim_now(r->sim), &sd);
	collection_reply(r, "https://graph.microsoft.com/v1.0/$metadata#identity/conditionalAccess/policies", arr, skip,
	                 top < r->sim->page_size ? top : r->sim->page_size, 0);
	json_decref(arr);
}

/* See sim.h. */
void secdefaults_handle(struct sim_req *r)
{
	const struct sim_tenant *t = graph_tenant(r);
	bool sd;

	if (t == NULL)
		return;
	if (withheld(t, PERM_POLICY)) {
		scopes_missing(r);
		return;
	}
	json_decref(ca_view(t, sim_now(r->sim), &sd));
	sim_reply_json(r, 200,
	               json_pack("{s:s,s:s,s:s,s:s,s:b}", "@odata.context",
	                         "https://graph.microsoft.com/v1.0/$metadata#policies/"
	                         "identitySecurityDefaultsEnforcementPolicy/$entity",
	                         "id", "00000000-0000-0000-0000-000000000005", "displayName", "Security Defaults",
	                         "description",
	                         "Security defaults is a set of basic identity security mechanisms recommended by "
	                         "Microsoft. When enabled, these recommendations will be automatically enforced in your "
	                         "organization. Administrators and users will be better protected from common identity "
	                         "related attacks.",
	                         "isEnabled", sd));
}

/* The users under group, flattened (each once); seen holds the groups met. */
static void flatten(const struct sim_tenant *t, const char *group, json_t *seen, json_t *users, json_t *out)
{
	json_t *members = json_object_get(t->groups, group), *m;
	size_t i;

	json_object_set_new(seen, group, json_true());
	json_array_foreach(members, i, m) {
		const char *id = json_string_value(m);
		if (json_object_get(t->groups, id) != NULL) {
			if (json_object_get(seen, id) == NULL)
				flatten(t, id, seen, users, out);
		} else if (json_object_get(users, id) == NULL) {
			json_object_set_new(users, id, json_true());
			json_array_append_new(out, json_pack("{s:s}", "id", id));
		}
	}
}

/* See sim.h. */
void group_members_handle(struct sim_req *r, const char *group)
{
	const struct sim_tenant *t = graph_tenant(r);
	long skip, top;

	if (t == NULL)
		return;
	if (withheld(t, PERM_MEMBERS)) {
		sim_graph_error(r, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.");
		return;
	}
	char *low = sim_strdup_lower(group);
	if (json_object_get(t->groups, low) == NULL) {
		sim_graph_error(r, 404, "Request_ResourceNotFound",
		                "Resource '%s' does not exist or one of its queried reference-property objects are not "
		                "present.", group);
		free(low);
		return;
	}
	if (!page_query(r, 100, 999, &skip, &top)) {
		free(low);
		return;
	}
	json_t *seen = json_object(), *users = json_object(), *out = json_array();
	flatten(t, low, seen, users, out);
	collection_reply(r, "https://graph.microsoft.com/v1.0/$metadata#users(id)", out, skip,
	                 top < r->sim->page_size ? top : r->sim->page_size, top);
	json_decref(seen);
	json_decref(users);
	json_decref(out);
	free(low);
}

/* Is user (an id) in group, transitively? */
static bool in_group(const struct sim_tenant *t, const char *group, const char *user)
{
	json_t *seen = json_object(), *users = json_object(), *out = json_array();
	char *low = sim_strdup_lower(group);
	bool in = false;

	if (json_object_get(t->groups, low) != NULL) {
		flatten(t, low, seen, users, out);
		in = json_object_get(users, user) != NULL;
	}
	free(low);
	json_decref(seen);
	json_decref(users);
	json_decref(out);
	return in;
}

static bool str_in(const json_t *arr, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v) {
		if (json_is_string(v) && strcasecmp(json_string_value(v), s) == 0)
			return true;
	}
	return false;
}

/* Why policy p does not apply to this sign-in ("notSet" when it does),
 * as Entra's What If says it: the first condition that fails. */
static const char *whatif_reason(const struct sim_tenant *t, const json_t *p, const char *user, const char *client,
                                 const json_t *apps)
{
	const json_t *cond = json_object_get(p, "conditions");
	const json_t *users = json_object_get(cond, "users");
	const json_t *ca = json_object_get(cond, "applications");
	const json_t *types = json_object_get(cond, "clientAppTypes");
	const json_t *loc = json_object_get(cond, "locations");
	size_t i;
	json_t *v;
	bool app = false, incl;

	if (strcmp(json_string_value(json_object_get(p, "state")), "disabled") == 0)
		return "policyNotEnabled";
	if (str_in(json_object_get(users, "excludeUsers"), user))
		return "users";
	json_array_foreach(json_object_get(users, "excludeGroups"), i, v) {
		if (json_is_string(v) && in_group(t, json_string_value(v), user))
			return "users";
	}
	incl = str_in(json_object_get(users, "includeUsers"), "All") || str_in(json_object_get(users, "includeUsers"), user);
	json_array_foreach(json_object_get(users, "includeGroups"), i, v) {
		incl = incl || (json_is_string(v) && in_group(t, json_string_value(v), user));
	}
	if (!incl && json_array_size(json_object_get(users, "includeRoles")) == 0)
		return "users";
	json_array_foreach(apps, i, v) {
		const char *a = json_string_value(v);
		app = app || (a && (str_in(json_object_get(ca, "includeApplications"), "All") ||
		                    str_in(json_object_get(ca, "includeApplications"), "Office365") ||
		                    str_in(json_object_get(ca, "includeApplications"), a)) &&
		                       !str_in(json_object_get(ca, "excludeApplications"), a) &&
		                       !str_in(json_object_get(ca, "excludeApplications"), "Office365"));
	}
	if (!app)
		return "application";
	if (json_array_size(types) > 0 && !str_in(types, "all") && !str_in(types, client))
		return "clientApps";
	/* The request says nothing of roles, location or platform. */
	if (json_array_size(json_object_get(users, "includeRoles")) > 0 ||
	    json_array_size(json_object_get(loc, "includeLocations")) > 0 || json_is_object(json_object_get(cond, "platforms")))
		return "notEnoughInformation";
	return "notSet";
}

/* See sim.h: POST .../identity/conditionalAccess/evaluate. */
void ca_evaluate_handle(struct sim_req *r)
{
	struct sim_token *tok;
	bool sd;

	if (evhttp_request_get_command(r->req) != EVHTTP_REQ_POST) {
		sim_graph_error(r, 405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.");
		return;
	}
	tok = token_require(r, TOKEN_GRAPH);
	if (tok == NULL)
		return;
	const struct sim_tenant *t = tok->tenant;
	if (withheld(t, PERM_POLICY) || withheld(t, "Policy.Read.ConditionalAccess")) {
		scopes_missing(r);
		return;
	}
	size_t n;
	char *body = sim_body(r->req, &n);
	json_t *j = json_loadb(body, n, 0, NULL);
	free(body);
	const char *user = json_string_value(json_object_get(json_object_get(j, "signInIdentity"), "userId"));
	const json_t *apps = json_object_get(json_object_get(j, "signInContext"), "includeApplications");
	const char *client = json_string_value(json_object_get(json_object_get(j, "signInConditions"), "clientAppType"));
	static const char *const clients[] = { "all", "browser", "mobileAppsAndDesktopClients", "exchangeActiveSync",
		"easSupported", "other", NULL };
	bool known = false;
	for (const char *const *c = clients; client && *c; c++)
		known = known || strcmp(client, *c) == 0;
	if (user == NULL || !json_is_array(apps) || !known) {
		sim_graph_error(r, 400, "BadRequest", "Invalid request: signInIdentity.userId, "
		                "signInContext.includeApplications and a signInConditions.clientAppType of "
		                "conditionalAccessClientApp are required.");
		json_decref(j);
		return;
	}
	bool only = json_is_true(json_object_get(j, "appliedPoliciesOnly"));
	char *uid = sim_strdup_lower(user);
	json_t *arr = ca_view(t, sim_now(r->sim), &sd), *out = json_array(), *p;
	size_t i;
	json_array_foreach(arr, i, p) {
		const char *why = whatif_reason(t, p, uid, client, apps);
		bool applies = strcmp(why, "notSet") == 0;
		if (only && !applies)
			continue;
		json_t *res = json_copy(p);
		json_object_set_new(res, "policyApplies", json_boolean(applies));
		json_object_set_new(res, "analysisReasons", json_string(why));
		json_array_append_new(out, res);
	}
	free(uid);
	collection_reply(r, "https://graph.microsoft.com/v1.0/$metadata#Collection(microsoft.graph.whatIfAnalysisResult)",
	                 out, 0, (long)json_array_size(out), 0);
	json_decref(out);
	json_decref(arr);
	json_decref(j);
}
