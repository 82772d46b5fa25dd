/* test_capolicy.c: the Graph and Exchange policy parsers, and the verdict
 * of every layer over their combinations (each alone, the pairs that
 * conflict, report-only, exclusions, nested groups, unknown layers). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capolicy.h"
#include "check_main.h"
#include "fixture.h"

#define U_SCANNER "6b1e0c2a-0000-4000-8000-000000000001"
#define U_NESTED "6b1e0c2a-0000-4000-8000-000000000002"
#define G_PRINTERS "5d1f2a7e-6b3c-4e8a-9f10-2c3d4e5f6a7b"
#define G_OUTER "11111111-2222-4333-8444-555555555555" /* holds G_INNER, which holds U_NESTED */
#define G_UNREAD "99999999-2222-4333-8444-555555555555"

/* One policy's JSON: state, grant, client app types, applications, user
 * lists and extra conditions, filled into a template. */
#define POLICY(id, name, state, grant, clients, apps, users, extra)                                            \
	"{\"id\":\"" id "\",\"displayName\":\"" name "\",\"state\":\"" state "\",\"grantControls\":{\"operator\":" \
	"\"OR\",\"builtInControls\":[\"" grant "\"]},\"conditions\":{\"clientAppTypes\":[" clients "],"         \
	"\"applications\":{" apps "},\"users\":{" users "}" extra "}}"
#define APPS_ALL "\"includeApplications\":[\"All\"],\"excludeApplications\":[]"
#define USERS_ALL "\"includeUsers\":[\"All\"],\"excludeUsers\":[],\"includeGroups\":[],\"excludeGroups\":[]"
#define LEGACY "\"exchangeActiveSync\",\"other\""

#define P_BLOCK POLICY("p-block", "Block legacy auth", "enabled", "block", LEGACY, APPS_ALL, USERS_ALL, "")
#define P_REPORT                                                                                                \
	POLICY("p-report", "Block legacy auth", "enabledForReportingButNotEnforced", "block", LEGACY, APPS_ALL, \
	       USERS_ALL, "")
#define P_DISABLED POLICY("p-off", "Block legacy auth", "disabled", "block", LEGACY, APPS_ALL, USERS_ALL, "")
#define P_EXCL_USER                                                                                            \
	POLICY("p-xu", "Block legacy auth", "enabled", "block", LEGACY, APPS_ALL,                              \
	       "\"includeUsers\":[\"All\"],\"excludeUsers\":[\"" U_SCANNER "\"]", "")
#define P_EXCL_GROUP                                                                                           \
	POLICY("p-xg", "Block legacy auth", "enabled", "block", LEGACY, APPS_ALL,                              \
	       "\"includeUsers\":[\"All\"],\"excludeGroups\":[\"" G_PRINTERS "\"]", "")
#define P_NESTED                                                                                               \
	POLICY("p-nest", "Block legacy for devices", "enabled", "block", LEGACY, APPS_ALL,                    \
	       "\"includeUsers\":[],\"includeGroups\":[\"" G_OUTER "\"]", "")
#define P_UNREAD                                                                                               \
	POLICY("p-unread", "Block legacy auth", "enabled", "block", LEGACY, APPS_ALL,                          \
	       "\"includeUsers\":[\"All\"],\"excludeGroups\":[\"" G_UNREAD "\"]", "")
#define P_LOCATIONS                                                                                            \
	POLICY("p-loc", "Block legacy outside", "enabled", "block", "\"other\"",                               \
	       "\"includeApplications\":[\"" SW_CA_APP_EXCHANGE "\"]", USERS_ALL,                             \
	       ",\"locations\":{\"includeLocations\":[\"All\"],\"excludeLocations\":[\"AllTrusted\"]}")
#define P_ROLES                                                                                                \
	POLICY("p-roles", "Block legacy for admins", "enabled", "block", "\"other\"", APPS_ALL,                \
	       "\"includeUsers\":[],\"includeRoles\":[\"62e90394-69f5-4237-9190-012177145e10\"]", "")
#define P_BROWSER POLICY("p-br", "Block browsers", "enabled", "block", "\"browser\"", APPS_ALL, USERS_ALL, "")
#define P_SHAREPOINT                                                                                           \
	POLICY("p-sp", "Block SharePoint", "enabled", "block", LEGACY,                                         \
	       "\"includeApplications\":[\"00000003-0000-0ff1-ce00-000000000000\"]", USERS_ALL, "")
#define P_O365_EXCL_EXO                                                                                         \
	POLICY("p-o365", "Block O365 but EXO", "enabled", "block", LEGACY,                                     \
	       "\"includeApplications\":[\"Office365\"],\"excludeApplications\":[\"" SW_CA_APP_EXCHANGE "\"]", \
	       USERS_ALL, "")
#define P_MFA POLICY("p-mfa", "Require MFA", "enabled", "mfa", "\"all\"", APPS_ALL, USERS_ALL, "")
#define P_ALLCLIENTS POLICY("p-all", "Block everything", "enabled", "block", "\"all\"", APPS_ALL, USERS_ALL, "")
#define P_MSMANAGED                                                                                            \
	POLICY("p-ms", "Microsoft-managed: Block legacy authentication", "enabledForReportingButNotEnforced",  \
	       "block", LEGACY, APPS_ALL, USERS_ALL, "")

/* Transitive membership as Graph's transitiveMembers answers it: the outer
 * group holds the nested user through an inner group. */
static int member(void *arg, const char *group, const char *user)
{
	static const struct {
		const char *group, *user;
	} table[] = {
		{ G_PRINTERS, U_SCANNER },
		{ G_OUTER, U_NESTED },
	};

	if (strcmp(group, G_UNREAD) == 0)
		return SW_UNKNOWN;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(table[i].group, group) == 0 && strcmp(table[i].user, user) == 0)
			return SW_YES;
	return SW_NO;
}

/* What If answers, "policy=yes" or "policy=no:reasons", one per row. */
static const char *whatif_answer;
static int whatif(void *arg, const char *policy, const char *user, char *reasons, size_t n)
{
	size_t l = strlen(policy);

	if (whatif_answer == NULL || strncmp(whatif_answer, policy, l) != 0 || whatif_answer[l] != '=')
		return SW_UNKNOWN;
	if (strncmp(whatif_answer + l + 1, "yes", 3) == 0)
		return SW_YES;
	snprintf(reasons, n, "%s", whatif_answer + l + 4);
	return SW_NO;
}

#define A SW_ACCESS_ALLOWED
#define B SW_ACCESS_BLOCKED
#define C SW_ACCESS_CONDITIONAL
#define U SW_ACCESS_UNKNOWN
#define ON false
#define OFF true
#define NONE SW_TRI_NULL
#define OVR_ON SW_TRI_FALSE
#define OVR_OFF SW_TRI_TRUE

static const struct row {
	const char *what;
	bool tenant_disabled;
	enum sw_tristate mailbox;
	bool auth_known;
	const char *default_policy;
	int default_allows;
	const char *user_policy;
	int user_allows;
	int secdefaults;
	bool ca_known;
	const char *policies; /* JSON array body */
	const char *user;
	const char *whatif;
	enum sw_access basic, oauth;
	const char *says;       /* a decided_by entry, exactly */
	const char *blocked_by; /* substring of blocked_by, or NULL for "" */
} rows[] = {
	/* Each layer alone. */
	{ "nothing blocks", ON, NONE, true, NULL, 0, NULL, 0, SW_NO, true, "", U_SCANNER, NULL, A, A,
	  "tenant switch: on", NULL },
	{ "tenant switch off", OFF, NONE, true, NULL, 0, NULL, 0, SW_NO, true, "", U_SCANNER, NULL, B, B,
	  "tenant switch: off", "tenant switch: off" },
	{ "mailbox override off", ON, OVR_OFF, true, NULL, 0, NULL, 0, SW_NO, true, "", U_SCANNER, NULL, B, B,
	  "mailbox override: off", "mailbox override: off" },
	{ "default policy blocks Basic", ON, NONE, true, "Block Basic", SW_NO, NULL, 0, SW_NO, true, "", U_SCANNER,
	  NULL, B, A, "authentication policy Block Basic (organisation default): Basic SMTP blocked",
	  "authentication policy Block Basic" },
	{ "assigned policy blocks Basic", ON, NONE, true, NULL, 0, "Block Basic", SW_NO, SW_NO, true, "", U_SCANNER,
	  NULL, B, A, "authentication policy Block Basic (assigned to the user): Basic SMTP blocked",
	  "assigned to the user" },
	{ "security defaults on", ON, NONE, true, NULL, 0, NULL, 0, SW_YES, true, "", U_SCANNER, NULL, B, A,
	  "security defaults: on (legacy authentication blocked)", "security defaults" },
	{ "CA block", ON, NONE, true, NULL, 0, NULL, 0, SW_NO, true, P_BLOCK, U_SCANNER, NULL, B, A,
	  "conditional access Block legacy auth: blocks", "conditional access Block legacy auth" },
	{ "CA block of all client apps: OAuth too", ON, NONE, true, NULL, 0, NULL, 0, SW_NO, true, P_ALLCLIENTS,
	  U_SCANNER, NULL, B, B, "conditional access Block everything: blocks (OAuth too)", "Block everything" },
	/* Pairs that conflict: the block wins. */
	{ "ScubaGear: tenant off, override on, CA block", OFF, OVR_ON, true, NULL, 0, NULL, 0, SW_NO, true, P_BLOCK,
	  U_SCANNER, NULL, B, A, "mailbox override: on", "conditional access Block legacy auth: blocks" },
	{ "override on, tenant off: allowed", OFF, OVR_ON, true, NULL, 0, NULL, 0, SW_NO, true, "", U_SCANNER, NULL,
	  A, A, "tenant switch: off (overridden)", NULL },
	{ "override on, default policy blocks", ON, OVR_ON, true, "Block Basic", SW_NO, NULL, 0, SW_NO, true, "",
	  U_SCANNER, NULL, B, A, "mailbox override: on", "Block Basic" },
	{ "assigned policy allows over a blocking default", ON, NONE, true, "Block Basic", SW_NO, "Allow Basic",
	  SW_YES, SW_NO, true, "", U_SCANNER, NULL, A, A,
	  "authentication policy Allow Basic (assigned to the user): Basic SMTP allowed", NULL },
	{ "assigned policy allows, CA blocks", ON, NONE, true, NULL, 0, "Allow Basic", SW_YES, SW_NO, true, P_BLOCK,
	  U_SCANNER, NULL, B, A, "conditional access Block legacy auth: blocks", "Block legacy auth" },
	{ "security defaults on, CA report-only", ON, NONE, true, NULL, 0, NULL, 0, SW_YES, true, P_REPORT, U_SCANNER,
	  NULL, B, A, "conditional access Block legacy auth: report-only (would block), blocks nothing",
	  "security defaults" },
	{ "tenant off wins over every allow", OFF, NONE, true, "Allow Basic", SW_YES, NULL, 0, SW_NO, true, P_REPORT,
	  U_SCANNER, NULL, B, B, "tenant switch: off", "tenant switch: off" },
	/* Report-only, disabled, scope. */
	{ "CA report-only blocks nothing", ON, NONE, true, NULL, 0, NULL, 0, SW_NO, true, P_REPORT, U_SCANNER, NULL,
	  A, A, "conditional access Block legacy auth: report-only (would block), blocks nothing", NULL },
	{ "Microsoft-managed report-only", ON, NONE, true, NULL, 0, NULL, 0, SW_NO, true, P_MSMANAGED, U_SCANNER,
	  NULL, A, A,
	  "conditional access Microsoft-managed: Block legacy authentication (Microsoft-managed): report-only "
	  "(would block), blocks nothing",
	  NULL },
	{ "CA disabled", ON, NONE, true, NULL, 0, NULL, 0, SW_NO, true, P_DISABLED, U_SCANNER, NULL, A, A,
	  "conditional access Block legacy auth: disabled", NULL },
	{ "CA for browsers only", ON, NONE, true, NULL, 0, NULL, 0, SW_NO, true, P_BROWSER, U_SCANNER, NULL, A, A,
	  "conditional access Block browsers: does not apply (client app types browser, not other)", NULL },
	{ "CA for SharePoint only", ON, NONE, true, NULL, 0, NULL, 0, SW_NO, true, P_SHAREPOINT, U_SCANNER, NULL, A,
	  A,
	  "conditional access Block SharePoint: does not apply (applications 00000003-0000-0ff1-ce00-000000000000, "
	  "not Exchange Online)",
	  NULL },
	{ "CA Office365 excluding Exchange", ON, NONE, true, NULL, 0, NULL, 0, SW_NO, true, P_O365_EXCL_EXO,
	  U_SCANNER, NULL, A, A, "conditional access Block O365 but EXO: does not apply (excludes Exchange Online)",
	  NULL },
	{ "MFA policy is no block", ON, NONE, true, NULL, 0, NULL, 0, SW_NO, true, P_MFA, U_SCANNER, NULL, A, A,
	  "conditional access: no policy blocks (1 policy without a block grant)", NULL },
	/* Users and groups. */
	{ "excluded user", ON, NONE, true, NULL, 0, NULL, 0, SW_NO, true, P_EXCL_USER, U_SCANNER, NULL, A, A,
	  "conditional access Block legacy auth: does not apply (excludes the user)", NULL },
	{ "another user of the same policy", ON, NONE, true, NULL, 0, NULL, 0, SW_NO, true, P_EXCL_USER, U_NESTED,
	  NULL, B, A, "conditional access Block legacy auth: blocks", "Block legacy auth" },
	{ "excluded group", ON, NONE, true, NULL, 0, NULL, 0, SW_NO, true, P_EXCL_GROUP, U_SCANNER, NULL, A, A,
	  "conditional access Block legacy auth: does not apply (excludes the user by group " G_PRINTERS ")", NULL },
	{ "nested group member is included", ON, NONE, true, NULL, 0, NULL, 0, SW_NO, true, P_NESTED, U_NESTED, NULL,
	  B, A, "conditional access Block legacy for devices: blocks", "Block legacy for devices" },
	{ "not in the included group", ON, NONE, true, NULL, 0, NULL, 0, SW_NO, true, P_NESTED, U_SCANNER, NULL, A,
	  A, "conditional access Block legacy for devices: does not apply (does not include the user)", NULL },
	/* Conditions not modelled. */
	{ "locations: conditional", ON, NONE, true, NULL, 0, NULL, 0, SW_NO, true, P_LOCATIONS, U_SCANNER, NULL, C,
	  A, "conditional access Block legacy outside: conditional (only with locations)", NULL },
	{ "roles: conditional", ON, NONE, true, NULL, 0, NULL, 0, SW_NO, true, P_ROLES, U_SCANNER, NULL, C, A,
	  "conditional access Block legacy for admins: conditional (only with roles)", NULL },
	{ "a block beats a condition", ON, NONE, true, NULL, 0, NULL, 0, SW_NO, true, P_LOCATIONS "," P_BLOCK,
	  U_SCANNER, NULL, B, A, "conditional access Block legacy auth: blocks", "Block legacy auth" },
	/* Unknown layers. */
	{ "CA unknown", ON, NONE, true, NULL, 0, NULL, 0, SW_NO, false, "", U_SCANNER, NULL, U, U,
	  "conditional access: unknown (not read; it needs Policy.Read.All)", NULL },
	{ "security defaults unknown", ON, NONE, true, NULL, 0, NULL, 0, SW_UNKNOWN, true, "", U_SCANNER, NULL, U, A,
	  "security defaults: unknown (not read; it needs Policy.Read.All)", NULL },
	{ "authentication policies unknown", ON, NONE, false, NULL, 0, NULL, 0, SW_NO, true, "", U_SCANNER, NULL, U,
	  A, "authentication policy: unknown (Get-User or Get-AuthenticationPolicy not read)", NULL },
	{ "policy not in Get-AuthenticationPolicy", ON, NONE, true, "Gone", SW_UNKNOWN, NULL, 0, SW_NO, true, "",
	  U_SCANNER, NULL, U, A,
	  "authentication policy Gone (organisation default): unknown (not in Get-AuthenticationPolicy)", NULL },
	{ "excluded group not read", ON, NONE, true, NULL, 0, NULL, 0, SW_NO, true, P_UNREAD, U_SCANNER, NULL, U, A,
	  "conditional access Block legacy auth: unknown (members of excluded group " G_UNREAD " not read)", NULL },
	{ "no object id, exclusions", ON, NONE, true, NULL, 0, NULL, 0, SW_NO, true, P_EXCL_USER, NULL, NULL, U, A,
	  "conditional access Block legacy auth: unknown (the mailbox has no Entra object id to match its lists)",
	  NULL },
	{ "no object id, a policy for all", ON, NONE, true, NULL, 0, NULL, 0, SW_NO, true, P_BLOCK, NULL, NULL, B, A,
	  "conditional access Block legacy auth: blocks", "Block legacy auth" },
	{ "unknown outranks conditional", ON, NONE, true, NULL, 0, NULL, 0, SW_UNKNOWN, true, P_LOCATIONS, U_SCANNER,
	  NULL, U, A, "conditional access Block legacy outside: conditional (only with locations)", NULL },
	{ "a block outranks unknown", ON, NONE, false, NULL, 0, NULL, 0, SW_UNKNOWN, true, P_BLOCK, U_SCANNER, NULL,
	  B, A, "conditional access Block legacy auth: blocks", "Block legacy auth" },
	{ "tenant off decides even with CA unknown", OFF, NONE, true, NULL, 0, NULL, 0, SW_NO, false, "", U_SCANNER,
	  NULL, B, B, "conditional access: unknown (not read; it needs Policy.Read.All)", "tenant switch: off" },
	/* Microsoft's What If over the local lists. */
	{ "What If: excluded", ON, NONE, true, NULL, 0, NULL, 0, SW_NO, true, P_BLOCK, U_SCANNER, "p-block=no:users",
	  A, A, "conditional access Block legacy auth: does not apply (What If: users)", NULL },
	{ "What If: applies despite the local exclusion", ON, NONE, true, NULL, 0, NULL, 0, SW_NO, true, P_EXCL_USER,
	  U_SCANNER, "p-xu=yes", B, A, "conditional access Block legacy auth: blocks (What If)", "Block legacy auth" },
	{ "What If: not enough information", ON, NONE, true, NULL, 0, NULL, 0, SW_NO, true, P_BLOCK, U_SCANNER,
	  "p-block=no:notEnoughInformation", C, A,
	  "conditional access Block legacy auth: conditional (only with What If: not enough information, What If)",
	  NULL },
};

/* The policies of a row, parsed from a Graph page. */
static void load_policies(const char *json, struct sw_ca_policies *ps)
{
	char *body = NULL;
	char *next = NULL;
	struct sw_error err = {0};

	memset(ps, 0, sizeof(*ps));
	ck_assert_int_ge(asprintf(&body, "{\"value\":[%s]}", json), 0);
	ck_assert_msg(sw_ca_policies_parse(body, strlen(body), ps, &next, NULL, &err) == 0, "%s", err.text);
	ck_assert_ptr_null(next);
	free(body);
}

START_TEST(test_verdict_table)
{
	const struct row *r = &rows[_i];
	struct sw_ca_policies ps;
	struct sw_verdict v;
	bool found = false;
	size_t i;
	json_t *s;

	load_policies(r->policies, &ps);
	whatif_answer = r->whatif;
	struct sw_layers in = {
		.tenant_disabled = r->tenant_disabled,
		.mailbox = r->mailbox,
		.auth_known = r->auth_known,
		.default_policy = r->default_policy,
		.default_allows = r->default_allows,
		.user_policy = r->user_policy,
		.user_allows = r->user_allows,
		.security_defaults = r->secdefaults,
		.ca_known = r->ca_known,
		.ca = &ps,
		.user_id = r->user,
		.member = member,
		.whatif = whatif,
	};
	ck_assert_int_eq(sw_verdict_eval(&in, &v), 0);
	json_array_foreach(v.decided_by, i, s) found = found || strcmp(json_string_value(s), r->says) == 0;
	char *dump = json_dumps(v.decided_by, 0);
	ck_assert_msg(found, "%s: no \"%s\" in %s", r->what, r->says, dump);
	ck_assert_msg(v.basic == r->basic, "%s: basic %s, want %s (%s)", r->what, sw_access_name(v.basic),
	              sw_access_name(r->basic), dump);
	ck_assert_msg(v.oauth == r->oauth, "%s: oauth %s, want %s (%s)", r->what, sw_access_name(v.oauth),
	              sw_access_name(r->oauth), dump);
	if (r->blocked_by == NULL)
		ck_assert_msg(v.blocked_by[0] == '\0', "%s: blocked_by \"%s\"", r->what, v.blocked_by);
	else
		ck_assert_msg(strstr(v.blocked_by, r->blocked_by) != NULL, "%s: blocked_by \"%s\"", r->what,
		              v.blocked_by);
	ck_assert(v.whatif == (r->whatif != NULL));
	/* The layers in order: switches, policy, CA, security defaults. */
	ck_assert(strncmp(json_string_value(json_array_get(v.decided_by, 0)), "tenant switch:", 14) == 0);
	ck_assert(strncmp(json_string_value(json_array_get(v.decided_by, 1)), "mailbox override:", 17) == 0);
	ck_assert(strncmp(json_string_value(json_array_get(v.decided_by, 2)), "authentication policy", 21) == 0);
	ck_assert(strncmp(json_string_value(json_array_get(v.decided_by, json_array_size(v.decided_by) - 1)),
	                  "security defaults:", 18) == 0);
	free(dump);
	sw_verdict_clear(&v);
	sw_ca_policies_clear(&ps);
}
END_TEST

/* The tenant-wide question of legacy-auth-not-blocked. */
static const struct {
	const char *policies;
	bool ca_known;
	int secdefaults;
	int want;
	const char *by, *near;
} tenant_rows[] = {
	{ "", true, SW_YES, SW_YES, "security defaults", NULL },
	{ P_BLOCK, true, SW_NO, SW_YES, "conditional access Block legacy auth", NULL },
	{ "", true, SW_NO, SW_NO, "", NULL },
	{ P_REPORT, true, SW_NO, SW_NO, "", "Block legacy auth (report-only)" },
	{ P_MSMANAGED, true, SW_NO, SW_NO, "", "Microsoft-managed: Block legacy authentication (report-only)" },
	{ P_DISABLED, true, SW_NO, SW_NO, "", "Block legacy auth (disabled)" },
	{ P_EXCL_USER, true, SW_NO, SW_NO, "", "Block legacy auth (excludes 1 user and 0 groups)" },
	{ P_EXCL_GROUP, true, SW_NO, SW_NO, "", "Block legacy auth (excludes 0 users and 1 group)" },
	{ P_NESTED, true, SW_NO, SW_NO, "", "Block legacy for devices (only some users)" },
	{ P_LOCATIONS, true, SW_NO, SW_NO, "", "Block legacy outside (only with locations)" },
	{ P_BROWSER, true, SW_NO, SW_NO, "", NULL },
	{ P_REPORT "," P_BLOCK, true, SW_NO, SW_YES, "conditional access Block legacy auth", NULL },
	{ "", false, SW_NO, SW_UNKNOWN, "", NULL },
	{ "", true, SW_UNKNOWN, SW_UNKNOWN, "", NULL },
	{ "", false, SW_YES, SW_YES, "security defaults", NULL },
};

START_TEST(test_tenant_table)
{
	struct sw_ca_policies ps;
	char by[200];
	json_t *near = NULL;

	load_policies(tenant_rows[_i].policies, &ps);
	int r = sw_legacy_blocked(&ps, tenant_rows[_i].ca_known, tenant_rows[_i].secdefaults, by, sizeof(by), &near);
	ck_assert_msg(r == tenant_rows[_i].want, "row %d: %d", _i, r);
	ck_assert_str_eq(by, tenant_rows[_i].by);
	if (tenant_rows[_i].near == NULL) {
		ck_assert_int_eq(json_array_size(near), 0);
	} else {
		ck_assert_int_eq(json_array_size(near), 1);
		ck_assert_str_eq(json_string_value(json_array_get(near, 0)), tenant_rows[_i].near);
	}
	json_decref(near);
	sw_ca_policies_clear(&ps);
}
END_TEST

/* Graph's documented shapes, paged, with a record that cannot be read. */
START_TEST(test_policies_pages)
{
	struct sw_ca_policies ps = {0};
	struct sw_error err = {0};
	char *next = NULL;
	size_t skipped = 0, len;
	char *body = fixture_load("capolicy", "policies-page1.json", &len);

	ck_assert_int_eq(sw_ca_policies_parse(body, len, &ps, &next, &skipped, &err), 0);
	ck_assert_str_eq(next, "https://graph.microsoft.com/v1.0/identity/conditionalAccess/policies?$skiptoken=2");
	ck_assert_int_eq(skipped, 1);
	ck_assert_int_eq(ps.n, 2);
	ck_assert_str_eq(ps.v[0].name, "Block legacy authentication");
	ck_assert(ps.v[0].state == SW_CA_ENABLED && ps.v[0].block && ps.v[0].legacy && !ps.v[0].modern);
	ck_assert(ps.v[0].exchange && ps.v[0].all_users && !ps.v[0].microsoft_managed);
	ck_assert_str_eq(ps.v[0].unmodelled, "");
	ck_assert_str_eq(json_string_value(json_array_get(ps.v[0].exclude_groups, 0)), G_PRINTERS);
	ck_assert(ps.v[1].state == SW_CA_REPORT_ONLY && ps.v[1].microsoft_managed);
	free(next);
	free(body);
	body = fixture_load("capolicy", "policies-page2.json", &len);
	ck_assert_int_eq(sw_ca_policies_parse(body, len, &ps, &next, &skipped, &err), 0);
	ck_assert_ptr_null(next);
	ck_assert_int_eq(ps.n, 4);
	ck_assert(!ps.v[2].block);
	ck_assert_str_eq(ps.v[2].unmodelled, "roles");
	ck_assert_str_eq(ps.v[3].unmodelled, "locations");
	json_auto_t *groups = sw_ca_policies_groups(&ps);
	ck_assert_int_eq(json_array_size(groups), 1);
	free(body);
	sw_ca_policies_clear(&ps);

	ck_assert_int_eq(sw_ca_policies_parse("{\"value\":{}}", 12, &ps, &next, NULL, &err), -EINVAL);
	ck_assert_int_eq(sw_ca_policies_parse("[", 1, &ps, &next, NULL, &err), -EINVAL);
	ck_assert_int_eq(ps.n, 0);
}
END_TEST

START_TEST(test_secdefaults_members_users)
{
	struct sw_error err = {0};
	size_t len;
	bool on = true;
	char *next = NULL;
	json_t *ids = NULL;
	char *body = fixture_load("capolicy", "secdefaults.json", &len);

	ck_assert_int_eq(sw_secdefaults_parse(body, len, &on, &err), 0);
	ck_assert(!on);
	ck_assert_int_eq(sw_secdefaults_parse("{\"isEnabled\":\"yes\"}", 19, &on, &err), -EINVAL);
	free(body);

	body = fixture_load("capolicy", "members-page1.json", &len);
	ck_assert_int_eq(sw_group_members_parse(body, len, &ids, &next, &err), 0);
	ck_assert_int_eq(json_array_size(ids), 2);
	ck_assert_str_eq(json_string_value(json_array_get(ids, 0)), U_NESTED); /* lower-cased */
	ck_assert_ptr_nonnull(strstr(next, "$skiptoken=X2"));
	json_decref(ids);
	free(next);
	free(body);

	body = fixture_load("capolicy", "getuser.json", &len);
	json_auto_t *root = json_loadb(body, len, 0, NULL);
	json_t *urows = json_object_get(root, "value");
	struct sw_user_policy u;
	ck_assert_int_eq(sw_user_policy_parse(json_array_get(urows, 0), &u), 0);
	ck_assert_str_eq(u.address, "scanner-hq@contoso.com");
	ck_assert_str_eq(u.object_id, U_SCANNER);
	ck_assert_str_eq(u.policy, "Allow Basic SMTP");
	sw_user_policy_clear(&u);
	ck_assert_int_eq(sw_user_policy_parse(json_array_get(urows, 1), &u), 0);
	ck_assert_ptr_null(u.policy);
	sw_user_policy_clear(&u);
	ck_assert_int_eq(sw_user_policy_parse(json_array_get(urows, 2), &u), -EINVAL);
	free(body);
}
END_TEST

struct whatif_seen {
	int n;
	char text[400];
};

static int whatif_cb(const char *policy, bool applies, const char *reasons, void *arg)
{
	struct whatif_seen *w = arg;
	size_t off = strlen(w->text);

	snprintf(w->text + off, sizeof(w->text) - off, "%s=%s:%s;", policy, applies ? "yes" : "no", reasons);
	w->n++;
	return 0;
}

START_TEST(test_whatif)
{
	struct whatif_seen w = {0};
	struct sw_error err = {0};
	size_t len;
	char *body = fixture_load("capolicy", "whatif.json", &len);

	ck_assert_int_eq(sw_whatif_parse(body, len, whatif_cb, &w, &err), 0);
	ck_assert_int_eq(w.n, 2);
	ck_assert_str_eq(w.text, "7359d0e0-d8a9-4afa-8a93-e23e099d7be8=no:users;"
	                         "a8c1e2f3-1111-4a2b-9c3d-4e5f6a7b8c9d=yes:notSet;");
	free(body);

	char *req = sw_whatif_body(U_SCANNER);
	json_auto_t *doc = json_loads(req, 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(doc, "signInConditions"), "clientAppType")),
	                 "other");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(doc, "signInIdentity"), "userId")),
	                 U_SCANNER);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(json_object_get(doc, "signInContext"),
	                                                                  "includeApplications"), 0)),
	                 SW_CA_APP_EXCHANGE);
	free(req);
}
END_TEST

static Suite *capolicy_suite(void)
{
	Suite *s = suite_create("capolicy");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_verdict_table, 0, sizeof(rows) / sizeof(rows[0]));
	tcase_add_loop_test(tc, test_tenant_table, 0, sizeof(tenant_rows) / sizeof(tenant_rows[0]));
	tcase_add_test(tc, test_policies_pages);
	tcase_add_test(tc, test_secdefaults_members_users);
	tcase_add_test(tc, test_whatif);
	suite_add_tcase(s, tc);
	return s;
}

SW_CHECK_MAIN(capolicy_suite)
