/* assertion.c: certificate credentials of the simulated tenants: the
 * certificates a scenario registers, and the checks the identity platform
 * makes on a client assertion (RFC 7523 JWT, RS256 or PS256). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "sim.h"

#define ASSERTION_MAX_LIFETIME 600 /* seconds from nbf to exp */
#define ASSERTION_SKEW 300         /* an nbf this far ahead is still accepted */

struct sim_cert {
	EVP_PKEY *pub;
	unsigned char sha1[20], sha256[32];
	char thumbprint[41];     /* SHA-1, upper-case hex */
	int64_t not_before, not_after; /* ticks */
};

static int errf(char *err, size_t errn, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int errf(char *err, size_t errn, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errn, fmt, ap);
	va_end(ap);
	return -1;
}

/* An ASN1_TIME as ticks. */
static int asn1_ticks(const ASN1_TIME *t, int64_t *ret)
{
	struct tm tm;
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return -1;
	*ret = (int64_t)timegm(&tm) * TICKS_PER_SEC;
	return 0;
}

static void hex_upper(const unsigned char *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02X", in[i]);
	out[2 * n] = '\0';
}

/* Register every certificate of a PEM text with tenant t (keys in the text are skipped). */
int sim_cert_add_pem(struct sim_tenant *t, const char *pem, size_t len, const char *where, char *err, size_t errn)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	X509 *x;
	int n = 0, r = -1;

	if (b == NULL)
		abort();
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		struct sim_cert *c = calloc(1, sizeof(*c));
		unsigned int dl = 0;
		if (c == NULL)
			abort();
		c->pub = X509_get_pubkey(x);
		if (c->pub == NULL || (!EVP_PKEY_is_a(c->pub, "RSA") && !EVP_PKEY_is_a(c->pub, "RSA-PSS"))) {
			errf(err, errn, "%s: certificate %d has no RSA public key", where, n + 1);
			EVP_PKEY_free(c->pub);
			free(c);
			X509_free(x);
			goto out;
		}
		X509_digest(x, EVP_sha1(), c->sha1, &dl);
		X509_digest(x, EVP_sha256(), c->sha256, &dl);
		hex_upper(c->sha1, sizeof(c->sha1), c->thumbprint);
		if (asn1_ticks(X509_get0_notBefore(x), &c->not_before) < 0 ||
			asn1_ticks(X509_get0_notAfter(x), &c->not_after) < 0) {
			errf(err, errn, "%s: certificate %d has an unreadable validity period", where, n + 1);
			EVP_PKEY_free(c->pub);
			free(c);
			X509_free(x);
			goto out;
		}
		X509_free(x);
		t->certs = sim_xrealloc(t->certs, (t->n_certs + 1) * sizeof(*t->certs));
		t->certs[t->n_certs++] = c;
		n++;
	}
	if (n == 0) {
		errf(err, errn, "%s: no PEM CERTIFICATE block", where);
		goto out;
	}
	r = 0;
out:
	ERR_clear_error();
	BIO_free(b);
	return r;
}

/* The same from a file. */
int sim_cert_add_file(struct sim_tenant *t, const char *path, const char *where, char *err, size_t errn)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;
	int r;

	if (f == NULL)
		return errf(err, errn, "%s: %s: %s", where, path, strerror(errno));
	if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || n > 1024 * 1024 || fseek(f, 0, SEEK_SET) < 0) {
		fclose(f);
		return errf(err, errn, "%s: %s: unreadable or larger than 1 MiB", where, path);
	}
	buf = sim_xmalloc((size_t)n + 1);
	n = (long)fread(buf, 1, (size_t)n, f);
	fclose(f);
	buf[n] = '\0';
	r = sim_cert_add_pem(t, buf, (size_t)n, where, err, errn);
	/* The file may hold the client's key too: leave no copy behind. */
	explicit_bzero(buf, (size_t)n);
	free(buf);
	return r;
}

void sim_certs_free(struct sim_tenant *t)
{
	for (size_t i = 0; i < t->n_certs; i++) {
		EVP_PKEY_free(t->certs[i]->pub);
		free(t->certs[i]);
	}
	free(t->certs);
	t->certs = NULL;
	t->n_certs = 0;
}

/* Decode base64url without padding; malloc'd, NUL-terminated; NULL if not base64url. */
static unsigned char *b64url_decode(const char *s, size_t n, size_t *ret_len)
{
	unsigned char *out = sim_xmalloc(n * 3 / 4 + 3);
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int v;
		char c = s[i];
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '-')
			v = 62;
		else if (c == '_')
			v = 63;
		else {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	if (n % 4 == 1) {
		free(out);
		return NULL;
	}
	out[o] = '\0';
	*ret_len = o;
	return out;
}

/* A base64url JSON object part of a JWT; NULL if it is not one. */
static json_t *jwt_json(const char *s, size_t n)
{
	size_t len;
	unsigned char *raw = b64url_decode(s, n, &len);
	json_t *o;
	if (raw == NULL)
		return NULL;
	o = json_loadb((const char *)raw, len, 0, NULL);
	free(raw);
	if (o != NULL && !json_is_object(o)) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

static int fail(struct assertion_failure *f, int status, const char *error, int code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int fail(struct assertion_failure *f, int status, const char *error, int code, const char *fmt, ...)
{
	va_list ap;
	f->status = status;
	f->error = error;
	f->code = code;
	va_start(ap, fmt);
	vsnprintf(f->msg, sizeof(f->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* The registered certificate a header names (x5t#S256 or x5t); hex of the
 * thumbprint the client sent in sent (for messages). */
static const struct sim_cert *cert_find(const struct sim_tenant *t, json_t *hdr, const char *alg, char *sent,
	size_t n, bool *ret_malformed)
{
	const char *s256 = json_string_value(json_object_get(hdr, "x5t#S256"));
	const char *s1 = json_string_value(json_object_get(hdr, "x5t"));
	unsigned char *d1 = NULL, *d256 = NULL;
	size_t l1 = 0, l256 = 0;
	const struct sim_cert *found = NULL;

	*ret_malformed = false;
	sent[0] = '\0';
	if (s256 != NULL && ((d256 = b64url_decode(s256, strlen(s256), &l256)) == NULL || l256 != 32))
		*ret_malformed = true;
	if (s1 != NULL && ((d1 = b64url_decode(s1, strlen(s1), &l1)) == NULL || l1 != 20))
		*ret_malformed = true;
	/* PS256 names the certificate by its SHA-256 thumbprint. */
	if (*ret_malformed || (s256 == NULL && (s1 == NULL || strcmp(alg, "PS256") == 0)))
		goto out;
	if (d256 != NULL && 2 * l256 < n)
		hex_upper(d256, l256, sent);
	else if (d1 != NULL && 2 * l1 < n)
		hex_upper(d1, l1, sent);
	for (size_t i = 0; i < t->n_certs && found == NULL; i++) {
		const struct sim_cert *c = t->certs[i];
		if (d256 != NULL && memcmp(d256, c->sha256, 32) != 0)
			continue;
		if (d1 != NULL && memcmp(d1, c->sha1, 20) != 0)
			continue;
		found = c;
	}
out:
	free(d1);
	free(d256);
	return found;
}

/* Verify the signature over "header.claims" with the certificate's key. */
static bool signature_ok(const struct sim_cert *c, const char *alg, const char *jwt, size_t signed_len,
	const char *sig64)
{
	size_t sig_len;
	unsigned char *sig = b64url_decode(sig64, strlen(sig64), &sig_len);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	bool ok = false;

	if (sig == NULL || md == NULL)
		goto out;
	if (EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, c->pub) != 1)
		goto out;
	if (strcmp(alg, "PS256") == 0) {
		/* Entra's PS256: MGF1 with SHA-256, salt as long as the hash. */
		if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
			EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1 ||
			EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)
			goto out;
	} else if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
		goto out;
	}
	ok = EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)jwt, signed_len) == 1;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(md);
	free(sig);
	return ok;
}

/* An integer claim; false when absent or not an integer. */
static bool claim_int(json_t *claims, const char *name, int64_t *ret)
{
	json_t *v = json_object_get(claims, name);
	if (!json_is_integer(v))
		return false;
	*ret = json_integer_value(v);
	return true;
}

/* See sim.h. */
int assertion_check(const struct sim_tenant *t, const char *jwt, const char *token_url, int64_t wall_now,
	int64_t sim_now_ticks, struct assertion_failure *f)
{
	const char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	json_t *hdr = NULL, *claims = NULL;
	char sent[80], ts[3][40];
	bool malformed;
	int r = -1;

	if (d1 == NULL || d2 == NULL || strchr(d2 + 1, '.') != NULL || d2[1] == '\0' ||
		(hdr = jwt_json(jwt, (size_t)(d1 - jwt))) == NULL ||
		(claims = jwt_json(d1 + 1, (size_t)(d2 - d1 - 1))) == NULL) {
		fail(f, 401, "invalid_client", 50027, "JWT token is invalid or malformed.");
		goto out;
	}
	const char *alg = json_string_value(json_object_get(hdr, "alg"));
	if (alg == NULL || (strcmp(alg, "RS256") != 0 && strcmp(alg, "PS256") != 0)) {
		fail(f, 401, "invalid_client", 5002738,
			"Invalid JWT token. '%s' is not a supported signature algorithm. Supported signing algorithms are: "
			"'RS256, PS256'",
			alg ? alg : "(none)");
		goto out;
	}
	const struct sim_cert *c = cert_find(t, hdr, alg, sent, sizeof(sent), &malformed);
	if (malformed) {
		fail(f, 401, "invalid_client", 50027, "JWT token is invalid or malformed: a thumbprint header is not a "
			"base64url SHA-1 (x5t) or SHA-256 (x5t#S256) hash.");
		goto out;
	}
	if (c == NULL) {
		fail(f, 401, "invalid_client", 700027,
			"The certificate with identifier used to sign the client assertion is not registered on "
			"application. [Reason - The key was not found., Thumbprint of key used by client: '%s'%s, Please "
			"visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id "
			"'%s'.]",
			sent[0] ? sent : "(none)", strcmp(alg, "PS256") == 0 ? " (PS256 needs x5t#S256)" : "", t->client_id);
		goto out;
	}
	if (sim_now_ticks > c->not_after || sim_now_ticks < c->not_before) {
		sim_iso_format(c->not_after, false, ts[0], sizeof(ts[0]));
		fail(f, 401, "invalid_client", 700027,
			"The certificate with identifier used to sign the client assertion is expired on application. "
			"[Reason - The certificate is not within its validity period (until %s)., Thumbprint of key used "
			"by client: '%s']",
			ts[0], sent);
		goto out;
	}
	if (!signature_ok(c, alg, jwt, (size_t)(d2 - jwt), d2 + 1)) {
		fail(f, 401, "invalid_client", 700027,
			"Client assertion failed signature validation. [Reason - The provided signature value did not "
			"match the expected signature value., Thumbprint of key used by client: '%s', Found key "
			"'Start=%lld, End=%lld']",
			sent, (long long)(c->not_before / TICKS_PER_SEC), (long long)(c->not_after / TICKS_PER_SEC));
		goto out;
	}
	const char *iss = json_string_value(json_object_get(claims, "iss"));
	const char *sub = json_string_value(json_object_get(claims, "sub"));
	if (iss == NULL || sub == NULL || strcasecmp(iss, t->client_id) != 0 || strcasecmp(sub, t->client_id) != 0) {
		fail(f, 401, "invalid_client", 700021,
			"Client assertion application identifier doesn't match 'client_id' parameter. Review the "
			"documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/"
			"active-directory-certificate-credentials .");
		goto out;
	}
	const char *aud = json_string_value(json_object_get(claims, "aud"));
	if (aud == NULL || strcasecmp(aud, token_url) != 0) {
		fail(f, 401, "invalid_client", 700027,
			"Client assertion contains an invalid audience claim '%s'; expected the token endpoint '%s'.",
			aud ? aud : "(none)", token_url);
		goto out;
	}
	const char *jti = json_string_value(json_object_get(claims, "jti"));
	if (jti == NULL || jti[0] == '\0') {
		fail(f, 401, "invalid_client", 50027, "JWT token is invalid or malformed: no jti claim.");
		goto out;
	}
	int64_t now = wall_now / TICKS_PER_SEC, exp, nbf, start;
	if (!claim_int(claims, "exp", &exp)) {
		fail(f, 401, "invalid_client", 50027, "JWT token is invalid or malformed: no exp claim.");
		goto out;
	}
	if (claim_int(claims, "nbf", &nbf))
		start = nbf;
	else if (!claim_int(claims, "iat", &start))
		start = now;
	if (exp <= now || start > now + ASSERTION_SKEW || exp - start > ASSERTION_MAX_LIFETIME) {
		sim_iso_format(now * TICKS_PER_SEC, false, ts[0], sizeof(ts[0]));
		sim_iso_format(start * TICKS_PER_SEC, false, ts[1], sizeof(ts[1]));
		sim_iso_format(exp * TICKS_PER_SEC, false, ts[2], sizeof(ts[2]));
		fail(f, 401, "invalid_client", 700024,
			"Client assertion is not within its valid time range. Current time: %s, assertion valid from %s, "
			"expiry time of assertion %s.%s",
			ts[0], ts[1], ts[2],
			exp - start > ASSERTION_MAX_LIFETIME ? " Its lifetime must not exceed 10 minutes." : "");
		goto out;
	}
	r = 0;
out:
	json_decref(hdr);
	json_decref(claims);
	return r;
}
