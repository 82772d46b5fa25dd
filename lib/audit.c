/* audit.c: Management Activity API listings and Audit.Exchange content
 * blobs -> the admin changes that touch SMTP AUTH (pure, no clock).
 *
 * Parameters come in two forms: usually an array of {"Name","Value"}
 * (values are strings), in some records one PowerShell-style string
 * ("-Identity \"x\" -SmtpClientAuthenticationDisabled $false").  Both are
 * read into the same list.  A record that cannot be read is counted and
 * described, never fatal; one of no interest is only counted. */
#include "audit.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct sw_name object_names[] = {
	{SW_AUDIT_OBJ_MAILBOX, "mailbox"}, {SW_AUDIT_OBJ_TENANT, "tenant"}, {SW_AUDIT_OBJ_POLICY, "policy"}, {0, NULL},
};
static const struct sw_name effect_names[] = {
	{SW_AUDIT_ON, "on"},         {SW_AUDIT_OFF, "off"},         {SW_AUDIT_INHERIT, "inherit"},
	{SW_AUDIT_ASSIGN, "assign"}, {SW_AUDIT_REMOVED, "removed"}, {0, NULL},
};
static const struct sw_name actor_names[] = {
	{SW_ACTOR_PERSON, "person"},
	{SW_ACTOR_SYSTEM, "system"},
	{SW_ACTOR_MICROSOFT, "microsoft"},
	{SW_ACTOR_APP, "application"},
	{0, NULL},
};

/* See audit.h. */
const char *sw_audit_object_name(enum sw_audit_object o)
{
	return sw_name_of(object_names, (int)o, "unknown");
}

/* See audit.h. */
const char *sw_audit_effect_name(enum sw_audit_effect e)
{
	return sw_name_of(effect_names, (int)e, "unknown");
}

/* See audit.h. */
const char *sw_audit_actor_name(enum sw_audit_actor a)
{
	return sw_name_of(actor_names, (int)a, "unknown");
}

/* How an operation's setting reads. */
enum setting_kind {
	KIND_DISABLED, /* SmtpClientAuthenticationDisabled: True is off */
	KIND_ALLOWED,  /* AllowBasicAuthSmtp: True is on */
	KIND_POLICY,   /* a policy name: assigned */
	KIND_REMOVE,   /* the object goes away */
};

/* The operations that matter (SPEC), and the parameter of each. */
static const struct audit_op {
	const char *operation;
	enum sw_audit_object object;
	const char *setting;
	enum setting_kind kind;
	bool null_ok; /* $null is a value (a mailbox follows the tenant) */
} audit_ops[] = {
	{"Set-CASMailbox", SW_AUDIT_OBJ_MAILBOX, "SmtpClientAuthenticationDisabled", KIND_DISABLED, true},
	{"Set-TransportConfig", SW_AUDIT_OBJ_TENANT, "SmtpClientAuthenticationDisabled", KIND_DISABLED, false},
	{"New-AuthenticationPolicy", SW_AUDIT_OBJ_POLICY, "AllowBasicAuthSmtp", KIND_ALLOWED, false},
	{"Set-AuthenticationPolicy", SW_AUDIT_OBJ_POLICY, "AllowBasicAuthSmtp", KIND_ALLOWED, false},
	{"Remove-AuthenticationPolicy", SW_AUDIT_OBJ_POLICY, NULL, KIND_REMOVE, false},
	{"Set-OrganizationConfig", SW_AUDIT_OBJ_TENANT, "DefaultAuthenticationPolicy", KIND_POLICY, true},
	{"Set-User", SW_AUDIT_OBJ_MAILBOX, "AuthenticationPolicy", KIND_POLICY, true},
};

/* See audit.h. */
int sw_audit_bool(const char *v, bool *ret)
{
	static const char *const yes[] = {"$true", "true", "1"}, *const no[] = {"$false", "false", "0"};

	if (v == NULL || *v == '\0' || strcasecmp(v, "$null") == 0 || strcasecmp(v, "null") == 0)
		return 1;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* See audit.h. */
void sw_audit_ip(const char *v, char *out, size_t n)
{
	const char *colon;
	size_t len;

	if (n == 0)
		return;
	out[0] = '\0';
	if (v == NULL)
		return;
	if (v[0] == '[') {
		len = strcspn(v + 1, "]");
		snprintf(out, n, "%.*s", (int)len, v + 1);
		return;
	}
	colon = strchr(v, ':');
	/* One colon: IPv4 with a port.  More: IPv6 without brackets, whole. */
	if (colon != NULL && strchr(colon + 1, ':') == NULL)
		len = (size_t)(colon - v);
	else
		len = strlen(v);
	snprintf(out, n, "%.*s", (int)len, v);
}

/* Up to n - 1 bytes of a peer's text for a log line: printable ASCII, the
 * rest as '?', and "..." when cut. */
static void printable(const char *v, char *out, size_t n)
{
	size_t i = 0;

	for (; v[i] != '\0' && i + 1 < n; i++) {
		unsigned char c = (unsigned char)v[i];
		out[i] = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? (char)c : '?';
	}
	out[i] = '\0';
	if (v[i] != '\0' && n > 4)
		memcpy(out + n - 4, "...", 4);
}

/* One parameter, whichever form it came in. */
struct param {
	char *name;
	char *value; /* NULL: a switch without a value, or a JSON null */
	bool bare;   /* a -Switch of the string form, named without a value */
};

struct params {
	struct param *v;
	size_t n, cap;
};

static void params_clear(struct params *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].name);
		free(p->v[i].value);
	}
	free(p->v);
	memset(p, 0, sizeof(*p));
}

/* Append a copy of name (nlen bytes) and value (vlen bytes; NULL none). */
static int params_add(struct params *p, const char *name, size_t nlen, const char *value, size_t vlen)
{
	struct param *e;

	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		struct param *n = realloc(p->v, cap * sizeof(*n));
		if (n == NULL)
			return -ENOMEM;
		p->v = n;
		p->cap = cap;
	}
	e = &p->v[p->n];
	e->bare = false;
	e->name = strndup(name, nlen);
	e->value = value ? strndup(value, vlen) : NULL;
	if (e->name == NULL || (value && e->value == NULL)) {
		free(e->name);
		free(e->value);
		return -ENOMEM;
	}
	p->n++;
	return 0;
}

/* The parameter called name (any case), or NULL. */
static const struct param *params_find(const struct params *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcasecmp(p->v[i].name, name) == 0)
			return &p->v[i];
	return NULL;
}

/* One PowerShell word at *s: "double" or 'single' quoted (a doubled quote
 * is one quote), or bare up to white space.  The unquoted text goes to
 * out.  -EINVAL for an unclosed quote. */
static int ps_word(const char **s, struct sw_buf *out)
{
	const char *p = *s;
	char q = *p;

	out->len = 0;
	if (sw_buf_append(out, "", 0) < 0)
		return -ENOMEM;
	if (q == '"' || q == '\'') {
		for (p++;; p++) {
			if (*p == '\0')
				return -EINVAL;
			if (*p == q) {
				if (p[1] != q)
					break;
				p++;
			}
			if (sw_buf_putc(out, *p) < 0)
				return -ENOMEM;
		}
		*s = p + 1;
		return 0;
	}
	while (*p != '\0' && !isspace((unsigned char)*p)) {
		if (sw_buf_putc(out, *p) < 0)
			return -ENOMEM;
		p++;
	}
	*s = p;
	return 0;
}

/* Does s start a parameter name ("-Name")? */
static bool ps_is_name(const char *s)
{
	return s[0] == '-' && isalpha((unsigned char)s[1]);
}

/* Parameters as one PowerShell-style string: -Name value, -Name:value,
 * -Switch.  1 with why when it does not read as parameters. */
static int params_from_string(const char *s, struct params *p, char *why, size_t n)
{
	struct sw_buf word = {0};
	int r = 0;

	for (;;) {
		while (isspace((unsigned char)*s))
			s++;
		if (*s == '\0')
			break;
		if (!ps_is_name(s)) {
			snprintf(why, n, "Parameters string has a value without a -Name");
			r = 1;
			break;
		}
		const char *name = ++s;
		while (isalnum((unsigned char)*s) || *s == '_')
			s++;
		size_t nlen = (size_t)(s - name);
		bool colon = *s == ':';
		if (colon)
			s++;
		else if (*s != '\0' && !isspace((unsigned char)*s)) {
			snprintf(why, n, "Parameters string has an unreadable name");
			r = 1;
			break;
		}
		while (!colon && isspace((unsigned char)*s))
			s++;
		if (!colon && (*s == '\0' || ps_is_name(s))) {
			/* A switch: present means $true. */
			r = params_add(p, name, nlen, NULL, 0);
			if (r == 0)
				p->v[p->n - 1].bare = true;
		} else {
			r = ps_word(&s, &word);
			if (r == -EINVAL) {
				snprintf(why, n, "Parameters string has an unclosed quote");
				r = 1;
				break;
			}
			if (r == 0)
				r = params_add(p, name, nlen, word.data, word.len);
		}
		if (r < 0)
			break;
	}
	sw_buf_clear(&word);
	return r;
}

/* Parameters as the usual array of {"Name","Value"}.  Values are strings;
 * booleans, numbers and null are taken as PowerShell would print them.
 * 1 with why when an entry is not such an object. */
static int params_from_array(const json_t *arr, struct params *p, char *why, size_t n)
{
	const json_t *e;
	size_t i;
	int r;

	json_array_foreach(arr, i, e) {
		const char *name = json_string_value(json_object_get(e, "Name"));
		const json_t *v = json_object_get(e, "Value");
		char num[32];
		const char *value;

		if (!json_is_object(e) || name == NULL) {
			snprintf(why, n, "Parameters[%zu] has no Name", i);
			return 1;
		}
		if (json_is_string(v))
			value = json_string_value(v);
		else if (json_is_true(v))
			value = "True";
		else if (json_is_false(v))
			value = "False";
		else if (json_is_integer(v)) {
			snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
			value = num;
		} else if (v == NULL || json_is_null(v))
			value = NULL;
		else
			value = "?"; /* an object or array: shown, never matched */
		r = params_add(p, name, strlen(name), value, value ? strlen(value) : 0);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The parameters as compact JSON text for the evidence, cut to the
 * limit by keeping the identity and the setting only. */
static char *params_json(const struct params *p, const char *setting)
{
	json_t *arr = json_array();
	char *text = NULL;

	for (int pass = 0; arr != NULL && pass < 2; pass++) {
		json_array_clear(arr);
		for (size_t i = 0; i < p->n; i++) {
			const struct param *e = &p->v[i];
			if (pass == 1 && strcasecmp(e->name, "Identity") != 0 && strcasecmp(e->name, "Name") != 0 &&
			    (setting == NULL || strcasecmp(e->name, setting) != 0))
				continue;
			json_array_append_new(arr, json_pack("{s:s%,s:s%}", "Name", e->name, strlen(e->name), "Value",
			                                     e->value ? e->value : "", e->value ? strlen(e->value) : 0));
		}
		free(text);
		text = json_dumps(arr, JSON_COMPACT | JSON_ENSURE_ASCII);
		if (text != NULL && strlen(text) <= SW_AUDIT_PARAMS_MAX)
			break;
		if (pass == 1 && text != NULL) {
			free(text);
			text = strdup("[]");
		}
	}
	json_decref(arr);
	return text;
}

/* A string member of rec, or NULL when absent, null or empty.  1 with why
 * when it is another type or longer than max. */
static int str_member(const json_t *rec, const char *key, size_t max, const char **ret, char *why, size_t n)
{
	const json_t *j = json_object_get(rec, key);

	*ret = NULL;
	if (j == NULL || json_is_null(j))
		return 0;
	if (!json_is_string(j)) {
		snprintf(why, n, "%s is not a string", key);
		return 1;
	}
	if (json_string_length(j) > max) {
		snprintf(why, n, "%s longer than %zu bytes", key, max);
		return 1;
	}
	*ret = json_string_value(j)[0] ? json_string_value(j) : NULL;
	return 0;
}

/* CreationTime: no zone means UTC (the API writes it so); one with a zone
 * is read as written.  -EINVAL when unreadable. */
static int creation_time(const char *v, int64_t *ret)
{
	char buf[48];
	size_t len = strlen(v);

	if (len == 0 || len >= sizeof(buf) - 1)
		return -EINVAL;
	if (sw_time_parse(v, ret) == 0)
		return 0;
	snprintf(buf, sizeof(buf), "%sZ", v);
	return sw_time_parse(buf, ret);
}

/* Is s a GUID (an application's id standing in for a user)? */
static bool is_guid(const char *s)
{
	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	}
	return true;
}

/* Who made the change: UserId first (NT AUTHORITY\SYSTEM appears with
 * UserType 3 as well), then UserType as a number or its member name. */
static enum sw_audit_actor classify_actor(const json_t *rec, const char *user)
{
	const json_t *ut = json_object_get(rec, "UserType");
	const char *uts = json_string_value(ut);
	long type = -1;

	if (user != NULL && strncasecmp(user, "NT AUTHORITY\\", 13) == 0)
		return SW_ACTOR_SYSTEM;
	if (json_is_integer(ut))
		type = (long)json_integer_value(ut);
	else if (uts != NULL) {
		static const char *const names[] = {"Regular", "Reserved", "Admin", "DcAdmin", "System",
		                                    "Application", "ServicePrincipal", "CustomPolicy", "SystemPolicy"};
		for (long i = 0; i < (long)(sizeof(names) / sizeof(names[0])); i++)
			if (strcasecmp(uts, names[i]) == 0)
				type = i;
	}
	switch (type) {
	case 3:
		return SW_ACTOR_MICROSOFT;
	case 4:
	case 8:
		return SW_ACTOR_SYSTEM;
	case 5:
	case 6:
		return SW_ACTOR_APP;
	default:
		break;
	}
	if (user != NULL && (is_guid(user) || strncasecmp(user, "ServicePrincipal", 16) == 0 ||
	                     strncasecmp(user, "S-1-5-", 6) == 0))
		return SW_ACTOR_APP;
	return SW_ACTOR_PERSON;
}

/* The table entry of an operation (any case), or NULL. */
static const struct audit_op *find_op(const char *operation)
{
	for (size_t i = 0; operation != NULL && i < sizeof(audit_ops) / sizeof(audit_ops[0]); i++)
		if (strcasecmp(audit_ops[i].operation, operation) == 0)
			return &audit_ops[i];
	return NULL;
}

/* Did the cmdlet fail (then it changed nothing)? */
static bool result_failed(const json_t *rec)
{
	const char *rs = json_string_value(json_object_get(rec, "ResultStatus"));

	return rs != NULL && (strcasecmp(rs, "False") == 0 || strcasecmp(rs, "Failed") == 0);
}

/* The setting's value and effect.  1 with why when the value is not in a
 * form the audit log writes. */
static int read_effect(const struct audit_op *op, const struct param *sp, struct sw_audit_change *c, char *why,
                       size_t n)
{
	const char *v = sp ? sp->value : NULL;
	char text[40];
	bool b = false;
	int k;

	c->effect = SW_AUDIT_REMOVED;
	if (op->kind == KIND_REMOVE)
		return 0;
	if (op->kind == KIND_POLICY) {
		c->effect = SW_AUDIT_ASSIGN;
		k = sw_audit_bool(v, &b);
		if (k == 1)
			return 0; /* $null: no policy */
		if (strlen(v) > SW_AUDIT_NAME_MAX) {
			snprintf(why, n, "%s longer than %d bytes", op->setting, SW_AUDIT_NAME_MAX);
			return 1;
		}
		c->value = strdup(v);
		return c->value ? 0 : -ENOMEM;
	}
	/* A switch named without a value (-AllowBasicAuthSmtp) is $true;
	 * SmtpClientAuthenticationDisabled is no switch and needs one. */
	if (sp != NULL && sp->bare && op->kind == KIND_ALLOWED) {
		k = 0;
		b = true;
	} else if (sp != NULL && sp->bare) {
		snprintf(why, n, "%s has no value", op->setting);
		return 1;
	} else {
		k = sw_audit_bool(v, &b);
	}
	if (k < 0 || (k == 1 && !op->null_ok)) {
		printable(v ? v : "", text, sizeof(text));
		snprintf(why, n, "%s value \"%s\" unreadable", op->setting, text);
		return 1;
	}
	if (k == 1) {
		c->effect = SW_AUDIT_INHERIT;
		c->value = strdup("$null");
	} else {
		bool on = op->kind == KIND_ALLOWED ? b : !b;
		c->effect = on ? SW_AUDIT_ON : SW_AUDIT_OFF;
		c->value = strdup(b ? "True" : "False");
	}
	return c->value ? 0 : -ENOMEM;
}

/* Why the record's Id or CreationTime cannot be read, or NULL. */
static const char *key_problem(const json_t *rec, int64_t *ret_created, char *why, size_t n)
{
	const json_t *jid = json_object_get(rec, "Id");
	const json_t *jc = json_object_get(rec, "CreationTime");
	char text[40];

	if (jid == NULL || json_is_null(jid))
		return "no Id";
	if (!json_is_string(jid) || json_string_length(jid) == 0)
		return "Id is not a string";
	if (json_string_length(jid) > SW_AUDIT_ID_MAX)
		return "Id too long";
	if (jc == NULL || json_is_null(jc))
		return "no CreationTime";
	if (!json_is_string(jc))
		return "CreationTime is not a string";
	if (creation_time(json_string_value(jc), ret_created) < 0) {
		printable(json_string_value(jc), text, sizeof(text));
		snprintf(why, n, "CreationTime \"%s\" unreadable", text);
		return why;
	}
	return NULL;
}

/* The object the change is about. */
static int read_subject(const struct audit_op *op, const json_t *rec, const struct params *p,
                        struct sw_audit_change *c, char *why, size_t n)
{
	const struct param *id = params_find(p, "Identity");
	const char *s = NULL;

	if (op->object == SW_AUDIT_OBJ_POLICY && strcasecmp(op->operation, "New-AuthenticationPolicy") == 0 &&
	    params_find(p, "Name") != NULL)
		id = params_find(p, "Name");
	if (id != NULL && id->value != NULL && id->value[0] != '\0')
		s = id->value;
	if (s == NULL && op->object == SW_AUDIT_OBJ_TENANT) {
		s = json_string_value(json_object_get(rec, "OrganizationName"));
		if (s == NULL)
			s = json_string_value(json_object_get(rec, "OrganizationId"));
	}
	if ((s == NULL || *s == '\0') && op->object != SW_AUDIT_OBJ_TENANT)
		s = json_string_value(json_object_get(rec, "ObjectId"));
	/* The tenant is the feed's own: a record need not name it. */
	if ((s == NULL || *s == '\0') && op->object == SW_AUDIT_OBJ_TENANT)
		s = "tenant";
	if (s == NULL || *s == '\0') {
		snprintf(why, n, "%s names no object (no Identity or ObjectId)", op->operation);
		return 1;
	}
	if (strlen(s) > SW_AUDIT_NAME_MAX) {
		snprintf(why, n, "the object is longer than %d bytes", SW_AUDIT_NAME_MAX);
		return 1;
	}
	c->subject = op->object == SW_AUDIT_OBJ_POLICY ? strdup(s) : sw_strdup_lower(s);
	return c->subject ? 0 : -ENOMEM;
}

/* One record: 0 a change (c filled), 2 of no interest, 1 bad (why
 * filled), -ENOMEM. */
static int record_read(const json_t *rec, struct sw_audit_change *c, char *why, size_t n)
{
	struct params p = {0};
	const struct audit_op *op;
	const struct param *sp = NULL;
	const char *problem, *operation, *user, *ip;
	const json_t *jp;
	char ipbuf[SW_AUDIT_IP_MAX + 1];
	int64_t created;
	int r;

	memset(c, 0, sizeof(*c));
	if (!json_is_object(rec)) {
		snprintf(why, n, "not an object");
		return 1;
	}
	problem = key_problem(rec, &created, why, n);
	if (problem != NULL) {
		if (problem != why)
			snprintf(why, n, "%s", problem);
		return 1;
	}
	if (str_member(rec, "Operation", SW_AUDIT_NAME_MAX, &operation, why, n) != 0)
		return 1;
	op = find_op(operation);
	if (op == NULL || result_failed(rec))
		return 2;
	jp = json_object_get(rec, "Parameters");
	if (json_is_array(jp))
		r = params_from_array(jp, &p, why, n);
	else if (json_is_string(jp))
		r = params_from_string(json_string_value(jp), &p, why, n);
	else if (jp == NULL || json_is_null(jp))
		r = 0;
	else {
		snprintf(why, n, "Parameters is neither an array nor a string");
		r = 1;
	}
	if (r != 0)
		goto out;
	if (op->setting != NULL) {
		sp = params_find(&p, op->setting);
		if (sp == NULL) {
			r = 2; /* another setting of the same cmdlet */
			goto out;
		}
	}
	r = str_member(rec, "UserId", SW_AUDIT_NAME_MAX, &user, why, n);
	if (r == 0)
		r = str_member(rec, "ClientIP", SW_AUDIT_IP_MAX, &ip, why, n);
	if (r == 0)
		r = read_subject(op, rec, &p, c, why, n);
	if (r == 0)
		r = read_effect(op, sp, c, why, n);
	if (r != 0)
		goto out;
	sw_audit_ip(ip, ipbuf, sizeof(ipbuf));
	c->id = strdup(json_string_value(json_object_get(rec, "Id")));
	c->created = created;
	c->operation = strdup(op->operation);
	c->user = user ? strdup(user) : NULL;
	c->actor = classify_actor(rec, user);
	c->ip = ipbuf[0] ? strdup(ipbuf) : NULL;
	c->object = op->object;
	c->setting = op->setting ? strdup(op->setting) : NULL;
	c->parameters = params_json(&p, op->setting);
	if (c->id == NULL || c->operation == NULL || (user && c->user == NULL) || (ipbuf[0] && c->ip == NULL) ||
	    (op->setting && c->setting == NULL) || c->parameters == NULL)
		r = -ENOMEM;
out:
	params_clear(&p);
	if (r != 0)
		sw_audit_change_clear(c);
	return r;
}

/* Note a bad record for the log. */
static void note_bad(struct sw_audit_blob *b, size_t index, const json_t *rec, const char *why)
{
	const char *id = json_string_value(json_object_get(rec, "Id"));
	struct sw_audit_bad *k;

	b->bad++;
	if (b->bad > SW_AUDIT_BAD_NOTES)
		return;
	k = &b->bads[b->bad - 1];
	k->index = index;
	printable(id ? id : "", k->id, sizeof(k->id));
	snprintf(k->why, sizeof(k->why), "%s", why);
}

/* Load buf as a JSON array, or fill err. */
static json_t *load_array(const char *buf, size_t len, size_t max, struct sw_error *err, int *ret)
{
	json_error_t je;
	json_t *root = json_loadb(buf, len, 0, &je);

	*ret = -EINVAL;
	if (root == NULL) {
		if (err != NULL) {
			sw_error_set(err, "<body>", je.line, "invalid JSON at line %d column %d: %s", je.line, je.column,
			             je.text);
			err->column = je.column;
		}
		return NULL;
	}
	if (!json_is_array(root)) {
		if (err != NULL)
			sw_error_set(err, "<body>", 0, "not a JSON array");
		json_decref(root);
		return NULL;
	}
	if (json_array_size(root) > max) {
		if (err != NULL)
			sw_error_set(err, "<body>", 0, "%zu entries (at most %zu expected)", json_array_size(root), max);
		json_decref(root);
		*ret = -E2BIG;
		return NULL;
	}
	*ret = 0;
	return root;
}

/* See audit.h. */
int sw_audit_blob_parse(const char *buf, size_t len, struct sw_audit_blob *ret, struct sw_error *err)
{
	struct sw_audit_blob b = {0};
	json_t *root, *rec;
	size_t i;
	int r;

	root = load_array(buf, len, SW_AUDIT_BLOB_MAX, err, &r);
	if (root == NULL)
		return r;
	b.records = json_array_size(root);
	r = -ENOMEM;
	if (b.records > 0 && (b.items = calloc(b.records, sizeof(*b.items))) == NULL)
		goto fail;
	json_array_foreach(root, i, rec) {
		char why[sizeof(b.bads[0].why)] = "";
		int k = record_read(rec, &b.items[b.n], why, sizeof(why));
		if (k < 0)
			goto fail;
		if (k == 0)
			b.n++;
		else if (k == 2)
			b.ignored++;
		else
			note_bad(&b, i, rec, why);
	}
	json_decref(root);
	*ret = b;
	return 0;
fail:
	json_decref(root);
	sw_audit_blob_clear(&b);
	return r;
}

/* See audit.h. */
void sw_audit_change_clear(struct sw_audit_change *c)
{
	if (c == NULL)
		return;
	free(c->id);
	free(c->operation);
	free(c->user);
	free(c->ip);
	free(c->subject);
	free(c->setting);
	free(c->value);
	free(c->parameters);
	memset(c, 0, sizeof(*c));
}

/* See audit.h. */
void sw_audit_blob_clear(struct sw_audit_blob *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->n; i++)
		sw_audit_change_clear(&b->items[i]);
	free(b->items);
	memset(b, 0, sizeof(*b));
}

/* A listing time: "2015-05-23T17:35:00.000Z", with or without a zone. */
static int64_t listing_time(const json_t *v)
{
	int64_t t = 0;
	const char *s = json_string_value(v);

	if (s == NULL || creation_time(s, &t) < 0)
		return 0;
	return t;
}

/* See audit.h. */
int sw_audit_listing_parse(const char *buf, size_t len, struct sw_audit_listing *ret, struct sw_error *err)
{
	struct sw_audit_listing l = {0};
	json_t *root, *e;
	size_t i;
	int r;

	root = load_array(buf, len, SW_AUDIT_LISTING_MAX, err, &r);
	if (root == NULL)
		return r;
	r = -ENOMEM;
	if (json_array_size(root) > 0 && (l.items = calloc(json_array_size(root), sizeof(*l.items))) == NULL)
		goto fail;
	json_array_foreach(root, i, e) {
		const char *id = json_string_value(json_object_get(e, "contentId"));
		const char *uri = json_string_value(json_object_get(e, "contentUri"));
		struct sw_audit_content *c = &l.items[l.n];

		if (id == NULL || uri == NULL || *id == '\0' || *uri == '\0' || strlen(id) > 1024 ||
		    strlen(uri) > 2048) {
			l.bad++;
			continue;
		}
		c->id = strdup(id);
		c->uri = strdup(uri);
		if (c->id == NULL || c->uri == NULL) {
			free(c->id);
			free(c->uri);
			goto fail;
		}
		c->created = listing_time(json_object_get(e, "contentCreated"));
		c->expiration = listing_time(json_object_get(e, "contentExpiration"));
		l.n++;
	}
	json_decref(root);
	*ret = l;
	return 0;
fail:
	json_decref(root);
	sw_audit_listing_clear(&l);
	return r;
}

/* See audit.h. */
void sw_audit_listing_clear(struct sw_audit_listing *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].id);
		free(l->items[i].uri);
	}
	free(l->items);
	memset(l, 0, sizeof(*l));
}

/* See audit.h. */
void sw_audit_error_code(const char *buf, size_t len, char *code, size_t n)
{
	json_t *root = json_loadb(buf, len, 0, NULL);
	const char *c = json_string_value(json_object_get(json_object_get(root, "error"), "code"));

	if (n > 0)
		snprintf(code, n, "%s", c ? c : "");
	json_decref(root);
}
