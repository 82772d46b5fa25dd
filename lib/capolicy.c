/* capolicy.c: conditional access, security defaults and authentication
 * policies, and the verdict of every layer for one mailbox (capolicy.h).
 *
 * What the evaluator models is what decides legacy SMTP AUTH: a policy
 * blocks a Basic client when it is enabled, grants "block", covers
 * "other" clients and Exchange Online, and includes the user without
 * excluding them.  Conditions it cannot see from here (locations,
 * platforms, roles, guests, risk, device filters) make the answer
 * "conditional" with their names, never a guess either way. */
#include "capolicy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct sw_name access_names[] = {
	{ SW_ACCESS_ALLOWED, "allowed" },
	{ SW_ACCESS_BLOCKED, "blocked" },
	{ SW_ACCESS_CONDITIONAL, "conditional" },
	{ SW_ACCESS_UNKNOWN, "unknown" },
	{ 0, NULL },
};
SW_DEFINE_NAME_LOOKUP(sw_access_name, sw_access_parse, enum sw_access, access_names, "unknown")

static const struct sw_name ca_state_names[] = {
	{ SW_CA_DISABLED, "disabled" },
	{ SW_CA_ENABLED, "enabled" },
	{ SW_CA_REPORT_ONLY, "enabledForReportingButNotEnforced" },
	{ 0, NULL },
};
SW_DEFINE_NAME_LOOKUP(sw_ca_state_name, sw_ca_state_parse, enum sw_ca_state, ca_state_names, "disabled")

/* Does the JSON string array hold s (any case)? */
static bool arr_has(const json_t *arr, const char *s)
{
	size_t i;
	const json_t *v;

	json_array_foreach(arr, i, v) {
		if (json_is_string(v) && strcasecmp(json_string_value(v), s) == 0)
			return true;
	}
	return false;
}

/* A non-empty array, or any object: a condition that is set. */
static bool is_set(const json_t *v)
{
	return json_is_object(v) || json_array_size(v) > 0;
}

/* The string array at key as a new array of lower-cased strings (ids
 * compare case-insensitively; Graph sends them lower-case anyway). */
static json_t *strings_at(const json_t *obj, const char *key)
{
	json_t *out = json_array(), *v;
	size_t i;

	if (out == NULL)
		return NULL;
	json_array_foreach(json_object_get(obj, key), i, v) {
		char *low = json_is_string(v) ? sw_strdup_lower(json_string_value(v)) : NULL;
		if (low != NULL)
			json_array_append_new(out, json_string(low));
		free(low);
	}
	return out;
}

/* Append ", name" (or "name") to a note. */
static void note_add(char *buf, size_t n, const char *name)
{
	size_t off = strlen(buf), len = strlen(name);

	if (off > 0 && off + 2 < n) {
		memcpy(buf + off, ", ", 2);
		off += 2;
	}
	if (off + 1 >= n)
		return;
	if (len > n - off - 1)
		len = n - off - 1; /* cut: the note stays a note */
	memcpy(buf + off, name, len);
	buf[off + len] = '\0';
}

/* The array as "a, b, c" into buf. */
static void join(const json_t *arr, char *buf, size_t n)
{
	size_t i;
	const json_t *v;

	buf[0] = '\0';
	json_array_foreach(arr, i, v) {
		if (json_is_string(v))
			note_add(buf, n, json_string_value(v));
	}
}

/* clientAppTypes: Basic SMTP AUTH is an "other" client; OAuth SMTP is a
 * modern ("mobileAppsAndDesktopClients") one.  An empty list is "all". */
static void parse_clients(struct sw_ca_policy *p, const json_t *types)
{
	static const char *const known[] = { "all", "browser", "mobileAppsAndDesktopClients", "exchangeActiveSync",
		                             "easSupported", "easUnsupported", "other" };
	bool unknown = false;
	size_t i;
	const json_t *v;
	char list[120];

	if (json_array_size(types) == 0) {
		p->legacy = p->modern = true;
		return;
	}
	p->legacy = arr_has(types, "other") || arr_has(types, "all");
	p->modern = arr_has(types, "mobileAppsAndDesktopClients") || arr_has(types, "all");
	json_array_foreach(types, i, v) {
		bool k = false;
		for (size_t j = 0; j < sizeof(known) / sizeof(known[0]); j++)
			k = k || (json_is_string(v) && strcasecmp(json_string_value(v), known[j]) == 0);
		unknown = unknown || !k;
	}
	if (p->legacy)
		return;
	join(types, list, sizeof(list));
	/* A value this code does not know might cover legacy clients. */
	if (unknown)
		snprintf(p->unmodelled, sizeof(p->unmodelled), "client app types %s", list);
	else
		snprintf(p->scope_note, sizeof(p->scope_note), "client app types %s, not other", list);
}

/* applications: All, Office365 or Exchange Online, not excluded. */
static void parse_apps(struct sw_ca_policy *p, const json_t *apps)
{
	const json_t *inc = json_object_get(apps, "includeApplications");
	const json_t *exc = json_object_get(apps, "excludeApplications");
	char list[120];

	p->exchange = arr_has(inc, "All") || arr_has(inc, "Office365") || arr_has(inc, SW_CA_APP_EXCHANGE);
	if (p->exchange && (arr_has(exc, "Office365") || arr_has(exc, SW_CA_APP_EXCHANGE))) {
		p->exchange = false;
		if (p->scope_note[0] == '\0')
			snprintf(p->scope_note, sizeof(p->scope_note), "excludes Exchange Online");
	} else if (!p->exchange && p->scope_note[0] == '\0') {
		join(inc, list, sizeof(list));
		snprintf(p->scope_note, sizeof(p->scope_note), "applications %s, not Exchange Online",
		         list[0] ? list : "none");
	}
	if (p->exchange && json_is_object(json_object_get(apps, "applicationFilter")))
		note_add(p->unmodelled, sizeof(p->unmodelled), "an application filter");
}

/* The conditions this evaluator does not model. */
static void parse_unmodelled(struct sw_ca_policy *p, const json_t *cond)
{
	const json_t *users = json_object_get(cond, "users");
	const json_t *loc = json_object_get(cond, "locations");

	p->by_role_or_guest = is_set(json_object_get(users, "includeRoles")) ||
	                      json_is_object(json_object_get(users, "includeGuestsOrExternalUsers")) ||
	                      arr_has(json_object_get(users, "includeUsers"), "GuestsOrExternalUsers");
	if (is_set(json_object_get(users, "includeRoles")) || is_set(json_object_get(users, "excludeRoles")))
		note_add(p->unmodelled, sizeof(p->unmodelled), "roles");
	if (json_is_object(json_object_get(users, "includeGuestsOrExternalUsers")) ||
	    json_is_object(json_object_get(users, "excludeGuestsOrExternalUsers")) ||
	    arr_has(json_object_get(users, "includeUsers"), "GuestsOrExternalUsers") ||
	    arr_has(json_object_get(users, "excludeUsers"), "GuestsOrExternalUsers"))
		note_add(p->unmodelled, sizeof(p->unmodelled), "guests");
	if (is_set(json_object_get(loc, "includeLocations")) || is_set(json_object_get(loc, "excludeLocations")))
		note_add(p->unmodelled, sizeof(p->unmodelled), "locations");
	if (json_is_object(json_object_get(cond, "platforms")))
		note_add(p->unmodelled, sizeof(p->unmodelled), "platforms");
	if (is_set(json_object_get(cond, "signInRiskLevels")) || is_set(json_object_get(cond, "userRiskLevels")) ||
	    is_set(json_object_get(cond, "insiderRiskLevels")))
		note_add(p->unmodelled, sizeof(p->unmodelled), "risk levels");
	if (json_is_object(json_object_get(cond, "devices")))
		note_add(p->unmodelled, sizeof(p->unmodelled), "a device filter");
	if (json_is_object(json_object_get(cond, "clientApplications")))
		note_add(p->unmodelled, sizeof(p->unmodelled), "service principals");
	if (json_is_object(json_object_get(cond, "authenticationFlows")))
		note_add(p->unmodelled, sizeof(p->unmodelled), "authentication flows");
}

/* See capolicy.h. */
int sw_ca_policy_parse(const json_t *obj, struct sw_ca_policy *ret)
{
	const char *id = json_string_value(json_object_get(obj, "id"));
	const char *name = json_string_value(json_object_get(obj, "displayName"));
	const char *state = json_string_value(json_object_get(obj, "state"));
	const json_t *cond = json_object_get(obj, "conditions");
	const json_t *users = json_object_get(cond, "users");

	memset(ret, 0, sizeof(*ret));
	if (id == NULL || *id == '\0')
		return -EINVAL;
	ret->id = sw_strdup_lower(id);
	ret->name = strdup(name && *name ? name : id);
	/* An unknown state enforces nothing that this code could name. */
	if (sw_ca_state_parse(state, &ret->state) < 0)
		ret->state = SW_CA_DISABLED;
	ret->microsoft_managed = name != NULL && strncasecmp(name, "Microsoft-managed:", 18) == 0;
	ret->block = arr_has(json_object_get(json_object_get(obj, "grantControls"), "builtInControls"), "block");
	parse_clients(ret, json_object_get(cond, "clientAppTypes"));
	parse_apps(ret, json_object_get(cond, "applications"));
	ret->all_users = arr_has(json_object_get(users, "includeUsers"), "All");
	ret->include_users = strings_at(users, "includeUsers");
	ret->exclude_users = strings_at(users, "excludeUsers");
	ret->include_groups = strings_at(users, "includeGroups");
	ret->exclude_groups = strings_at(users, "excludeGroups");
	parse_unmodelled(ret, cond);
	if (!ret->id || !ret->name || !ret->include_users || !ret->exclude_users || !ret->include_groups ||
	    !ret->exclude_groups) {
		sw_ca_policy_clear(ret);
		return -ENOMEM;
	}
	return 0;
}

/* See capolicy.h. */
void sw_ca_policy_clear(struct sw_ca_policy *p)
{
	free(p->id);
	free(p->name);
	json_decref(p->include_users);
	json_decref(p->exclude_users);
	json_decref(p->include_groups);
	json_decref(p->exclude_groups);
	memset(p, 0, sizeof(*p));
}

/* See capolicy.h. */
int sw_ca_policies_add(struct sw_ca_policies *ps, const json_t *raw)
{
	int r;

	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 8;
		struct sw_ca_policy *v = realloc(ps->v, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		ps->v = v;
		ps->cap = cap;
	}
	r = sw_ca_policy_parse(raw, &ps->v[ps->n]);
	if (r == 0)
		ps->n++;
	return r;
}

/* See capolicy.h. */
void sw_ca_policies_clear(struct sw_ca_policies *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		sw_ca_policy_clear(&ps->v[i]);
	free(ps->v);
	memset(ps, 0, sizeof(*ps));
}

/* Load a Graph collection page: its "value" array (borrowed from *ret_root)
 * and next link. */
static int collection_page(const char *buf, size_t len, json_t **ret_root, json_t **ret_value, char **ret_next,
                           struct sw_error *err)
{
	json_error_t je;
	json_t *root = json_loadb(buf, len, 0, &je);
	json_t *value = json_object_get(root, "value");
	const char *next = json_string_value(json_object_get(root, "@odata.nextLink"));

	if (root == NULL) {
		sw_error_set(err, "<body>", je.line, "invalid JSON at line %d column %d: %s", je.line, je.column,
		             je.text);
		return -EINVAL;
	}
	if (!json_is_array(value)) {
		sw_error_set(err, "<body>", 0, "no \"value\" array in the answer");
		json_decref(root);
		return -EINVAL;
	}
	*ret_next = next && *next ? strdup(next) : NULL;
	if (next && *next && *ret_next == NULL) {
		json_decref(root);
		return -ENOMEM;
	}
	*ret_root = root;
	*ret_value = value;
	return 0;
}

/* See capolicy.h. */
int sw_ca_policies_parse(const char *buf, size_t len, struct sw_ca_policies *ret, char **ret_next,
                         size_t *ret_skipped, struct sw_error *err)
{
	json_t *root = NULL, *value, *v;
	size_t i, skipped = 0;
	int r = collection_page(buf, len, &root, &value, ret_next, err);

	if (r < 0)
		return r;
	json_array_foreach(value, i, v) {
		r = sw_ca_policies_add(ret, v);
		if (r == -EINVAL) {
			skipped++;
			r = 0;
		}
		if (r < 0)
			break;
	}
	json_decref(root);
	if (r < 0) {
		free(*ret_next);
		*ret_next = NULL;
		return r;
	}
	if (ret_skipped != NULL)
		*ret_skipped = skipped;
	return 0;
}

/* See capolicy.h. */
json_t *sw_ca_policies_groups(const struct sw_ca_policies *ps)
{
	json_t *out = json_array(), *v;
	size_t i;

	for (size_t k = 0; out != NULL && k < ps->n; k++) {
		const json_t *lists[] = { ps->v[k].include_groups, ps->v[k].exclude_groups };
		for (int l = 0; l < 2; l++)
			json_array_foreach(lists[l], i, v) {
				if (!arr_has(out, json_string_value(v)))
					json_array_append(out, v);
			}
	}
	return out;
}

/* See capolicy.h. */
int sw_secdefaults_parse(const char *buf, size_t len, bool *ret_enabled, struct sw_error *err)
{
	json_error_t je;
	json_auto_t *root = json_loadb(buf, len, 0, &je);
	json_t *v = json_object_get(root, "isEnabled");

	if (root == NULL) {
		sw_error_set(err, "<body>", je.line, "invalid JSON at line %d column %d: %s", je.line, je.column,
		             je.text);
		return -EINVAL;
	}
	if (!json_is_boolean(v)) {
		sw_error_set(err, "<body>", 0, "no boolean \"isEnabled\" in the answer");
		return -EINVAL;
	}
	*ret_enabled = json_is_true(v);
	return 0;
}

/* See capolicy.h. */
int sw_group_members_parse(const char *buf, size_t len, json_t **ret_ids, char **ret_next, struct sw_error *err)
{
	json_t *root = NULL, *value, *v, *ids;
	size_t i;
	int r = collection_page(buf, len, &root, &value, ret_next, err);

	if (r < 0)
		return r;
	ids = json_array();
	json_array_foreach(value, i, v) {
		char *id = sw_strdup_lower(json_string_value(json_object_get(v, "id")));
		if (id != NULL && *id != '\0')
			json_array_append_new(ids, json_string(id));
		free(id);
	}
	json_decref(root);
	if (ids == NULL) {
		free(*ret_next);
		*ret_next = NULL;
		return -ENOMEM;
	}
	*ret_ids = ids;
	return 0;
}

/* See capolicy.h. */
int sw_user_policy_parse(const json_t *row, struct sw_user_policy *ret)
{
	const char *addr = json_string_value(json_object_get(row, "UserPrincipalName"));
	const char *oid = json_string_value(json_object_get(row, "ExternalDirectoryObjectId"));
	const char *pol = json_string_value(json_object_get(row, "AuthenticationPolicy"));

	memset(ret, 0, sizeof(*ret));
	if (addr == NULL || *addr == '\0')
		addr = json_string_value(json_object_get(row, "WindowsEmailAddress"));
	if ((addr == NULL || *addr == '\0') && (oid == NULL || *oid == '\0'))
		return -EINVAL;
	ret->address = addr && *addr ? sw_strdup_lower(addr) : NULL;
	ret->object_id = oid && *oid ? sw_strdup_lower(oid) : NULL;
	ret->policy = pol && *pol ? strdup(pol) : NULL;
	if ((addr && *addr && !ret->address) || (oid && *oid && !ret->object_id) || (pol && *pol && !ret->policy)) {
		sw_user_policy_clear(ret);
		return -ENOMEM;
	}
	return 0;
}

/* See capolicy.h. */
void sw_user_policy_clear(struct sw_user_policy *u)
{
	free(u->address);
	free(u->object_id);
	free(u->policy);
	memset(u, 0, sizeof(*u));
}

/* See capolicy.h. */
int sw_whatif_parse(const char *buf, size_t len, sw_whatif_cb cb, void *arg, struct sw_error *err)
{
	json_t *root = NULL, *value, *v;
	char *next = NULL;
	size_t i;
	int r = collection_page(buf, len, &root, &value, &next, err);

	if (r < 0)
		return r;
	free(next);
	json_array_foreach(value, i, v) {
		char *id = sw_strdup_lower(json_string_value(json_object_get(v, "id")));
		const json_t *applies = json_object_get(v, "policyApplies");
		const char *why = json_string_value(json_object_get(v, "analysisReasons"));

		if (id != NULL && json_is_boolean(applies))
			r = cb(id, json_is_true(applies), why ? why : "", arg);
		free(id);
		if (r < 0)
			break;
	}
	json_decref(root);
	return r;
}

/* See capolicy.h.  A legacy client ("other", which is how Entra classes
 * Authenticated SMTP) signing in to Exchange Online; every policy in the
 * answer, applying or not, so the reasons come back too. */
char *sw_whatif_body(const char *user_id)
{
	json_auto_t *doc = json_pack("{s:{s:s,s:s},s:{s:s,s:[s]},s:{s:s},s:b}", "signInIdentity", "@odata.type",
	                             "#microsoft.graph.userSignIn", "userId", user_id, "signInContext", "@odata.type",
	                             "#microsoft.graph.applicationContext", "includeApplications", SW_CA_APP_EXCHANGE,
	                             "signInConditions", "clientAppType", "other", "appliedPoliciesOnly", 0);

	return doc ? json_dumps(doc, JSON_COMPACT) : NULL;
}

/* ---- the evaluator ---- */

/* What one layer says about Basic and OAuth. */
struct layer_says {
	enum sw_access basic, oauth;
};

struct eval {
	const struct sw_layers *in;
	struct sw_verdict *v;
	bool any_blocked, any_unknown, any_conditional;
	bool oauth_blocked, oauth_unknown, oauth_conditional;
	int r;
};

/* Record a layer: its text in decided_by, its effect on the verdict. */
static void say(struct eval *e, enum sw_access basic, enum sw_access oauth, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void say(struct eval *e, enum sw_access basic, enum sw_access oauth, const char *fmt, ...)
{
	char text[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (json_array_append_new(e->v->decided_by, json_string(text)) < 0)
		e->r = -ENOMEM;
	e->any_blocked |= basic == SW_ACCESS_BLOCKED;
	e->any_unknown |= basic == SW_ACCESS_UNKNOWN;
	e->any_conditional |= basic == SW_ACCESS_CONDITIONAL;
	e->oauth_blocked |= oauth == SW_ACCESS_BLOCKED;
	e->oauth_unknown |= oauth == SW_ACCESS_UNKNOWN;
	e->oauth_conditional |= oauth == SW_ACCESS_CONDITIONAL;
	if (basic == SW_ACCESS_BLOCKED)
		note_add(e->v->blocked_by, sizeof(e->v->blocked_by), text);
}

/* The two switches: the mailbox's own value wins when set. */
static void eval_switches(struct eval *e)
{
	const struct sw_layers *in = e->in;
	bool mailbox_set = in->mailbox != SW_TRI_NULL;
	enum sw_access t = in->tenant_disabled ? SW_ACCESS_BLOCKED : SW_ACCESS_ALLOWED;
	enum sw_access m = in->mailbox == SW_TRI_TRUE ? SW_ACCESS_BLOCKED : SW_ACCESS_ALLOWED;

	/* An override makes the tenant switch moot for this mailbox. */
	say(e, mailbox_set ? SW_ACCESS_ALLOWED : t, mailbox_set ? SW_ACCESS_ALLOWED : t, "tenant switch: %s%s",
	    in->tenant_disabled ? "off" : "on", mailbox_set ? " (overridden)" : "");
	say(e, mailbox_set ? m : SW_ACCESS_ALLOWED, mailbox_set ? m : SW_ACCESS_ALLOWED, "mailbox override: %s",
	    !mailbox_set ? "none" : in->mailbox == SW_TRI_FALSE ? "on" : "off");
}

/* The authentication policy in force: the user's own, else the default.
 * It blocks Basic only; OAuth SMTP keeps working. */
static void eval_auth_policy(struct eval *e)
{
	const struct sw_layers *in = e->in;
	const char *name = in->user_policy ? in->user_policy : in->default_policy;
	int allows = in->user_policy ? in->user_allows : in->default_allows;
	const char *origin = in->user_policy ? "assigned to the user" : "organisation default";

	if (!in->auth_known) {
		say(e, SW_ACCESS_UNKNOWN, SW_ACCESS_ALLOWED, "authentication policy: unknown (Get-User or "
		    "Get-AuthenticationPolicy not read)");
	} else if (name == NULL) {
		say(e, SW_ACCESS_ALLOWED, SW_ACCESS_ALLOWED, "authentication policy: none");
	} else if (allows == SW_NO) {
		say(e, SW_ACCESS_BLOCKED, SW_ACCESS_ALLOWED, "authentication policy %s (%s): Basic SMTP blocked", name,
		    origin);
	} else if (allows == SW_YES) {
		say(e, SW_ACCESS_ALLOWED, SW_ACCESS_ALLOWED, "authentication policy %s (%s): Basic SMTP allowed", name,
		    origin);
	} else {
		say(e, SW_ACCESS_UNKNOWN, SW_ACCESS_ALLOWED, "authentication policy %s (%s): unknown (not in "
		    "Get-AuthenticationPolicy)", name, origin);
	}
}

/* Is the user in scope of p by its user and group lists?  SW_YES,
 * SW_NO (why says how), SW_UNKNOWN (why names the group not read). */
static int local_scope(const struct eval *e, const struct sw_ca_policy *p, char *why, size_t n)
{
	const struct sw_layers *in = e->in;
	bool included = p->all_users, unknown_incl = false;
	size_t i;
	json_t *g;

	if (in->user_id == NULL) {
		if (p->all_users && json_array_size(p->exclude_users) == 0 && json_array_size(p->exclude_groups) == 0)
			return SW_YES;
		snprintf(why, n, "the mailbox has no Entra object id to match its lists");
		return SW_UNKNOWN;
	}
	if (arr_has(p->exclude_users, in->user_id)) {
		snprintf(why, n, "excludes the user");
		return SW_NO;
	}
	json_array_foreach(p->exclude_groups, i, g) {
		int m = in->member ? in->member(in->arg, json_string_value(g), in->user_id) : SW_UNKNOWN;
		if (m == SW_YES) {
			snprintf(why, n, "excludes the user by group %s", json_string_value(g));
			return SW_NO;
		}
		if (m == SW_UNKNOWN) {
			snprintf(why, n, "members of excluded group %s not read", json_string_value(g));
			return SW_UNKNOWN;
		}
	}
	included = included || arr_has(p->include_users, in->user_id);
	json_array_foreach(p->include_groups, i, g) {
		if (included)
			break;
		int m = in->member ? in->member(in->arg, json_string_value(g), in->user_id) : SW_UNKNOWN;
		included = m == SW_YES;
		if (m == SW_UNKNOWN && !unknown_incl) {
			unknown_incl = true;
			snprintf(why, n, "members of included group %s not read", json_string_value(g));
		}
	}
	/* Included by a role or as a guest, maybe: the conditions decide
	 * (the caller names them), not the lists. */
	if (included || p->by_role_or_guest)
		return SW_YES;
	if (unknown_incl)
		return SW_UNKNOWN;
	snprintf(why, n, "does not include the user");
	return SW_NO;
}

/* One policy with a block grant. */
static void eval_policy(struct eval *e, const struct sw_ca_policy *p)
{
	const struct sw_layers *in = e->in;
	char why[200] = "", reasons[160] = "", label[300];
	int scope = SW_UNKNOWN, w = SW_UNKNOWN;
	bool legacy_ok = p->legacy && p->exchange;
	bool modern_ok = p->modern && p->exchange;
	enum sw_access oauth = SW_ACCESS_ALLOWED;

	snprintf(label, sizeof(label), "conditional access %s%s", p->name,
	         p->microsoft_managed ? " (Microsoft-managed)" : "");
	if (p->state == SW_CA_DISABLED) {
		say(e, SW_ACCESS_ALLOWED, SW_ACCESS_ALLOWED, "%s: disabled", label);
		return;
	}
	if (!legacy_ok && !modern_ok) {
		say(e, SW_ACCESS_ALLOWED, SW_ACCESS_ALLOWED, "%s: does not apply (%s)", label, p->scope_note);
		return;
	}
	if (in->whatif != NULL && in->user_id != NULL)
		w = in->whatif(in->arg, p->id, in->user_id, reasons, sizeof(reasons));
	if (w != SW_UNKNOWN)
		e->v->whatif = true;
	if (w == SW_YES)
		scope = SW_YES;
	else if (w == SW_NO && strcasestr(reasons, "notEnoughInformation") == NULL)
		scope = SW_NO, snprintf(why, sizeof(why), "What If: %s", reasons[0] ? reasons : "not applicable");
	else if (w == SW_NO)
		scope = SW_UNKNOWN, snprintf(why, sizeof(why), "What If: not enough information");
	else
		scope = local_scope(e, p, why, sizeof(why));
	const char *via = w != SW_UNKNOWN ? ", What If" : "";

	if (scope == SW_NO) {
		say(e, SW_ACCESS_ALLOWED, SW_ACCESS_ALLOWED, "%s: does not apply (%s)", label, why);
		return;
	}
	if (scope == SW_UNKNOWN && w == SW_UNKNOWN) {
		say(e, SW_ACCESS_UNKNOWN, modern_ok ? SW_ACCESS_UNKNOWN : SW_ACCESS_ALLOWED, "%s: unknown (%s)", label,
		    why);
		return;
	}
	if (p->state == SW_CA_REPORT_ONLY) {
		say(e, SW_ACCESS_ALLOWED, SW_ACCESS_ALLOWED, "%s: report-only (would block%s), blocks nothing", label,
		    legacy_ok ? "" : " OAuth");
		return;
	}
	if (scope == SW_UNKNOWN || p->unmodelled[0] != '\0') {
		say(e, legacy_ok ? SW_ACCESS_CONDITIONAL : SW_ACCESS_ALLOWED,
		    modern_ok ? SW_ACCESS_CONDITIONAL : SW_ACCESS_ALLOWED, "%s: conditional (only with %s%s)", label,
		    p->unmodelled[0] ? p->unmodelled : why, via);
		return;
	}
	oauth = modern_ok ? SW_ACCESS_BLOCKED : SW_ACCESS_ALLOWED;
	if (legacy_ok)
		say(e, SW_ACCESS_BLOCKED, oauth, "%s: blocks%s%s", label, modern_ok ? " (OAuth too" : "",
		    modern_ok ? (w != SW_UNKNOWN ? ", What If)" : ")") : (w != SW_UNKNOWN ? " (What If)" : ""));
	else
		say(e, SW_ACCESS_ALLOWED, oauth, "%s: blocks OAuth only (%s%s)", label, p->scope_note, via);
}

/* Conditional access: every policy with a block grant, in Graph's order;
 * the others (MFA, compliant device) are counted in one line. */
static void eval_ca(struct eval *e)
{
	const struct sw_layers *in = e->in;
	size_t others = 0, blocks = 0;

	if (!in->ca_known) {
		say(e, SW_ACCESS_UNKNOWN, SW_ACCESS_UNKNOWN, "conditional access: unknown (not read; it needs %s)",
		    SW_CA_PERMISSION);
		return;
	}
	for (size_t i = 0; in->ca != NULL && i < in->ca->n; i++) {
		if (!in->ca->v[i].block) {
			others++;
			continue;
		}
		blocks++;
		eval_policy(e, &in->ca->v[i]);
	}
	if (blocks == 0)
		say(e, SW_ACCESS_ALLOWED, SW_ACCESS_ALLOWED, "conditional access: no policy blocks (%zu polic%s "
		    "without a block grant)", others, others == 1 ? "y" : "ies");
}

/* Security defaults block legacy authentication outright. */
static void eval_secdefaults(struct eval *e)
{
	int sd = e->in->security_defaults;

	if (sd == SW_YES)
		say(e, SW_ACCESS_BLOCKED, SW_ACCESS_ALLOWED, "security defaults: on (legacy authentication blocked)");
	else if (sd == SW_NO)
		say(e, SW_ACCESS_ALLOWED, SW_ACCESS_ALLOWED, "security defaults: off");
	else
		say(e, SW_ACCESS_UNKNOWN, SW_ACCESS_ALLOWED, "security defaults: unknown (not read; it needs %s)",
		    SW_CA_PERMISSION);
}

/* See capolicy.h.  One block anywhere decides; otherwise a layer that
 * could not be read leaves the answer unknown, and a condition this code
 * cannot see leaves it conditional. */
int sw_verdict_eval(const struct sw_layers *in, struct sw_verdict *ret)
{
	struct eval e = {.in = in, .v = ret};

	memset(ret, 0, sizeof(*ret));
	ret->decided_by = json_array();
	if (ret->decided_by == NULL)
		return -ENOMEM;
	eval_switches(&e);
	eval_auth_policy(&e);
	eval_ca(&e);
	eval_secdefaults(&e);
	if (e.r < 0) {
		sw_verdict_clear(ret);
		return e.r;
	}
	ret->basic = e.any_blocked       ? SW_ACCESS_BLOCKED
	             : e.any_unknown     ? SW_ACCESS_UNKNOWN
	             : e.any_conditional ? SW_ACCESS_CONDITIONAL
	                                 : SW_ACCESS_ALLOWED;
	ret->oauth = e.oauth_blocked       ? SW_ACCESS_BLOCKED
	             : e.oauth_unknown     ? SW_ACCESS_UNKNOWN
	             : e.oauth_conditional ? SW_ACCESS_CONDITIONAL
	                                   : SW_ACCESS_ALLOWED;
	return 0;
}

/* See capolicy.h. */
void sw_verdict_clear(struct sw_verdict *v)
{
	json_decref(v->decided_by);
	memset(v, 0, sizeof(*v));
}

/* Why p, a legacy block, does not block the whole tenant ("" when it does). */
static void near_miss(const struct sw_ca_policy *p, char *buf, size_t n)
{
	size_t eu = json_array_size(p->exclude_users), eg = json_array_size(p->exclude_groups);

	buf[0] = '\0';
	if (p->state == SW_CA_REPORT_ONLY)
		snprintf(buf, n, "report-only");
	else if (p->state == SW_CA_DISABLED)
		snprintf(buf, n, "disabled");
	else if (!p->all_users)
		snprintf(buf, n, "only some users");
	else if (eu + eg > 0)
		snprintf(buf, n, "excludes %zu user%s and %zu group%s", eu, eu == 1 ? "" : "s", eg, eg == 1 ? "" : "s");
	else if (p->unmodelled[0] != '\0')
		snprintf(buf, n, "only with %s", p->unmodelled);
}

/* See capolicy.h. */
int sw_legacy_blocked(const struct sw_ca_policies *ca, bool ca_known, int security_defaults, char *by, size_t n,
                      json_t **ret_near)
{
	json_t *near = json_array();
	char why[200], text[400];

	if (near == NULL)
		return -ENOMEM;
	by[0] = '\0';
	if (security_defaults == SW_YES) {
		snprintf(by, n, "security defaults");
		*ret_near = near;
		return SW_YES;
	}
	for (size_t i = 0; ca_known && ca != NULL && i < ca->n; i++) {
		const struct sw_ca_policy *p = &ca->v[i];
		if (!p->block || !p->legacy || !p->exchange)
			continue;
		near_miss(p, why, sizeof(why));
		if (why[0] == '\0') {
			snprintf(by, n, "conditional access %s", p->name);
			json_decref(near);
			*ret_near = json_array();
			return *ret_near ? SW_YES : -ENOMEM;
		}
		snprintf(text, sizeof(text), "%s (%s)", p->name, why);
		json_array_append_new(near, json_string(text));
	}
	*ret_near = near;
	return !ca_known || security_defaults == SW_UNKNOWN ? SW_UNKNOWN : SW_NO;
}
