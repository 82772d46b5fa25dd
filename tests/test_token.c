/* test_token.c: token URL, scope, form body and token answers. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "fixture.h"
#include "token.h"

static struct sw_token tok;
static struct sw_error err;
static char *body;
static size_t body_len;

/* Read tests/data/token/NAME into body. */
static void load(const char *name)
{
	free(body);
	body = fixture_load("token", name, &body_len);
}

/* Load and parse tests/data/token/NAME at now = 1795161600. */
static int parse(const char *name)
{
	load(name);
	return sw_token_parse(body, body_len, 1795161600, &tok, &err);
}

/* Fresh token and error for every test. */
static void setup(void)
{
	memset(&tok, 0, sizeof(tok));
	memset(&err, 0, sizeof(err));
	body = NULL;
}

/* Release what the test left. */
static void teardown(void)
{
	sw_token_clear(&tok);
	free(body);
	body = NULL;
}

static const struct {
	const char *login, *tenant, *url;
} urls[] = {
	{"https://login.microsoftonline.com", "contoso.onmicrosoft.com",
	 "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"},
	{"https://login.microsoftonline.com/", "contoso.onmicrosoft.com",
	 "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"},
	{"https://login.microsoftonline.us//", "4a1b2c3d-0000-0000-0000-000000000000",
	 "https://login.microsoftonline.us/4a1b2c3d-0000-0000-0000-000000000000/oauth2/v2.0/token"},
	{"http://127.0.0.1:18443", "contoso", "http://127.0.0.1:18443/contoso/oauth2/v2.0/token"},
};

START_TEST(test_url)
{
	char *u = sw_token_url(urls[_i].login, urls[_i].tenant);
	ck_assert_str_eq(u, urls[_i].url);
	free(u);
}
END_TEST

static const struct {
	const char *resource, *scope;
} scopes[] = {
	{"https://graph.microsoft.com", "https://graph.microsoft.com/.default"},
	{"https://graph.microsoft.com/", "https://graph.microsoft.com/.default"},
	{"https://outlook.office365.com", "https://outlook.office365.com/.default"},
	{"http://127.0.0.1:18443/", "http://127.0.0.1:18443/.default"},
};

START_TEST(test_scope)
{
	char *s = sw_token_scope(scopes[_i].resource);
	ck_assert_str_eq(s, scopes[_i].scope);
	free(s);
}
END_TEST

/* Decode one x-www-form-urlencoded value ('+' or %20 for space). */
static char *form_decode(const char *s, size_t n)
{
	char *out = malloc(n + 1), *o = out;
	ck_assert_ptr_nonnull(out);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+') {
			*o++ = ' ';
		} else if (s[i] == '%' && i + 2 < n) {
			unsigned v;
			ck_assert_msg(sscanf(s + i + 1, "%2x", &v) == 1, "bad escape in %.*s", (int)n, s);
			*o++ = (char)v;
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

/* The decoded value of field name in form, or NULL (malloc'd). */
static char *form_field(const char *form, const char *name)
{
	size_t nl = strlen(name);
	const char *p = form;
	while (p != NULL && *p != '\0') {
		const char *end = strchr(p, '&');
		size_t l = end != NULL ? (size_t)(end - p) : strlen(p);
		if (l > nl && strncmp(p, name, nl) == 0 && p[nl] == '=')
			return form_decode(p + nl + 1, l - nl - 1);
		p = end != NULL ? end + 1 : NULL;
	}
	return NULL;
}

START_TEST(test_form_secret)
{
	static const char *secret = "a+b&c=d e%f~x_y.z-";
	char *f = sw_token_form_secret("00000000-0000-0000-0000-000000000000", secret,
	                               "https://graph.microsoft.com/.default");
	char *v;

	ck_assert_ptr_nonnull(f);
	ck_assert_msg(strncmp(f, "grant_type=client_credentials&client_id=00000000-0000-0000-0000-000000000000&", 77) == 0,
	              "%s", f);
	/* Each special character is escaped, never sent raw. */
	ck_assert_ptr_nonnull(strstr(f, "client_secret=a%2Bb%26c%3Dd"));
	ck_assert_ptr_nonnull(strstr(f, "%25f"));
	ck_assert_ptr_nonnull(strstr(f, "scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"));
	v = form_field(f, "client_secret");
	ck_assert_str_eq(v, secret);
	free(v);
	v = form_field(f, "scope");
	ck_assert_str_eq(v, "https://graph.microsoft.com/.default");
	free(v);
	v = form_field(f, "grant_type");
	ck_assert_str_eq(v, "client_credentials");
	free(v);
	free(f);
}
END_TEST

START_TEST(test_form_secret_fields_stay_separate)
{
	/* An '&' or '=' in a value must not create a field of its own. */
	char *f = sw_token_form_secret("id&scope=evil", "s&grant_type=password", "x");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_null(strstr(f, "&scope=evil"));
	ck_assert_ptr_null(strstr(f, "&grant_type=password"));
	ck_assert_ptr_nonnull(strstr(f, "client_id=id%26scope%3Devil&"));
	free(f);
}
END_TEST

START_TEST(test_form_assertion)
{
	/* A JWT is base64url: dots, dashes and underscores pass unescaped. */
	static const char *jwt = "eyJhbGciOiJQUzI1NiJ9.eyJpc3MiOiJ4In0.ab-_cd";
	char *f = sw_token_form_assertion("11111111-1111-1111-1111-111111111111", jwt,
	                                  "https://outlook.office365.com/.default");
	char *v;

	ck_assert_ptr_nonnull(f);
	ck_assert_msg(strncmp(f, "grant_type=client_credentials&client_id=11111111-1111-1111-1111-111111111111&", 77) == 0,
	              "%s", f);
	ck_assert_ptr_nonnull(strstr(f, "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3A"
	                                "jwt-bearer&"));
	ck_assert_ptr_nonnull(strstr(f, "&client_assertion=eyJhbGciOiJQUzI1NiJ9.eyJpc3MiOiJ4In0.ab-_cd"));
	ck_assert_ptr_null(strstr(f, "client_secret"));
	v = form_field(f, "client_assertion_type");
	ck_assert_str_eq(v, "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
	free(v);
	v = form_field(f, "client_assertion");
	ck_assert_str_eq(v, jwt);
	free(v);
	v = form_field(f, "scope");
	ck_assert_str_eq(v, "https://outlook.office365.com/.default");
	free(v);
	free(f);
	ck_assert_ptr_null(sw_token_form_assertion("id", NULL, "x"));
	ck_assert_ptr_null(sw_token_form_assertion(NULL, jwt, "x"));
}
END_TEST

START_TEST(test_form_assertion_fields_stay_separate)
{
	char *f = sw_token_form_assertion("id", "a&client_secret=b", "x&grant_type=password");
	char *v;

	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_null(strstr(f, "&client_secret="));
	ck_assert_ptr_null(strstr(f, "&grant_type=password"));
	v = form_field(f, "client_assertion");
	ck_assert_str_eq(v, "a&client_secret=b");
	free(v);
	free(f);
}
END_TEST

/* Credential failures keep their AADSTS code and first line, for the
 * source's last_error: expired secret, unregistered certificate. */
START_TEST(test_parse_credential_errors)
{
	static const char expired[] =
		"{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000222: The provided client secret keys for "
		"app '11111111-1111-1111-1111-111111111111' are expired. Visit the Azure portal to create new keys for your "
		"app.\\r\\nTrace ID: 0000aaaa\\r\\nCorrelation ID: 1111bbbb\\r\\nTimestamp: 2026-11-20 08:01:12Z\","
		"\"error_codes\":[7000222]}";
	static const char cert[] =
		"{\"error\":\"invalid_client\",\"error_description\":\"AADSTS700027: Client assertion failed signature "
		"validation.\\r\\nTrace ID: 0000aaaa\",\"error_codes\":[700027]}";

	ck_assert_int_eq(sw_token_parse(expired, strlen(expired), 1795161600, &tok, &err), -EACCES);
	ck_assert_msg(strncmp(err.text, "invalid_client: AADSTS7000222: The provided client secret keys for app", 70) == 0,
	              "%s", err.text);
	ck_assert_ptr_null(strstr(err.text, "Trace ID"));
	ck_assert_ptr_null(tok.access_token);
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(sw_token_parse(cert, strlen(cert), 1795161600, &tok, &err), -EACCES);
	ck_assert_str_eq(err.text, "invalid_client: AADSTS700027: Client assertion failed signature validation.");
}
END_TEST

START_TEST(test_parse_ok)
{
	ck_assert_int_eq(parse("ok.json"), 0);
	ck_assert_str_eq(tok.access_token,
	                 "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2dyYXBoLm1pY3Jvc29mdC5jb20ifQ.c2lnbmF0dXJl");
	ck_assert_int_eq(tok.expires_at, 1795161600 + 3599);
}
END_TEST

START_TEST(test_parse_ok_string_expires)
{
	ck_assert_int_eq(parse("ok-string-expires.json"), 0);
	ck_assert_str_eq(tok.access_token, "eyJ.v1.token");
	ck_assert_int_eq(tok.expires_at, 1795161600 + 3600);
}
END_TEST

START_TEST(test_parse_aadsts_error)
{
	ck_assert_int_eq(parse("error-invalid-client.json"), -EACCES);
	ck_assert_ptr_null(tok.access_token);
	ck_assert_ptr_nonnull(strstr(err.text, "AADSTS7000215"));
	ck_assert_msg(strncmp(err.text, "invalid_client: AADSTS7000215: Invalid client secret provided.", 62) == 0,
	              "%s", err.text);
	ck_assert_ptr_null(strstr(err.text, "Trace ID"));
	ck_assert_ptr_null(strstr(err.text, "Correlation ID"));
	ck_assert_ptr_null(strchr(err.text, '\r'));
	ck_assert_ptr_null(strchr(err.text, '\n'));
}
END_TEST

START_TEST(test_parse_error_without_description)
{
	ck_assert_int_eq(parse("error-no-description.json"), -EACCES);
	ck_assert_str_eq(err.text, "unauthorized_client");
}
END_TEST

static const struct {
	const char *file, *text;
} bad[] = {
	{"garbage.txt", "invalid JSON"},
	{"no-token.json", "no access_token"},
	{"truncated.json", "invalid JSON"},
};

START_TEST(test_parse_bad)
{
	ck_assert_int_eq(parse(bad[_i].file), -EINVAL);
	ck_assert_ptr_null(tok.access_token);
	ck_assert_msg(strstr(err.text, bad[_i].text) != NULL, "%s: %s", bad[_i].file, err.text);
	/* Never echo any part of a (possibly partial) token. */
	ck_assert_msg(strstr(err.text, "eyJ") == NULL, "%s leaks: %s", bad[_i].file, err.text);
}
END_TEST

START_TEST(test_parse_bad_inline)
{
	static const char *bodies[] = {
		"[]",
		"\"Bearer\"",
		"{\"token_type\":\"PoP\",\"expires_in\":3599,\"access_token\":\"eyJx\"}",
		"",
	};
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		memset(&err, 0, sizeof(err));
		ck_assert_msg(sw_token_parse(bodies[i], strlen(bodies[i]), 0, &tok, &err) == -EINVAL, "body %zu", i);
		ck_assert_ptr_null(tok.access_token);
		ck_assert_msg(err.text[0] != '\0', "body %zu: no text", i);
		ck_assert_msg(strstr(err.text, "eyJ") == NULL, "body %zu leaks: %s", i, err.text);
	}
}
END_TEST

/* expires_in as a broken or hostile endpoint sends it: a token is still a
 * token, with a lifetime that cannot overflow or set off a request storm
 * (absent or garbage: 300 s; more than a day: a day), and the answer says
 * what was replaced so the daemon can log it. */
static const struct {
	const char *value; /* JSON text, NULL: no expires_in */
	int64_t lifetime;
	const char *fixed;
} lifetimes[] = {
	{"3599", 3599, NULL},
	{"\"3599\"", 3599, NULL},
	{"1", 1, NULL},
	{"299.9", 299, NULL},
	{"86400", 86400, NULL},
	{"86401", SW_TOKEN_MAX_LIFETIME, "over 24 hours"},
	{"9223372036854775807", SW_TOKEN_MAX_LIFETIME, "over 24 hours"},
	{"99999999999999999999999999", SW_TOKEN_MAX_LIFETIME, "over 24 hours"},
	{"1e308", SW_TOKEN_MAX_LIFETIME, "over 24 hours"},
	{"\"9223372036854775808\"", SW_TOKEN_MAX_LIFETIME, "over 24 hours"},
	{"\"1e999\"", SW_TOKEN_MAX_LIFETIME, "over 24 hours"},
	{NULL, SW_TOKEN_DEFAULT_LIFETIME, "absent"},
	{"null", SW_TOKEN_DEFAULT_LIFETIME, "absent"},
	{"0", SW_TOKEN_DEFAULT_LIFETIME, "not positive"},
	{"0.5", SW_TOKEN_DEFAULT_LIFETIME, "not positive"},
	{"-1", SW_TOKEN_DEFAULT_LIFETIME, "not positive"},
	{"-9223372036854775808", SW_TOKEN_DEFAULT_LIFETIME, "not positive"},
	{"\"soon\"", SW_TOKEN_DEFAULT_LIFETIME, "not a number"},
	{"\"nan\"", SW_TOKEN_DEFAULT_LIFETIME, "not a number"},
	{"\"\"", SW_TOKEN_DEFAULT_LIFETIME, "not a number"},
	{"\"3599s\"", SW_TOKEN_DEFAULT_LIFETIME, "not a number"},
	{"true", SW_TOKEN_DEFAULT_LIFETIME, "not a number"},
	{"[3599]", SW_TOKEN_DEFAULT_LIFETIME, "not a number"},
	{"{}", SW_TOKEN_DEFAULT_LIFETIME, "not a number"},
};

START_TEST(test_parse_lifetime)
{
	char text[256];
	const int64_t now = 1795161600;

	if (lifetimes[_i].value != NULL)
		snprintf(text, sizeof(text), "{\"token_type\":\"Bearer\",\"expires_in\":%s,\"access_token\":\"eyJx\"}",
		         lifetimes[_i].value);
	else
		snprintf(text, sizeof(text), "{\"token_type\":\"Bearer\",\"access_token\":\"eyJx\"}");
	ck_assert_msg(sw_token_parse(text, strlen(text), now, &tok, &err) == 0, "%s: %s", text, err.text);
	ck_assert_str_eq(tok.access_token, "eyJx");
	ck_assert_msg(tok.lifetime == lifetimes[_i].lifetime, "%s: lifetime %lld", text, (long long)tok.lifetime);
	ck_assert_int_eq(tok.expires_at, now + lifetimes[_i].lifetime);
	if (lifetimes[_i].fixed == NULL)
		ck_assert_msg(tok.lifetime_fixed == NULL, "%s: fixed %s", text, tok.lifetime_fixed);
	else
		ck_assert_msg(tok.lifetime_fixed != NULL && strcmp(tok.lifetime_fixed, lifetimes[_i].fixed) == 0,
		              "%s: fixed %s", text, tok.lifetime_fixed ? tok.lifetime_fixed : "(null)");
}
END_TEST

/* The token suite. */
static Suite *token_suite(void)
{
	Suite *s = suite_create("token");
	TCase *tc = tcase_create("token");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_url, 0, sizeof(urls) / sizeof(urls[0]));
	tcase_add_loop_test(tc, test_scope, 0, sizeof(scopes) / sizeof(scopes[0]));
	tcase_add_test(tc, test_form_secret);
	tcase_add_test(tc, test_form_secret_fields_stay_separate);
	tcase_add_test(tc, test_form_assertion);
	tcase_add_test(tc, test_form_assertion_fields_stay_separate);
	tcase_add_test(tc, test_parse_ok);
	tcase_add_test(tc, test_parse_ok_string_expires);
	tcase_add_test(tc, test_parse_aadsts_error);
	tcase_add_test(tc, test_parse_credential_errors);
	tcase_add_test(tc, test_parse_error_without_description);
	tcase_add_loop_test(tc, test_parse_bad, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, test_parse_bad_inline);
	tcase_add_loop_test(tc, test_parse_lifetime, 0, sizeof(lifetimes) / sizeof(lifetimes[0]));
	suite_add_tcase(s, tc);
	return s;
}

SW_CHECK_MAIN(token_suite)
