/* test_jwt.c: certificate credentials (PEM loading, thumbprints, expiry),
 * client assertions verified with OpenSSL against the certificate, and the
 * credential-expiring rule in a real store. */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "alert.h"
#include "check_main.h"
#include "detect_health.h"
#include "fixture.h"
#include "jwt.h"
#include "store.h"

#define NOW 1795000000LL /* 2026-11-18 */
#define DAY 86400
#define URL "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
#define CLIENT "11111111-1111-1111-1111-111111111111"

/* Made once (key generation is slow) before the tests fork. */
static EVP_PKEY *key_a, *key_b;
static X509 *cert_a, *cert_b;

static char tmpdir[64];
static struct sw_cert *cert;
static struct sw_error err;
static char *jwt;

/* A self-signed certificate for key, valid from NOW - 1 day for days. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, long days)
{
	X509 *x = X509_new();
	X509_NAME *name;

	ck_assert_ptr_nonnull(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
	ck_assert_ptr_nonnull(ASN1_TIME_set(X509_getm_notBefore(x), (time_t)(NOW - DAY)));
	ck_assert_ptr_nonnull(ASN1_TIME_set(X509_getm_notAfter(x), (time_t)(NOW + days * DAY)));
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, name);
	ck_assert_int_gt(X509_sign(x, key, EVP_sha256()), 0);
	return x;
}

/* Keys and certificates for the whole suite. */
static void keys_setup(void)
{
	key_a = EVP_RSA_gen(2048);
	key_b = EVP_RSA_gen(2048);
	ck_assert_ptr_nonnull(key_a);
	ck_assert_ptr_nonnull(key_b);
	cert_a = make_cert(key_a, "smtpwatch-a", 365);
	cert_b = make_cert(key_b, "smtpwatch-b", 365);
}

/* Free them. */
static void keys_teardown(void)
{
	X509_free(cert_a);
	X509_free(cert_b);
	EVP_PKEY_free(key_a);
	EVP_PKEY_free(key_b);
}

/* A temporary directory for PEM files. */
static void setup(void)
{
	fixture_tmpdir(tmpdir, sizeof(tmpdir), "jwt");
	memset(&err, 0, sizeof(err));
	cert = NULL;
	jwt = NULL;
}

/* Remove it and what the test left. */
static void teardown(void)
{
	sw_cert_free(cert);
	free(jwt);
	fixture_rmtree(tmpdir);
}

enum { K_PKCS8, K_PKCS1, K_ENCRYPTED };

/* Write NAME in tmpdir with the given PEM parts (NULL ends); returns its path. */
static const char *write_pem(const char *name, mode_t mode, X509 *c1, X509 *c2, EVP_PKEY *key, int key_form,
                             bool key_first)
{
	static char path[128];
	BIO *b;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	b = BIO_new_file(path, "w");
	ck_assert_ptr_nonnull(b);
	for (int pass = 0; pass < 2; pass++) {
		if ((pass == 0) == key_first && key != NULL) {
			if (key_form == K_PKCS8)
				ck_assert_int_eq(PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL), 1);
			else if (key_form == K_PKCS1)
				ck_assert_int_eq(PEM_write_bio_PrivateKey_traditional(b, key, NULL, NULL, 0, NULL, NULL), 1);
			else
				ck_assert_int_eq(PEM_write_bio_PKCS8PrivateKey(b, key, EVP_aes_256_cbc(), NULL, 0, NULL,
				                                               (void *)"hunter2"),
				                 1);
		}
		if ((pass == 0) != key_first) {
			if (c1 != NULL)
				ck_assert_int_eq(PEM_write_bio_X509(b, c1), 1);
			if (c2 != NULL)
				ck_assert_int_eq(PEM_write_bio_X509(b, c2), 1);
		}
	}
	BIO_free(b);
	ck_assert_int_eq(chmod(path, mode), 0);
	return path;
}

/* base64url of the hash of x's DER. */
static void thumb(X509 *x, const EVP_MD *md, char *out)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n;

	ck_assert_int_eq(X509_digest(x, md, d, &n), 1);
	sw_base64url(d, n, out);
}

/* Decode base64url (no padding) into a malloc'd buffer. */
static unsigned char *unb64url(const char *s, size_t n, size_t *ret_len)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char *out = malloc(n * 3 / 4 + 3);
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;

	ck_assert_ptr_nonnull(out);
	for (size_t i = 0; i < n; i++) {
		const char *p = strchr(tab, s[i]);
		ck_assert_msg(p != NULL && s[i] != '\0', "not base64url: %c", s[i]);
		acc = (acc << 6) | (uint32_t)(p - tab);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	out[o] = 0;
	*ret_len = o;
	return out;
}

/* Part i (0 header, 1 claims) of jwt as JSON (new reference). */
static json_t *jwt_part(const char *j, int i)
{
	const char *p = j;
	size_t n, len;
	unsigned char *raw;
	json_t *o;

	for (int k = 0; k < i; k++)
		p = strchr(p, '.') + 1;
	n = strcspn(p, ".");
	raw = unb64url(p, n, &len);
	o = json_loadb((const char *)raw, len, 0, NULL);
	free(raw);
	ck_assert_msg(json_is_object(o), "part %d is not a JSON object", i);
	return o;
}

/* Verify j's signature with the public key of x, as alg says. */
static bool verify(const char *j, X509 *x, enum sw_jwt_alg alg)
{
	const char *dot = strrchr(j, '.');
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char *sig;
	size_t sig_len;
	int ok;

	ck_assert_ptr_nonnull(dot);
	sig = unb64url(dot + 1, strlen(dot + 1), &sig_len);
	ck_assert_int_eq(EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, X509_get0_pubkey(x)), 1);
	if (alg == SW_JWT_PS256) {
		EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
		EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256());
		EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32);
	} else {
		EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING);
	}
	ok = EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)j, (size_t)(dot - j));
	EVP_MD_CTX_free(md);
	free(sig);
	ERR_clear_error();
	return ok == 1;
}

/* Load a PEM of cert_a and key_a into cert. */
static void load_a(void)
{
	const char *p = write_pem("a.pem", 0600, cert_a, NULL, key_a, K_PKCS8, false);

	ck_assert_int_eq(sw_cert_load(p, &cert, &err), 0);
}

START_TEST(test_load)
{
	char x5t[40], s256[64];

	load_a();
	thumb(cert_a, EVP_sha1(), x5t);
	thumb(cert_a, EVP_sha256(), s256);
	ck_assert_str_eq(cert->x5t, x5t);
	ck_assert_str_eq(cert->x5t_s256, s256);
	ck_assert_int_eq(strlen(cert->x5t), 27);
	ck_assert_int_eq(strlen(cert->x5t_s256), 43);
	ck_assert_int_eq(strlen(cert->thumbprint), 40);
	ck_assert_int_eq(cert->not_after, NOW + 365 * DAY);
	ck_assert_int_eq(cert->not_before, NOW - DAY);
	ck_assert_int_eq(cert->bits, 2048);
	ck_assert_str_eq(cert->subject, "CN=smtpwatch-a");
}
END_TEST

/* Every arrangement of the parts that Entra's tools and openssl produce. */
START_TEST(test_load_forms)
{
	const char *p;
	char x5t[40];

	thumb(cert_a, EVP_sha1(), x5t);
	p = write_pem("pkcs1.pem", 0600, cert_a, NULL, key_a, K_PKCS1, false);
	ck_assert_int_eq(sw_cert_load(p, &cert, &err), 0);
	ck_assert_str_eq(cert->x5t, x5t);
	sw_cert_free(cert);
	cert = NULL;
	p = write_pem("keyfirst.pem", 0400, cert_a, NULL, key_a, K_PKCS8, true);
	ck_assert_int_eq(sw_cert_load(p, &cert, &err), 0);
	ck_assert_str_eq(cert->x5t, x5t);
	sw_cert_free(cert);
	cert = NULL;
	/* A chain with another certificate first: the key's own is used. */
	p = write_pem("chain.pem", 0600, cert_b, cert_a, key_a, K_PKCS8, false);
	ck_assert_int_eq(sw_cert_load(p, &cert, &err), 0);
	ck_assert_str_eq(cert->x5t, x5t);
}
END_TEST

static const struct {
	const char *name;
	mode_t mode;
	int c1, c2; /* 0 none, 1 cert_a, 2 cert_b */
	int key;    /* 0 none, 1 key_a, 2 key_b */
	int key_form;
	int r;
	const char *text;
} bad_loads[] = {
	{"group-readable", 0640, 1, 0, 1, K_PKCS8, -EPERM, "readable by group or others"},
	{"world-readable", 0644, 1, 0, 1, K_PKCS8, -EPERM, "chmod 600"},
	{"no-key", 0600, 1, 0, 0, K_PKCS8, -EINVAL, "no private key"},
	{"no-cert", 0600, 0, 0, 1, K_PKCS8, -EINVAL, "no certificate found"},
	{"mismatch", 0600, 2, 0, 1, K_PKCS8, -EINVAL, "no certificate in the file matches the private key"},
	{"encrypted", 0600, 1, 0, 1, K_ENCRYPTED, -EINVAL, "encrypted"},
};

START_TEST(test_load_bad)
{
	X509 *certs[] = {NULL, cert_a, cert_b};
	EVP_PKEY *keys[] = {NULL, key_a, key_b};
	const char *p = write_pem(bad_loads[_i].name, bad_loads[_i].mode, certs[bad_loads[_i].c1],
	                          certs[bad_loads[_i].c2], keys[bad_loads[_i].key], bad_loads[_i].key_form, false);

	ck_assert_int_eq(sw_cert_load(p, &cert, &err), bad_loads[_i].r);
	ck_assert_ptr_null(cert);
	ck_assert_msg(strstr(err.text, bad_loads[_i].text) != NULL, "%s: \"%s\"", bad_loads[_i].name, err.text);
	/* Never any PEM or base64 of the key in the message. */
	ck_assert_ptr_null(strstr(err.text, "MII"));
	ck_assert_ptr_null(strstr(err.text, "-----"));
}
END_TEST

START_TEST(test_load_missing_and_weak)
{
	char path[128];
	EVP_PKEY *small, *ec;
	X509 *x;

	snprintf(path, sizeof(path), "%s/nope.pem", tmpdir);
	ck_assert_int_eq(sw_cert_load(path, &cert, &err), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err.text, "No such file"));

	small = EVP_RSA_gen(1024);
	x = make_cert(small, "small", 30);
	ck_assert_int_eq(sw_cert_load(write_pem("small.pem", 0600, x, NULL, small, K_PKCS8, false), &cert, &err),
	                 -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.text, "1024 bits"));
	X509_free(x);
	EVP_PKEY_free(small);

	ec = EVP_EC_gen("P-256");
	x = make_cert(ec, "ec", 30);
	ck_assert_int_eq(sw_cert_load(write_pem("ec.pem", 0600, x, NULL, ec, K_PKCS8, false), &cert, &err),
	                 -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.text, "not RSA"));
	X509_free(x);
	EVP_PKEY_free(ec);
}
END_TEST

/* The claims every assertion must carry. */
static void check_claims(const char *j, int64_t now)
{
	json_t *c = jwt_part(j, 1);
	regex_t re;
	const char *jti = json_string_value(json_object_get(c, "jti"));

	ck_assert_str_eq(json_string_value(json_object_get(c, "aud")), URL);
	ck_assert_str_eq(json_string_value(json_object_get(c, "iss")), CLIENT);
	ck_assert_str_eq(json_string_value(json_object_get(c, "sub")), CLIENT);
	ck_assert_ptr_nonnull(jti);
	ck_assert_int_eq(regcomp(&re, "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
	                         REG_EXTENDED | REG_NOSUB),
	                 0);
	ck_assert_msg(regexec(&re, jti, 0, NULL, 0) == 0, "jti %s is not a v4 UUID", jti);
	regfree(&re);
	json_int_t nbf = json_integer_value(json_object_get(c, "nbf"));
	json_int_t exp = json_integer_value(json_object_get(c, "exp"));
	ck_assert(json_is_integer(json_object_get(c, "nbf")));
	ck_assert(json_is_integer(json_object_get(c, "exp")));
	ck_assert_int_le(nbf, now);
	ck_assert_int_gt(exp, now);
	ck_assert_int_le(exp - now, 600);
	ck_assert_int_le(exp - nbf, 600);
	json_decref(c);
}

START_TEST(test_ps256)
{
	json_t *h;
	char s256[64];

	load_a();
	ck_assert_int_eq(sw_jwt_assertion(cert, SW_JWT_PS256, CLIENT, URL, NOW, &jwt, &err), 0);
	h = jwt_part(jwt, 0);
	thumb(cert_a, EVP_sha256(), s256);
	ck_assert_str_eq(json_string_value(json_object_get(h, "alg")), "PS256");
	ck_assert_str_eq(json_string_value(json_object_get(h, "typ")), "JWT");
	ck_assert_str_eq(json_string_value(json_object_get(h, "x5t#S256")), s256);
	ck_assert_ptr_null(json_object_get(h, "x5t"));
	json_decref(h);
	check_claims(jwt, NOW);
	ck_assert(verify(jwt, cert_a, SW_JWT_PS256));
	/* Not PKCS#1 v1.5, and not anybody else's key. */
	ck_assert(!verify(jwt, cert_a, SW_JWT_RS256));
	ck_assert(!verify(jwt, cert_b, SW_JWT_PS256));
}
END_TEST

START_TEST(test_rs256)
{
	json_t *h;
	char x5t[40];

	load_a();
	ck_assert_int_eq(sw_jwt_assertion(cert, SW_JWT_RS256, CLIENT, URL, NOW, &jwt, &err), 0);
	h = jwt_part(jwt, 0);
	thumb(cert_a, EVP_sha1(), x5t);
	ck_assert_str_eq(json_string_value(json_object_get(h, "alg")), "RS256");
	ck_assert_str_eq(json_string_value(json_object_get(h, "typ")), "JWT");
	ck_assert_str_eq(json_string_value(json_object_get(h, "x5t")), x5t);
	ck_assert_ptr_null(json_object_get(h, "x5t#S256"));
	json_decref(h);
	check_claims(jwt, NOW);
	ck_assert(verify(jwt, cert_a, SW_JWT_RS256));
	ck_assert(!verify(jwt, cert_a, SW_JWT_PS256));
	ck_assert(!verify(jwt, cert_b, SW_JWT_RS256));
}
END_TEST

/* A signature covers header and claims: any change breaks it. */
START_TEST(test_tampered)
{
	load_a();
	ck_assert_int_eq(sw_jwt_assertion(cert, _i ? SW_JWT_RS256 : SW_JWT_PS256, CLIENT, URL, NOW, &jwt, &err), 0);
	ck_assert(verify(jwt, cert_a, _i ? SW_JWT_RS256 : SW_JWT_PS256));
	char *claims = strchr(jwt, '.') + 1;
	claims[3] = claims[3] == 'A' ? 'B' : 'A';
	ck_assert(!verify(jwt, cert_a, _i ? SW_JWT_RS256 : SW_JWT_PS256));
}
END_TEST

/* Every assertion is new: a fresh jti, the caller's time, no padding. */
START_TEST(test_fresh)
{
	char *second = NULL;
	json_t *a, *b;

	load_a();
	ck_assert_int_eq(sw_jwt_assertion(cert, SW_JWT_PS256, CLIENT, URL, NOW, &jwt, &err), 0);
	ck_assert_int_eq(sw_jwt_assertion(cert, SW_JWT_PS256, CLIENT, URL, NOW + 3000, &second, &err), 0);
	a = jwt_part(jwt, 1);
	b = jwt_part(second, 1);
	ck_assert_str_ne(json_string_value(json_object_get(a, "jti")), json_string_value(json_object_get(b, "jti")));
	ck_assert_int_eq(json_integer_value(json_object_get(b, "nbf")), NOW + 3000);
	check_claims(second, NOW + 3000);
	ck_assert_ptr_null(strchr(jwt, '='));
	ck_assert_ptr_null(strchr(jwt, '+'));
	ck_assert_ptr_null(strchr(jwt, '/'));
	json_decref(a);
	json_decref(b);
	free(second);
}
END_TEST

START_TEST(test_assertion_bad_args)
{
	load_a();
	ck_assert_int_eq(sw_jwt_assertion(cert, SW_JWT_PS256, "", URL, NOW, &jwt, &err), -EINVAL);
	ck_assert_int_eq(sw_jwt_assertion(cert, SW_JWT_PS256, CLIENT, NULL, NOW, &jwt, &err), -EINVAL);
	ck_assert_int_eq(sw_jwt_assertion(NULL, SW_JWT_PS256, CLIENT, URL, NOW, &jwt, &err), -EINVAL);
	ck_assert_ptr_null(jwt);
}
END_TEST

START_TEST(test_alg_parse)
{
	enum sw_jwt_alg a;

	ck_assert_int_eq(sw_jwt_alg_parse("PS256", &a), 0);
	ck_assert_int_eq(a, SW_JWT_PS256);
	ck_assert_int_eq(sw_jwt_alg_parse("RS256", &a), 0);
	ck_assert_int_eq(a, SW_JWT_RS256);
	ck_assert_str_eq(sw_jwt_alg_name(a), "RS256");
	ck_assert_int_eq(sw_jwt_alg_parse("rs256", &a), -EINVAL);
	ck_assert_int_eq(sw_jwt_alg_parse("ES256", &a), -EINVAL);
	ck_assert_int_eq(sw_jwt_alg_parse(NULL, &a), -EINVAL);
}
END_TEST

static const struct {
	int64_t delta; /* not_after - now */
	int days;
} days_left[] = {
	{30 * DAY, 30}, {30 * DAY - 1, 29}, {DAY, 1}, {DAY - 1, 0}, {0, 0}, {-1, -1}, {-DAY, -1}, {-DAY - 1, -2},
};

START_TEST(test_days_left)
{
	struct sw_cert c = {.not_after = NOW + days_left[_i].delta};

	ck_assert_int_eq(sw_cert_days_left(&c, NOW), days_left[_i].days);
	ck_assert_int_eq(sw_cert_days_left_at(NOW + days_left[_i].delta, NOW), days_left[_i].days);
}
END_TEST

START_TEST(test_base64url)
{
	char out[16];

	sw_base64url((const unsigned char *)"\xfb\xff", 2, out);
	ck_assert_str_eq(out, "-_8");
	sw_base64url((const unsigned char *)"abc", 3, out);
	ck_assert_str_eq(out, "YWJj");
	sw_base64url((const unsigned char *)"a", 1, out);
	ck_assert_str_eq(out, "YQ");
}
END_TEST

/* ---- credential-expiring in a real store ---- */

static struct sw_store *store;
static struct sw_config cfg;
static struct sw_sink_config sinks[1];
static struct sw_tenant_config tenant;

/* A store with one sink and one certificate tenant. */
static void store_setup(void)
{
	struct sw_error e = {0};
	char path[128];

	setup();
	snprintf(path, sizeof(path), "%s/smtpwatch.db", tmpdir);
	ck_assert_int_eq(sw_store_open(path, &store, &e), 0);
	memset(&cfg, 0, sizeof(cfg));
	memset(sinks, 0, sizeof(sinks));
	sinks[0].name = "soc";
	sinks[0].type = SW_SINK_WEBHOOK;
	sinks[0].min_severity = SW_SEV_INFO;
	cfg.sinks = sinks;
	cfg.n_sinks = 1;
	memset(&tenant, 0, sizeof(tenant));
	tenant.name = "contoso";
	tenant.client_id = CLIENT;
	tenant.certificate_file = "/etc/smtpwatch/contoso.pem";
	cfg.tenants = &tenant;
	cfg.n_tenants = 1;
}

/* Close it. */
static void store_teardown(void)
{
	sw_store_free(store);
	store = NULL;
	teardown();
}

/* The credential-expiring alert of contoso; false if there is none. */
static bool find(struct sw_alert *a)
{
	int r = sw_store_alert_find(store, "credential-expiring", "contoso", CLIENT, a);

	ck_assert(r == 0 || r == -ENOENT);
	return r == 0;
}

/* Outbox rows queued for the sink so far. */
static int outbox_rows(void)
{
	struct sw_outbox_item it = {0};
	int n = 0;

	/* Deliver each to count them; order does not matter here. */
	while (sw_store_outbox_next(store, "soc", NOW + 400 * DAY, &it) == 0) {
		ck_assert_int_eq(sw_store_outbox_delivered(store, it.id, NOW), 0);
		sw_outbox_item_clear(&it);
		n++;
	}
	return n;
}

START_TEST(test_credential_far)
{
	struct sw_detect_stats st = {0};
	struct sw_alert a = {0};

	ck_assert_int_eq(sw_detect_credential(store, &cfg, &tenant, NOW + 31 * DAY, NOW, &st), 0);
	ck_assert(!find(&a));
	ck_assert_int_eq(st.fired, 0);
	ck_assert_int_eq(outbox_rows(), 0);
}
END_TEST

START_TEST(test_credential_expiring)
{
	struct sw_detect_stats st = {0};
	struct sw_alert a = {0};
	int64_t not_after = NOW + 30 * DAY;

	/* 30 days before notAfter: fires, medium, subject client_id. */
	ck_assert_int_eq(sw_detect_credential(store, &cfg, &tenant, not_after, NOW, &st), 0);
	ck_assert(find(&a));
	ck_assert_int_eq(a.status, SW_ALERT_FIRING);
	ck_assert_int_eq(a.severity, SW_SEV_MEDIUM);
	ck_assert_ptr_nonnull(strstr(a.summary, "expires on 2026-12-18T"));
	ck_assert_ptr_nonnull(strstr(a.summary, "in 30 days"));
	ck_assert_int_eq(json_integer_value(json_object_get(a.evidence, "days_left")), 30);
	ck_assert_ptr_nonnull(strstr(a.remediation, "/etc/smtpwatch/contoso.pem"));
	sw_alert_clear(&a);
	ck_assert_int_eq(st.fired, 1);
	ck_assert_int_eq(outbox_rows(), 1);

	/* The same day again: nothing new. */
	ck_assert_int_eq(sw_detect_credential(store, &cfg, &tenant, not_after, NOW + 3600, &st), 0);
	ck_assert_int_eq(outbox_rows(), 0);

	/* Daily checks: the summary follows the days left; sent again with
	 * 14, 7, 3 and 1 days left, not on the days between. */
	int sent_on[31] = {0}, sent = 0;
	for (int d = 1; d < 30; d++) {
		ck_assert_int_eq(sw_detect_credential(store, &cfg, &tenant, not_after, NOW + d * DAY, &st), 0);
		sent_on[30 - d] = (int)outbox_rows();
		sent += sent_on[30 - d];
	}
	ck_assert_int_eq(sent, 4);
	ck_assert_int_eq(sent_on[14] + sent_on[7] + sent_on[3] + sent_on[1], 4);
	ck_assert(find(&a));
	ck_assert_ptr_nonnull(strstr(a.summary, "in 1 day"));
	sw_alert_clear(&a);

	/* Past notAfter it says so, and sends it once more. */
	ck_assert_int_eq(sw_detect_credential(store, &cfg, &tenant, not_after, not_after + 10, &st), 0);
	ck_assert(find(&a));
	ck_assert_ptr_nonnull(strstr(a.summary, "expired on"));
	sw_alert_clear(&a);
	ck_assert_int_eq(outbox_rows(), 1);
	ck_assert_int_eq(sw_detect_credential(store, &cfg, &tenant, not_after, not_after + DAY, &st), 0);
	ck_assert_int_eq(outbox_rows(), 0);

	/* Unreadable certificate (0): the alert stays as it is. */
	ck_assert_int_eq(sw_detect_credential(store, &cfg, &tenant, 0, not_after + DAY, &st), 0);
	ck_assert(find(&a));
	ck_assert_int_eq(a.status, SW_ALERT_FIRING);
	sw_alert_clear(&a);

	/* A new certificate resolves it, and the resolution is sent. */
	outbox_rows();
	ck_assert_int_eq(sw_detect_credential(store, &cfg, &tenant, NOW + 400 * DAY, not_after + DAY, &st), 0);
	ck_assert(find(&a));
	ck_assert_int_eq(a.status, SW_ALERT_RESOLVED);
	sw_alert_clear(&a);
	ck_assert_int_eq(st.resolved, 1);
	ck_assert_int_eq(outbox_rows(), 1);
}
END_TEST

START_TEST(test_credential_secret_resolves)
{
	struct sw_detect_stats st = {0};
	struct sw_alert a = {0};

	ck_assert_int_eq(sw_detect_credential(store, &cfg, &tenant, NOW + 5 * DAY, NOW, &st), 0);
	/* The tenant moved to a client secret: no certificate to expire. */
	tenant.certificate_file = NULL;
	ck_assert_int_eq(sw_detect_credential(store, &cfg, &tenant, 0, NOW + DAY, &st), 0);
	ck_assert(find(&a));
	ck_assert_int_eq(a.status, SW_ALERT_RESOLVED);
	sw_alert_clear(&a);
	ck_assert_int_eq(st.fired, 1);
	ck_assert_int_eq(st.resolved, 1);
	ck_assert_int_eq(sw_detect_credential(store, &cfg, &tenant, 0, NOW + 2 * DAY, &st), 0);
	ck_assert_int_eq(st.resolved, 1);
}
END_TEST

/* The jwt suite. */
static Suite *jwt_suite(void)
{
	Suite *s = suite_create("jwt");
	TCase *tc = tcase_create("jwt");
	TCase *tcc = tcase_create("credential");

	tcase_add_unchecked_fixture(tc, keys_setup, keys_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_load);
	tcase_add_test(tc, test_load_forms);
	tcase_add_loop_test(tc, test_load_bad, 0, sizeof(bad_loads) / sizeof(bad_loads[0]));
	tcase_add_test(tc, test_load_missing_and_weak);
	tcase_add_test(tc, test_ps256);
	tcase_add_test(tc, test_rs256);
	tcase_add_loop_test(tc, test_tampered, 0, 2);
	tcase_add_test(tc, test_fresh);
	tcase_add_test(tc, test_assertion_bad_args);
	tcase_add_test(tc, test_alg_parse);
	tcase_add_loop_test(tc, test_days_left, 0, sizeof(days_left) / sizeof(days_left[0]));
	tcase_add_test(tc, test_base64url);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(tcc, store_setup, store_teardown);
	tcase_add_test(tcc, test_credential_far);
	tcase_add_test(tcc, test_credential_expiring);
	tcase_add_test(tcc, test_credential_secret_resolves);
	suite_add_tcase(s, tcc);
	return s;
}

SW_CHECK_MAIN(jwt_suite)
