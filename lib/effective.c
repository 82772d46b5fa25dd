/* effective.c: the evaluator fed from the store (effective.h). */
#include "effective.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* See effective.h. */
int sw_effective_load(struct sw_store *s, const char *tenant, struct sw_effective_ctx *ret)
{
	struct sw_checkpoint cp;
	size_t i;
	json_t *p;
	int r;

	memset(ret, 0, sizeof(*ret));
	ret->s = s;
	ret->tenant = tenant;
	ret->ps.security_defaults = SW_UNKNOWN;
	r = sw_store_tenant_state_get(s, tenant, &ret->state);
	if (r < 0 && r != -ENOENT)
		return r;
	ret->have_state = r == 0 && sw_store_checkpoint_get(s, tenant, "exchange", &cp) == 0 && cp.watermark > 0;
	ret->auth_known = sw_store_checkpoint_get(s, tenant, SW_SOURCE_USERS, &cp) == 0 && cp.watermark > 0;
	ret->default_allows = SW_YES;
	if (ret->state.default_policy[0] != '\0') {
		ret->default_allows = sw_store_auth_policy_allows(s, tenant, ret->state.default_policy);
		if (ret->default_allows == SW_UNKNOWN && !ret->state.policy_allows_basic)
			ret->default_allows = SW_NO;
	}
	r = sw_store_policy_state_get(s, tenant, &ret->ps);
	if (r < 0 && r != -ENOENT)
		return r;
	ret->policies_read = r == 0;
	if (!ret->policies_read)
		ret->ps.security_defaults = SW_UNKNOWN;
	json_array_foreach(ret->ps.policies, i, p) {
		r = sw_ca_policies_add(&ret->ca, p);
		if (r == -ENOMEM) {
			sw_effective_free(ret);
			return r;
		}
	}
	return 0;
}

/* See effective.h. */
void sw_effective_free(struct sw_effective_ctx *c)
{
	sw_policy_state_clear(&c->ps);
	sw_ca_policies_clear(&c->ca);
}

static int member_cb(void *arg, const char *group, const char *user)
{
	struct sw_effective_ctx *c = arg;

	return sw_store_group_member(c->s, c->tenant, group, user);
}

/* Microsoft's What If answer for (policy, user), if one was stored. */
static int whatif_cb(void *arg, const char *policy, const char *user, char *reasons, size_t n)
{
	struct sw_effective_ctx *c = arg;

	return sw_store_whatif_get(c->s, c->tenant, policy, user, reasons, n);
}

/* See effective.h. */
int sw_effective_mailbox(struct sw_effective_ctx *c, const struct sw_mailbox_row *m, struct sw_verdict *ret)
{
	char oid[64] = "", policy[256] = "";
	bool user_known = c->auth_known &&
	                  sw_store_user_policy_get(c->s, c->tenant, m->address, oid, sizeof(oid), policy,
	                                           sizeof(policy)) == 0;
	char *low = sw_strdup_lower(m->object_id[0] ? m->object_id : oid);
	struct sw_layers in = {
		.tenant_disabled = c->state.smtp_disabled,
		.mailbox = m->smtp_disabled,
		.auth_known = user_known,
		.default_policy = c->state.default_policy[0] ? c->state.default_policy : NULL,
		.user_policy = user_known && policy[0] ? policy : NULL,
		.default_allows = c->default_allows,
		.security_defaults = c->policies_read ? c->ps.security_defaults : SW_UNKNOWN,
		.ca_known = c->policies_read && c->ps.ca_known,
		.ca = &c->ca,
		.user_id = low && *low ? low : NULL,
		.member = member_cb,
		.whatif = whatif_cb,
		.arg = c,
	};
	in.user_allows = in.user_policy ? sw_store_auth_policy_allows(c->s, c->tenant, in.user_policy) : SW_YES;
	int r = sw_verdict_eval(&in, ret);
	free(low);
	return r;
}

/* See effective.h. */
int sw_effective_legacy(struct sw_effective_ctx *c, char *by, size_t n, json_t **ret_near)
{
	return sw_legacy_blocked(&c->ca, c->policies_read && c->ps.ca_known,
	                         c->policies_read ? c->ps.security_defaults : SW_UNKNOWN, by, n, ret_near);
}

/* See effective.h. */
void sw_verdict_sentence(const struct sw_verdict *v, char *buf, size_t n)
{
	char layers[320] = "";
	size_t i;
	json_t *s;

	/* The layers that leave it open: unknown or conditional ones. */
	json_array_foreach(v->decided_by, i, s) {
		const char *t = json_string_value(s);
		if (t == NULL || (strstr(t, ": unknown") == NULL && strstr(t, ": conditional") == NULL))
			continue;
		size_t off = strlen(layers);
		snprintf(layers + off, sizeof(layers) - off, "%s%s", off ? "; " : "", t);
	}
	switch (v->basic) {
	case SW_ACCESS_BLOCKED:
		snprintf(buf, n, "Basic SMTP AUTH cannot succeed (blocked by %s)", v->blocked_by);
		break;
	case SW_ACCESS_ALLOWED:
		snprintf(buf, n, "Basic SMTP AUTH can succeed (no layer blocks it)");
		break;
	case SW_ACCESS_CONDITIONAL:
		snprintf(buf, n, "Basic SMTP AUTH can succeed depending on conditions (%s)", layers);
		break;
	default:
		snprintf(buf, n, "whether Basic SMTP AUTH can succeed is unknown (%s)", layers);
		break;
	}
}

/* See effective.h. */
void sw_verdict_json(const struct sw_verdict *v, json_t *obj)
{
	json_object_set_new(obj, "basic_smtp", json_string(sw_access_name(v->basic)));
	json_object_set_new(obj, "oauth_smtp", json_string(sw_access_name(v->oauth)));
	json_object_set(obj, "decided_by", v->decided_by);
	json_object_set_new(obj, "blocked_by", v->blocked_by[0] ? json_string(v->blocked_by) : json_null());
	/* Who evaluated conditional access: Microsoft's What If, or smtpwatch
	 * from the policies it read. */
	json_object_set_new(obj, "conditional_access_evaluated_by", json_string(v->whatif ? "what-if" : "smtpwatch"));
}
