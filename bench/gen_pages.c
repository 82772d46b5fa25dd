/* gen_pages.c: deterministic Graph sign-in pages (see gen_pages.h).  Built
 * with -DGEN_PAGES_MAIN it is also a small program that writes pages to
 * files: gen_pages -n RECORDS -p PAGE_SIZE -o DIR. */
#include "gen_pages.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXO_APP_ID "00000002-0000-0ff1-ce00-000000000000"
#define TENANT_GUID "8a2b7c4d-1e3f-4a5b-9c6d-7e8f9a0b1c2d"

/* splitmix64: a fast, well-mixed hash of a counter. */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* FNV-1a of a string: a user's stable userId. */
static uint64_t fnv(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

/* A GUID-shaped string from two 64-bit values. */
static void guid(uint64_t hi, uint64_t lo, char out[37])
{
	snprintf(out, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(hi >> 32), (unsigned)(hi >> 16) & 0xffff,
	         (unsigned)(hi & 0x0fff) | 0x4000, (unsigned)(lo >> 48 & 0x3fff) | 0x8000,
	         (unsigned long long)(lo & 0xffffffffffffULL));
}

/* ISO-8601 with 7 fractional digits, as Graph writes createdDateTime. */
static void iso7(int64_t t, unsigned frac, char out[80])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	snprintf(out, 80, "%04d-%02d-%02dT%02d:%02d:%02d.%07uZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	         tm.tm_hour, tm.tm_min, tm.tm_sec, frac % 10000000u);
}

/* See gen_pages.h. */
void gen_init(struct gen *g, uint64_t seed, int64_t newest, int64_t step_ms)
{
	memset(g, 0, sizeof(*g));
	g->seed = seed;
	g->newest = newest;
	g->step_ms = step_ms;
	g->dup_every = 50;
}

/* One record: who, from where, and how it went, all from the record number.
 * 55 % registered devices succeeding, 15 % other senders succeeding (Basic
 * auth nobody approved), 30 % failures (a spray over many users, some
 * locked or disabled accounts). */
static int gen_record(struct gen *g, uint64_t k, struct sw_buf *b)
{
	uint64_t h = mix(g->seed ^ mix(k)), h2 = mix(h);
	int64_t created = g->newest - (int64_t)(k * (uint64_t)g->step_ms / 1000);
	unsigned pick = (unsigned)(h % 100);
	char id[37], uid[37], corr[37], when[80], step[80], upn[64], ip[40];
	const char *country, *city, *reason, *detail;
	int code;

	guid(mix(g->seed + k), mix(k ^ 0x5bd1e995ULL), id);
	guid(h2, h, corr);
	if (pick < 55) {
		unsigned dev = (unsigned)(h2 % 20);
		snprintf(upn, sizeof(upn), "scanner-%02u@contoso.com", dev);
		snprintf(ip, sizeof(ip), "203.0.113.%u", dev + 1);
		country = "US", city = "Chicago", code = 0;
	} else if (pick < 70) {
		unsigned u = (unsigned)(h2 % 40);
		snprintf(upn, sizeof(upn), "app-%02u@contoso.com", u);
		snprintf(ip, sizeof(ip), "198.51.100.%u", u + 10);
		country = "NL", city = "Amsterdam", code = 0;
	} else {
		unsigned u = (unsigned)(h2 % 300);
		snprintf(upn, sizeof(upn), "user%03u@contoso.com", u);
		snprintf(ip, sizeof(ip), "45.155.205.%u", (unsigned)(h2 >> 20) % 16);
		country = "RU", city = "Moscow";
		code = pick < 95 ? 50126 : pick < 98 ? 50053 : 50057;
	}
	reason = code == 0       ? "Other."
	         : code == 50126 ? "Error validating credentials due to invalid username or password."
	         : code == 50053 ? "Account is locked because user tried to sign in too many times with an incorrect user ID or password."
	                         : "User account is disabled. The account has been disabled by an administrator.";
	detail = code == 0 ? "Correct password"
	                   : "Invalid username or password or Invalid on-premise username or password.";
	guid(fnv(upn), mix(fnv(upn)), uid);
	iso7(created, (unsigned)(h2 % 10000000u), when);
	iso7(created - 2, (unsigned)(h % 10000000u), step);
	return sw_buf_printf(b,
		"{\"id\":\"%s\",\"createdDateTime\":\"%s\",\"userDisplayName\":\"%.*s\",\"userPrincipalName\":\"%s\","
		"\"userId\":\"%s\",\"appId\":\"" EXO_APP_ID "\",\"appDisplayName\":\"Office 365 Exchange Online\","
		"\"ipAddress\":\"%s\",\"ipAddressFromResourceProvider\":null,\"clientAppUsed\":\"Authenticated SMTP\","
		"\"clientCredentialType\":\"none\",\"correlationId\":\"%s\",\"conditionalAccessStatus\":\"notApplied\","
		"\"originalRequestId\":\"%s\",\"isInteractive\":false,\"tokenIssuerName\":\"\",\"tokenIssuerType\":\"AzureAD\","
		"\"processingTimeInMilliseconds\":%u,\"riskDetail\":\"none\",\"riskLevelAggregated\":\"none\","
		"\"riskLevelDuringSignIn\":\"none\",\"riskState\":\"none\",\"riskEventTypes\":[],\"riskEventTypes_v2\":[],"
		"\"resourceDisplayName\":\"Office 365 Exchange Online\",\"resourceId\":\"" EXO_APP_ID "\","
		"\"resourceTenantId\":\"" TENANT_GUID "\",\"homeTenantId\":\"" TENANT_GUID "\",\"userType\":\"member\","
		"\"crossTenantAccessType\":\"none\",\"incomingTokenType\":\"none\",\"isTenantRestricted\":false,"
		"\"authenticationRequirement\":\"singleFactorAuthentication\",\"authenticationProtocol\":\"ropc\","
		"\"uniqueTokenIdentifier\":\"%016llx%08x\",\"flaggedForReview\":false,"
		"\"status\":{\"errorCode\":%d,\"failureReason\":\"%s\",\"additionalDetails\":null},"
		"\"deviceDetail\":{\"deviceId\":\"\",\"displayName\":\"\",\"operatingSystem\":\"\",\"browser\":\"\","
		"\"isCompliant\":false,\"isManaged\":false,\"trustType\":\"\"},"
		"\"location\":{\"city\":\"%s\",\"state\":null,\"countryOrRegion\":\"%s\","
		"\"geoCoordinates\":{\"altitude\":null,\"latitude\":%.6f,\"longitude\":%.6f}},"
		"\"mfaDetail\":null,\"appliedConditionalAccessPolicies\":[],"
		"\"authenticationDetails\":[{\"authenticationStepDateTime\":\"%s\",\"authenticationMethod\":\"Password\","
		"\"authenticationMethodDetail\":\"Password in the cloud\",\"succeeded\":%s,"
		"\"authenticationStepResultDetail\":\"%s\",\"authenticationStepRequirement\":\"Primary authentication\"}],"
		"\"authenticationProcessingDetails\":[{\"key\":\"Legacy TLS (TLS 1.0, 1.1, 3DES)\",\"value\":\"False\"},"
		"{\"key\":\"Oauth Scope Info\",\"value\":\"\"},{\"key\":\"Is CAE Token\",\"value\":\"False\"}],"
		"\"networkLocationDetails\":[],\"sessionLifetimePolicies\":[],\"authenticationAppDeviceDetails\":null,"
		"\"authenticationAppPolicyEvaluationDetails\":[],\"managedServiceIdentity\":{\"msiType\":\"none\","
		"\"associatedResourceId\":null,\"federatedTokenId\":null,\"federatedTokenIssuer\":null}}",
		id, when, (int)(strchr(upn, '@') - upn), upn, upn, uid, ip, corr, corr, (unsigned)(h % 900 + 40),
		(unsigned long long)h, (unsigned)(h2 >> 40), code, reason, city, country,
		code == 0 ? 41.881832 : 55.755826, code == 0 ? -87.623177 : 37.617300, step,
		code == 0 ? "true" : "false", detail);
}

/* See gen_pages.h. */
int gen_page(struct gen *g, size_t n, bool last, struct sw_buf *out)
{
	int r;

	out->len = 0;
	r = sw_buf_printf(out, "{\"@odata.context\":\"https://graph.microsoft.com/v1.0/$metadata#auditLogs/signIns\","
	                       "\"value\":[");
	for (size_t i = 0; r >= 0 && i < n; i++) {
		/* Microsoft serves some records twice: repeat the previous id. */
		uint64_t k = g->next;
		if (g->dup_every > 0 && g->emitted % g->dup_every == g->dup_every - 1 && k > 0)
			k--;
		else
			g->next++;
		if (i > 0)
			r = sw_buf_putc(out, ',');
		if (r >= 0)
			r = gen_record(g, k, out);
		g->emitted++;
	}
	if (r >= 0 && !last)
		r = sw_buf_printf(out, "],\"@odata.nextLink\":\"https://graph.microsoft.com/v1.0/auditLogs/signIns?"
		                       "$filter=clientAppUsed+eq+%%27Authenticated+SMTP%%27&$top=%zu&$skiptoken=%016llx\"}",
		                  n, (unsigned long long)mix(g->emitted));
	else if (r >= 0)
		r = sw_buf_printf(out, "]}");
	return r < 0 ? -ENOMEM : 0;
}

#ifdef GEN_PAGES_MAIN
#include <unistd.h>

/* gen_pages -n RECORDS -p PAGE_SIZE -o DIR: write DIR/page-00001.json ... */
int main(int argc, char **argv)
{
	size_t records = 2000, page = 1000, pages;
	const char *dir = ".";
	struct sw_buf b = {0};
	struct gen g;
	int c, rc = 1;

	while ((c = getopt(argc, argv, "n:p:o:")) != -1) {
		if (c == 'n')
			records = strtoul(optarg, NULL, 10);
		else if (c == 'p')
			page = strtoul(optarg, NULL, 10);
		else if (c == 'o')
			dir = optarg;
		else
			return 2;
	}
	if (page == 0 || page > 1000) {
		fprintf(stderr, "gen_pages: -p must be 1..1000\n");
		return 2;
	}
	gen_init(&g, 42, (int64_t)time(NULL), 500);
	pages = (records + page - 1) / page;
	for (size_t i = 0; i < pages; i++) {
		size_t n = i + 1 < pages ? page : records - i * page;
		char path[4096];
		FILE *f;

		if (gen_page(&g, n, i + 1 == pages, &b) < 0)
			goto out;
		snprintf(path, sizeof(path), "%s/page-%05zu.json", dir, i + 1);
		f = fopen(path, "w");
		if (f == NULL) {
			perror(path);
			goto out;
		}
		fwrite(b.data, 1, b.len, f);
		if (fclose(f) != 0)
			goto out;
	}
	rc = 0;
out:
	sw_buf_clear(&b);
	return rc;
}
#endif
