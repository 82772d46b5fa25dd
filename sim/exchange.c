/* exchange.c: the Exchange Online admin API (InvokeCommand) of the
 * simulator: transport and organization config, CAS mailboxes (with
 * generated ones rendered on the fly) and authentication policies, with
 * scenario changes applied as of the simulator clock. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sys/queue.h>

#include <event2/keyvalq_struct.h>

#include "sim.h"

json_t *exchange_mailbox_row(const struct sim_tenant *t, const char *addr, json_t *fields);
json_t *exchange_policy_row(const struct sim_tenant *t, const char *name, json_t *fields);

/* A CAS mailbox row with the defaults Exchange shows, then fields over it. */
json_t *exchange_mailbox_row(const struct sim_tenant *t, const char *addr, json_t *fields)
{
	char *lower = sim_strdup_lower(addr);
	char ext[37], guid[37], local[256], proxy[320];
	const char *at = strchr(lower, '@');
	snprintf(local, sizeof(local), "%.*s", at ? (int)(at - lower) : (int)strlen(lower), lower);
	sim_guid_of("user", lower, ext);
	sim_guid_of("mailbox", lower, guid);
	snprintf(proxy, sizeof(proxy), "SMTP:%s", addr);
	json_t *row = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:n,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:[s],s:s,s:b,s:s}",
		"Identity", local, "Name", local, "DisplayName", local, "PrimarySmtpAddress", addr,
		"ExternalDirectoryObjectId", ext, "Guid", guid, "SmtpClientAuthenticationDisabled", "ActiveSyncEnabled", 1,
		"OWAEnabled", 1, "OWAforDevicesEnabled", 1, "EwsEnabled", 1, "PopEnabled", 1, "ImapEnabled", 1,
		"MAPIEnabled", 1, "ECPEnabled", 1, "UniversalOutlookEnabled", 1, "EmailAddresses", proxy, "OrganizationId",
		t->name, "IsValid", 1, "ObjectState", "Unchanged");
	if (fields)
		json_object_update(row, fields);
	free(lower);
	return row;
}

json_t *exchange_policy_row(const struct sim_tenant *t, const char *name, json_t *fields)
{
	static const char *const protos[] = { "AllowBasicAuthActiveSync", "AllowBasicAuthAutodiscover",
		"AllowBasicAuthImap", "AllowBasicAuthMapi", "AllowBasicAuthOfflineAddressBook",
		"AllowBasicAuthOutlookService", "AllowBasicAuthPop", "AllowBasicAuthReportingWebServices",
		"AllowBasicAuthRest", "AllowBasicAuthRpc", "AllowBasicAuthSmtp", "AllowBasicAuthWebServices",
		"AllowBasicAuthPowershell", NULL };
	char guid[37];
	sim_guid_of("policy", name, guid);
	json_t *row = json_pack("{s:s,s:s,s:s,s:s}", "Name", name, "Identity", name, "Guid", guid, "OrganizationId",
		t->name);
	for (const char *const *p = protos; *p; p++)
		json_object_set_new(row, *p, json_true());
	json_object_set_new(row, "IsValid", json_true());
	if (fields)
		json_object_update(row, fields);
	return row;
}

static void gen_address(const struct sim_tenant *t, long n, char *buf, size_t len)
{
	snprintf(buf, len, "%s%0*ld@%s", t->gen_prefix, t->gen_width, n, t->domain);
}

/* The number of a generated mailbox address, 0 when it is not one. */
static long gen_number(const struct sim_tenant *t, const char *addr)
{
	if (t->gen_count <= 0)
		return 0;
	size_t pl = strlen(t->gen_prefix);
	if (strncasecmp(addr, t->gen_prefix, pl) != 0)
		return 0;
	const char *p = addr + pl;
	long n = 0;
	int digits = 0;
	while (isdigit((unsigned char)*p)) {
		n = n * 10 + (*p++ - '0');
		digits++;
	}
	/* the canonical spelling only: zero-padded to gen_width digits */
	char canon[32];
	snprintf(canon, sizeof(canon), "%0*ld", t->gen_width, n);
	if (digits != (int)strlen(canon) || *p != '@' || strcasecmp(p + 1, t->domain) != 0)
		return 0;
	return n >= 1 && n <= t->gen_count ? n : 0;
}

static json_t *gen_row(const struct sim_tenant *t, long n)
{
	char addr[320];
	gen_address(t, n, addr, sizeof(addr));
	json_t *row = exchange_mailbox_row(t, addr, NULL);
	json_object_set(row, "SmtpClientAuthenticationDisabled", t->gen_smtp_disabled);
	return row;
}

/* Exchange state as of now: explicit rows (changes applied) and the
 * generated rows that changes touched (object: address -> row or null). */
struct view {
	json_t *transport, *org, *mailboxes, *gen, *policies;
};

static void view_clear(struct view *v)
{
	json_decref(v->transport);
	json_decref(v->org);
	json_decref(v->mailboxes);
	json_decref(v->gen);
	json_decref(v->policies);
}

static long find_row(json_t *arr, const char *key, const char *name)
{
	size_t i;
	json_t *row;
	json_array_foreach(arr, i, row) {
		const char *v = json_string_value(json_object_get(row, key));
		if (v && strcasecmp(v, name) == 0)
			return (long)i;
	}
	return -1;
}

static void view_build(const struct sim_tenant *t, int64_t now, struct view *v)
{
	v->transport = json_pack("{s:s,s:s,s:b,s:b,s:s,s:s,s:[],s:[],s:b}", "Identity", "Transport Settings",
		"Name", "Transport Settings", "SmtpClientAuthenticationDisabled", 0, "AllowLegacyTLSClients", 0,
		"MaxSendSize", "35 MB (36,700,160 bytes)", "MaxReceiveSize", "36 MB (37,748,736 bytes)",
		"InternalSMTPServers", "TLSReceiveDomainSecureList", "ExternalDsnReportsToSender", 1);
	json_object_update(v->transport, t->transport_config);
	char guid[37];
	sim_guid_of("organization", t->name, guid);
	v->org = json_pack("{s:s,s:s,s:s,s:n,s:b,s:b,s:b,s:s}", "Identity", t->name, "Name", t->name, "DisplayName",
		t->domain, "DefaultAuthenticationPolicy", "OAuth2ClientProfileEnabled", 1, "SmtpActionableMessagesEnabled",
		1, "IsDehydrated", 0, "Guid", guid);
	json_object_update(v->org, t->organization_config);
	v->mailboxes = json_copy(t->mailboxes);
	v->policies = json_copy(t->policies);
	v->gen = json_object();

	for (size_t i = 0; i < t->n_changes && t->changes[i].at <= now; i++) {
		const struct sim_change *c = &t->changes[i];
		if (c->kind == CHANGE_CA || c->kind == CHANGE_SECDEFAULTS)
			continue; /* Entra's (capolicy.c) */
		if (c->kind == CHANGE_TRANSPORT) {
			json_object_update(v->transport, c->set);
			continue;
		}
		if (c->kind == CHANGE_ORGANIZATION) {
			json_object_update(v->org, c->set);
			continue;
		}
		json_t *arr = c->kind == CHANGE_MAILBOX ? v->mailboxes : v->policies;
		const char *key = c->kind == CHANGE_MAILBOX ? "PrimarySmtpAddress" : "Name";
		long idx = find_row(arr, key, c->name);
		long gn = c->kind == CHANGE_MAILBOX && idx < 0 ? gen_number(t, c->name) : 0;
		json_t *g = gn ? json_object_get(v->gen, c->name) : NULL;
		if (c->op == OP_REMOVE) {
			if (idx >= 0)
				json_array_remove(arr, (size_t)idx);
			else if (gn)
				json_object_set_new(v->gen, c->name, json_null());
			continue;
		}
		if (idx >= 0) {
			json_t *row = json_deep_copy(json_array_get(arr, (size_t)idx));
			json_object_update(row, c->set);
			json_array_set_new(arr, (size_t)idx, row);
		} else if (gn && !(g && json_is_null(g) && c->op == OP_SET)) {
			json_t *row = g && !json_is_null(g) ? json_deep_copy(g) : gen_row(t, gn);
			json_object_update(row, c->set);
			json_object_set_new(v->gen, c->name, row);
		} else if (c->op == OP_ADD) {
			json_array_append_new(arr, c->kind == CHANGE_MAILBOX ? exchange_mailbox_row(t, c->name, c->set)
									      : exchange_policy_row(t, c->name, c->set));
		}
	}
}

static void exo_error(struct sim_req *r, int status, const char *message, const char *detail)
{
	char date[40];
	sim_iso_format(sim_now(r->sim), false, date, sizeof(date));
	json_t *j = json_pack("{s:{s:s,s:s,s:[{s:s}],s:{s:s,s:s,s:s}}}", "error", "code", "BadRequest", "message",
		message, "details", "message", detail, "innerError", "date", date, "request-id", r->request_id,
		"client-request-id", r->request_id);
	sim_reply_json(r, status, j);
}

/* Start of the answer; rows follow, then exo_finish. */
static struct evbuffer *exo_start(struct sim_req *r, const char *tenant)
{
	struct evbuffer *b = evbuffer_new();
	evbuffer_add_printf(b, "{\"@odata.context\":");
	char ctx[600];
	snprintf(ctx, sizeof(ctx), "https://outlook.office365.com/adminapi/beta/%s/$metadata#Collection(Exchange.GenericHashTable)",
		tenant);
	sim_json_str(b, ctx);
	evbuffer_add_printf(b, ",\"adminapi.warnings@odata.type\":\"#Collection(String)\",\"adminapi.warnings\":[],"
			       "\"value\":[");
	return b;
}

static void exo_finish(struct sim_req *r, struct evbuffer *b, long next)
{
	evbuffer_add(b, "]", 1);
	struct evbuffer *hostile = evbuffer_new();
	if (fault_next_link(r, hostile)) {
		evbuffer_add(b, ",\"@odata.nextLink\":", 19);
		sim_json_str(b, (const char *)evbuffer_pullup(hostile, -1));
	} else if (next >= 0) {
		char link[400];
		snprintf(link, sizeof(link), "%s?$skiptoken=%ld", r->base_url, next);
		evbuffer_add(b, ",\"@odata.nextLink\":", 19);
		sim_json_str(b, link);
	}
	evbuffer_free(hostile);
	evbuffer_add(b, "}", 1);
	sim_reply(r, 200, b);
}

static void add_row(struct sim *sim, struct evbuffer *b, json_t *row, bool *first)
{
	if (!*first)
		evbuffer_add(b, ",", 1);
	*first = false;
	sim_json_add(b, row);
	sim->stats.exchange_rows_served++;
}

/* A mailbox row as Get-CASMailbox shows it: the user's AuthenticationPolicy
 * (kept in the scenario's mailbox row) belongs to Get-User. */
static void add_cas_row(struct sim *sim, struct evbuffer *b, json_t *row, bool *first)
{
	if (json_object_get(row, "AuthenticationPolicy") == NULL) {
		add_row(sim, b, row, first);
		return;
	}
	json_t *copy = json_copy(row);
	json_object_del(copy, "AuthenticationPolicy");
	add_row(sim, b, copy, first);
	json_decref(copy);
}

/* The Get-User row of a mailbox row. */
static void add_user_row(struct sim *sim, struct evbuffer *b, json_t *cas, bool *first)
{
	const char *addr = json_string_value(json_object_get(cas, "PrimarySmtpAddress"));
	json_t *pol = json_object_get(cas, "AuthenticationPolicy");
	json_t *row = json_pack("{s:O,s:O,s:O,s:s,s:s,s:O,s:O,s:s,s:s,s:b}", "Identity",
		json_object_get(cas, "Identity"), "Name", json_object_get(cas, "Name"), "DisplayName",
		json_object_get(cas, "DisplayName"), "UserPrincipalName", addr ? addr : "", "WindowsEmailAddress",
		addr ? addr : "", "ExternalDirectoryObjectId", json_object_get(cas, "ExternalDirectoryObjectId"),
		"AuthenticationPolicy", pol ? pol : json_null(), "RecipientType", "UserMailbox", "RecipientTypeDetails",
		"UserMailbox", "IsValid", 1);
	if (row != NULL)
		add_row(sim, b, row, first);
	json_decref(row);
}

/* The mailbox an Identity names (address, alias, name, object id or
 * guid), new reference, or NULL. */
static json_t *mailbox_lookup(const struct sim_tenant *t, struct view *v, const char *identity)
{
	static const char *const keys[] = { "PrimarySmtpAddress", "Identity", "Name", "ExternalDirectoryObjectId", "Guid",
		NULL };
	json_t *row = NULL;
	for (const char *const *k = keys; *k && row == NULL; k++) {
		long idx = find_row(v->mailboxes, *k, identity);
		if (idx >= 0)
			row = json_incref(json_array_get(v->mailboxes, (size_t)idx));
	}
	char *lower = sim_strdup_lower(identity);
	long gn = row ? 0 : gen_number(t, lower);
	if (gn) {
		json_t *g = json_object_get(v->gen, lower);
		row = g ? (json_is_null(g) ? NULL : json_incref(g)) : gen_row(t, gn);
	}
	free(lower);
	return row;
}

/* Exchange's answer for an Identity that names nothing. */
static void not_found(struct sim_req *r, const struct sim_tenant *t, const char *identity)
{
	char msg[700];
	snprintf(msg, sizeof(msg),
		"|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|The operation "
		"couldn't be performed because object '%s' couldn't be found on '%s'.",
		identity, t->name);
	exo_error(r, 404, "Error executing cmdlet", msg);
}

/* Log a Set-* cmdlet for GET /_sim/exchange-writes. */
static void log_write(struct sim_req *r, const struct sim_tenant *t, const char *cmd, json_t *params,
	const char *target, bool changed)
{
	struct sim_token *tok = token_lookup(r->sim, r->req);
	const char *app = tok && tok->write_app ? t->write_client_id : t->client_id;
	char at[40];
	if (r->sim->exo_writes == NULL)
		r->sim->exo_writes = json_array();
	sim_iso_format(sim_now(r->sim), true, at, sizeof(at));
	json_array_append_new(r->sim->exo_writes, json_pack("{s:s,s:s,s:O,s:s,s:s,s:b,s:s}", "tenant", t->name, "cmdlet",
		cmd, "parameters", params, "target", target, "at", at, "changed", changed, "app_id", app));
}

/* A Set-* answer: no rows, Exchange's warning when nothing changed. */
static void set_answer(struct sim_req *r, const char *tenant, const char *what, bool changed)
{
	char ctx[600], warn[400];
	snprintf(ctx, sizeof(ctx), "https://outlook.office365.com/adminapi/beta/%s/$metadata#Collection(Exchange.GenericHashTable)",
		tenant);
	snprintf(warn, sizeof(warn), "The command completed successfully but no settings of '%s' have been modified.", what);
	json_t *w = changed ? json_array() : json_pack("[s]", warn);
	sim_reply_json(r, 200, json_pack("{s:s,s:s,s:o,s:[]}", "@odata.context", ctx, "adminapi.warnings@odata.type",
		"#Collection(String)", "adminapi.warnings", w, "value"));
}

/* Parameters of a Set-* cmdlet: only these names, the switch a boolean
 * (or null: Set-CASMailbox's $null, follow the tenant). */
static bool set_params_ok(struct sim_req *r, json_t *params, const char *const *allowed, bool null_ok)
{
	const char *key;
	json_t *val;
	json_object_foreach(params, key, val) {
		bool known = false;
		for (const char *const *a = allowed; *a; a++)
			known = known || strcasecmp(*a, key) == 0;
		if (!known) {
			char detail[300];
			snprintf(detail, sizeof(detail),
				"|System.Management.Automation.ParameterBindingException|A parameter cannot be found that "
				"matches parameter name '%s'.", key);
			exo_error(r, 400, "Error executing cmdlet", detail);
			return false;
		}
	}
	json_t *sw = json_object_get(params, "SmtpClientAuthenticationDisabled");
	if (sw == NULL || !(json_is_boolean(sw) || (null_ok && json_is_null(sw)))) {
		exo_error(r, 400, "Error executing cmdlet",
			"|System.Management.Automation.ParameterBindingException|Cannot process argument transformation on "
			"parameter 'SmtpClientAuthenticationDisabled'. Cannot convert value to type System.Boolean.");
		return false;
	}
	return true;
}

/* Set-CASMailbox -Identity X -SmtpClientAuthenticationDisabled B: applied
 * as a change at the simulator's now, so later reads see it. */
static void set_cas_mailbox(struct sim_req *r, const char *tenant, struct sim_tenant *t, struct view *v,
	json_t *params)
{
	static const char *const allowed[] = { "Identity", "SmtpClientAuthenticationDisabled", NULL };
	const char *identity = json_string_value(json_object_get(params, "Identity"));
	char err[512];
	if (identity == NULL || *identity == '\0') {
		exo_error(r, 400, "Error executing cmdlet",
			"|System.Management.Automation.ParameterBindingException|Cannot process command because of one "
			"or more missing mandatory parameters: Identity.");
		return;
	}
	if (!set_params_ok(r, params, allowed, true))
		return;
	json_t *row = mailbox_lookup(t, v, identity);
	if (row == NULL) {
		not_found(r, t, identity);
		return;
	}
	const char *addr = json_string_value(json_object_get(row, "PrimarySmtpAddress"));
	json_t *want = json_object_get(params, "SmtpClientAuthenticationDisabled");
	json_t *have = json_object_get(row, "SmtpClientAuthenticationDisabled");
	bool changed = !(have ? json_equal(have, want) : json_is_null(want));
	json_t *ch = json_pack("[{s:s,s:s,s:{s:O}}]", "at", "0s", "mailbox", addr, "set",
		"SmtpClientAuthenticationDisabled", want);
	if (scenario_add_changes(t, ch, sim_now(r->sim), "Set-CASMailbox", err, sizeof(err)) < 0) {
		exo_error(r, 500, "Error executing cmdlet", err);
	} else {
		log_write(r, t, "Set-CASMailbox", params, addr, changed);
		set_answer(r, tenant, addr, changed);
	}
	json_decref(ch);
	json_decref(row);
}

/* Set-TransportConfig -SmtpClientAuthenticationDisabled B: the tenant switch. */
static void set_transport_config(struct sim_req *r, const char *tenant, struct sim_tenant *t, struct view *v,
	json_t *params)
{
	static const char *const allowed[] = { "SmtpClientAuthenticationDisabled", NULL };
	char err[512];
	if (!set_params_ok(r, params, allowed, false))
		return;
	json_t *want = json_object_get(params, "SmtpClientAuthenticationDisabled");
	bool changed = !json_equal(json_object_get(v->transport, "SmtpClientAuthenticationDisabled"), want);
	json_t *ch = json_pack("[{s:s,s:{s:O}}]", "at", "0s", "transport_config", "SmtpClientAuthenticationDisabled", want);
	if (scenario_add_changes(t, ch, sim_now(r->sim), "Set-TransportConfig", err, sizeof(err)) < 0) {
		exo_error(r, 500, "Error executing cmdlet", err);
	} else {
		log_write(r, t, "Set-TransportConfig", params, "Transport Settings", changed);
		set_answer(r, tenant, "Transport Settings", changed);
	}
	json_decref(ch);
}

static void cas_mailbox(struct sim_req *r, const char *tenant, const struct sim_tenant *t, struct view *v,
	json_t *params, long skip, bool users)
{
	void (*add)(struct sim *, struct evbuffer *, json_t *, bool *) = users ? add_user_row : add_cas_row;
	struct sim *sim = r->sim;
	const char *identity = json_string_value(json_object_get(params, "Identity"));
	json_t *rs = json_object_get(params, "ResultSize");
	long limit = -1;
	if (json_is_integer(rs))
		limit = (long)json_integer_value(rs);
	else if (json_is_string(rs) && strcasecmp(json_string_value(rs), "Unlimited") != 0)
		limit = atol(json_string_value(rs));
	bool first = true;

	if (identity) {
		json_t *row = mailbox_lookup(t, v, identity);
		if (row == NULL) {
			not_found(r, t, identity);
			return;
		}
		struct evbuffer *b = exo_start(r, tenant);
		add(sim, b, row, &first);
		json_decref(row);
		exo_finish(r, b, -1);
		return;
	}

	long n_rows = (long)json_array_size(v->mailboxes);
	long total = n_rows + t->gen_count;
	if (limit >= 0 && limit < total)
		total = limit;
	long end = skip + sim->exchange_page_size;
	if (end > total)
		end = total;
	struct evbuffer *b = exo_start(r, tenant);
	for (long pos = skip; pos < end; pos++) {
		if (pos < n_rows) {
			add(sim, b, json_array_get(v->mailboxes, (size_t)pos), &first);
			continue;
		}
		long gn = pos - n_rows + 1;
		char addr[320];
		gen_address(t, gn, addr, sizeof(addr));
		json_t *g = json_object_get(v->gen, addr);
		if (g && json_is_null(g))
			continue; /* removed */
		if (g) {
			add(sim, b, g, &first);
		} else {
			json_t *row = gen_row(t, gn);
			add(sim, b, row, &first);
			json_decref(row);
		}
	}
	exo_finish(r, b, end < total ? end : -1);
}

void exchange_handle(struct sim_req *r, const char *tenant)
{
	struct sim *sim = r->sim;
	if (evhttp_request_get_command(r->req) != EVHTTP_REQ_POST) {
		sim_graph_error(r, 405, "MethodNotAllowed", "InvokeCommand takes POST.");
		return;
	}
	struct sim_token *tok = token_require(r, TOKEN_EXCHANGE);
	if (tok == NULL)
		return;
	const struct sim_tenant *t = r->tenant;
	if (t == NULL || tok->tenant != t) {
		sim_graph_error(r, 401, "InvalidAuthenticationToken",
			"Access token validation failure: the token was not issued for tenant '%s'.", tenant);
		return;
	}
	const char *anchor = evhttp_find_header(evhttp_request_get_input_headers(r->req), "X-AnchorMailbox");
	if (anchor == NULL || *anchor == '\0') {
		exo_error(r, 400, "The request is missing the X-AnchorMailbox header.",
			"X-AnchorMailbox: APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@TENANT is required.");
		return;
	}
	size_t n;
	char *body = sim_body(r->req, &n);
	json_error_t je;
	json_t *j = json_loadb(body, n, 0, &je);
	free(body);
	json_t *in = json_object_get(j, "CmdletInput");
	const char *cmd = json_string_value(json_object_get(in, "CmdletName"));
	json_t *params = json_object_get(in, "Parameters");
	if (cmd == NULL) {
		exo_error(r, 400, "The request body is not a valid CmdletInput.",
			"expected {\"CmdletInput\":{\"CmdletName\":\"...\",\"Parameters\":{...}}}");
		json_decref(j);
		return;
	}
	if (params != NULL && !json_is_object(params)) {
		exo_error(r, 400, "The request body is not a valid CmdletInput.", "Parameters must be an object");
		json_decref(j);
		return;
	}
	long skip = 0;
	const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->req));
	if (query) {
		struct evkeyvalq q;
		TAILQ_INIT(&q);
		evhttp_parse_query_str(query, &q);
		const char *s = evhttp_find_header(&q, "$skiptoken");
		char *end = NULL;
		if (s)
			skip = strtol(s, &end, 10);
		bool bad = s && (*end || end == s || skip < 0);
		evhttp_clear_headers(&q);
		if (bad) {
			exo_error(r, 400, "Invalid skip token.", "The $skiptoken is not valid.");
			json_decref(j);
			return;
		}
	}

	struct view v = { 0 };
	view_build(t, sim_now(sim), &v);
	bool first = true;
	if (strcasecmp(cmd, "Get-TransportConfig") == 0) {
		struct evbuffer *b = exo_start(r, tenant);
		add_row(sim, b, v.transport, &first);
		exo_finish(r, b, -1);
	} else if (strcasecmp(cmd, "Get-OrganizationConfig") == 0) {
		struct evbuffer *b = exo_start(r, tenant);
		add_row(sim, b, v.org, &first);
		exo_finish(r, b, -1);
	} else if (strcasecmp(cmd, "Get-CASMailbox") == 0) {
		cas_mailbox(r, tenant, t, &v, params, skip, false);
	} else if (strcasecmp(cmd, "Get-User") == 0) {
		cas_mailbox(r, tenant, t, &v, params, skip, true);
	} else if (strncasecmp(cmd, "Set-", 4) == 0 && (strcasecmp(cmd, "Set-CASMailbox") == 0 ||
							     strcasecmp(cmd, "Set-TransportConfig") == 0)) {
		if (t->write_client_id != NULL && !tok->write_app) {
			/* The read app holds no role with the Set-* cmdlets. */
			char msg[160];
			snprintf(msg, sizeof(msg), "User is not allowed to call %s", cmd);
			sim_reply_json(r, 403, json_pack("{s:{s:s,s:s,s:{s:s,s:s}}}", "error", "code", "Forbidden", "message",
				msg, "innererror", "message", msg, "type", "Microsoft.Exchange.Admin.OData.Core.ODataServiceException"));
			view_clear(&v);
			json_decref(j);
			return;
		}
		json_t *p = params ? json_incref(params) : json_object();
		if (strcasecmp(cmd, "Set-CASMailbox") == 0)
			set_cas_mailbox(r, tenant, (struct sim_tenant *)t, &v, p);
		else
			set_transport_config(r, tenant, (struct sim_tenant *)t, &v, p);
		json_decref(p);
	} else if (strcasecmp(cmd, "Get-AuthenticationPolicy") == 0) {
		const char *identity = json_string_value(json_object_get(params, "Identity"));
		struct evbuffer *b = exo_start(r, tenant);
		size_t i;
		json_t *row;
		json_array_foreach(v.policies, i, row) {
			if (identity && strcasecmp(identity, json_string_value(json_object_get(row, "Name"))) != 0)
				continue;
			add_row(sim, b, row, &first);
		}
		exo_finish(r, b, -1);
	} else {
		char detail[300];
		snprintf(detail, sizeof(detail),
			"The term '%s' is not recognized as a cmdlet, function, script file, or operable program.", cmd);
		exo_error(r, 400, "Error executing cmdlet", detail);
	}
	view_clear(&v);
	json_decref(j);
}
