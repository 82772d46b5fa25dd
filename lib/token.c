/* token.c: OAuth2 client-credentials requests and token responses. */
#include "token.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Length of s without its trailing slashes. */
static size_t len_no_slash(const char *s)
{
	size_t n = strlen(s);

	while (n > 0 && s[n - 1] == '/')
		n--;
	return n;
}

/* See token.h. */
char *sw_token_url(const char *login_url, const char *tenant_id)
{
	char *url = NULL;

	if (login_url == NULL || tenant_id == NULL)
		return NULL;
	if (asprintf(&url, "%.*s/%s/oauth2/v2.0/token", (int)len_no_slash(login_url), login_url, tenant_id) < 0)
		return NULL;
	return url;
}

/* See token.h. */
char *sw_token_scope(const char *resource_url)
{
	char *scope = NULL;

	if (resource_url == NULL)
		return NULL;
	if (asprintf(&scope, "%.*s/.default", (int)len_no_slash(resource_url), resource_url) < 0)
		return NULL;
	return scope;
}

/* See token.h. */
char *sw_token_form_secret(const char *client_id, const char *client_secret, const char *scope)
{
	char *id = NULL, *sec = NULL, *sc = NULL, *form = NULL;

	if (client_id == NULL || client_secret == NULL || scope == NULL)
		return NULL;
	id = sw_url_encode(client_id);
	sec = sw_url_encode(client_secret);
	sc = sw_url_encode(scope);
	if (id == NULL || sec == NULL || sc == NULL)
		goto out;
	if (asprintf(&form, "grant_type=client_credentials&client_id=%s&scope=%s&client_secret=%s", id, sc, sec) < 0)
		form = NULL;
out:
	free(id);
	sw_free_secret(sec);
	free(sc);
	return form;
}

/* See token.h. */
char *sw_token_form_assertion(const char *client_id, const char *assertion, const char *scope)
{
	static const char type[] = "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer";
	char *id = NULL, *as = NULL, *sc = NULL, *form = NULL;

	if (client_id == NULL || assertion == NULL || scope == NULL)
		return NULL;
	id = sw_url_encode(client_id);
	as = sw_url_encode(assertion);
	sc = sw_url_encode(scope);
	if (id == NULL || as == NULL || sc == NULL)
		goto out;
	if (asprintf(&form, "grant_type=client_credentials&client_id=%s&scope=%s&client_assertion_type=%s"
	             "&client_assertion=%s", id, sc, type, as) < 0)
		form = NULL;
out:
	free(id);
	sw_free_secret(as);
	free(sc);
	return form;
}

/* Set err (if any) to a token error; never copies any part of the body
 * except error and the first line of error_description. */
static void token_error(struct sw_error *err, const char *code, const char *desc)
{
	size_t l;

	if (err == NULL)
		return;
	if (desc == NULL || desc[0] == '\0') {
		sw_error_set(err, "<token>", 0, "%s", code);
		return;
	}
	/* Azure appends "\r\nTrace ID: ...\r\nCorrelation ID: ..." lines. */
	l = strcspn(desc, "\r\n");
	sw_error_set(err, "<token>", 0, "%s: %.*s", code, (int)l, desc);
}

/* expires_in as the rules of token.h take it into *ret; NULL, or why it
 * was replaced.  Numbers arrive as doubles (JSON_DECODE_INT_AS_REAL), so a
 * value past any integer type still parses and is cut, not refused. */
static const char *token_lifetime(json_t *v, int64_t *ret)
{
	double d;
	char *end;

	*ret = SW_TOKEN_DEFAULT_LIFETIME;
	if (v == NULL || json_is_null(v))
		return "absent";
	if (json_is_number(v)) {
		d = json_number_value(v);
	} else if (json_is_string(v)) {
		/* The v1 endpoint and some proxies send "3599". */
		const char *s = json_string_value(v);
		d = strtod(s, &end);
		if (end == s || *end != '\0')
			return "not a number";
	} else {
		return "not a number";
	}
	if (isnan(d))
		return "not a number";
	if (d < 1)
		return "not positive";
	if (d > SW_TOKEN_MAX_LIFETIME) {
		*ret = SW_TOKEN_MAX_LIFETIME;
		return "over 24 hours";
	}
	*ret = (int64_t)d;
	return NULL;
}

/* See token.h. */
int sw_token_parse(const char *buf, size_t len, int64_t now, struct sw_token *ret, struct sw_error *err)
{
	json_error_t je;
	json_t *root;
	const char *code, *type, *tok, *fixed;
	int64_t lifetime;
	char *copy;
	int r = -EINVAL;

	root = json_loadb(buf, len, JSON_DECODE_INT_AS_REAL, &je);
	if (root == NULL) {
		/* jansson quotes the text "near" the error, which could be part
		 * of a token: keep only its description. */
		char *near = strstr(je.text, " near ");
		if (near != NULL)
			*near = '\0';
		if (err != NULL) {
			sw_error_set(err, "<token>", je.line, "invalid JSON at line %d column %d: %s", je.line,
			             je.column, je.text);
			err->column = je.column;
		}
		return -EINVAL;
	}
	if (!json_is_object(root)) {
		if (err != NULL)
			sw_error_set(err, "<token>", 0, "token answer is not a JSON object");
		goto out;
	}
	code = json_string_value(json_object_get(root, "error"));
	if (code != NULL) {
		token_error(err, code, json_string_value(json_object_get(root, "error_description")));
		r = -EACCES;
		goto out;
	}
	tok = json_string_value(json_object_get(root, "access_token"));
	type = json_string_value(json_object_get(root, "token_type"));
	fixed = token_lifetime(json_object_get(root, "expires_in"), &lifetime);
	if (tok == NULL || tok[0] == '\0') {
		if (err != NULL)
			sw_error_set(err, "<token>", 0, "no access_token in the token answer");
		goto out;
	}
	if (type != NULL && strcasecmp(type, "Bearer") != 0) {
		if (err != NULL)
			sw_error_set(err, "<token>", 0, "unexpected token_type \"%.40s\"", type);
		goto out;
	}
	copy = strdup(tok);
	if (copy == NULL) {
		r = -ENOMEM;
		goto out;
	}
	ret->access_token = copy;
	ret->expires_at = now + lifetime;
	ret->lifetime = lifetime;
	ret->lifetime_fixed = fixed;
	r = 0;
out:
	json_decref(root);
	return r;
}

/* See token.h. */
void sw_token_clear(struct sw_token *t)
{
	if (t == NULL)
		return;
	sw_free_secret(t->access_token);
	memset(t, 0, sizeof(*t));
}
