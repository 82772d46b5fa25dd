/* util.c: small helpers of smtpwatch-sim: clock, hashes, GUIDs, time
 * parsing and formatting, JSON string output. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "sim.h"

/* The wall clock in ticks. */
int64_t sim_wall_ticks(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * TICKS_PER_SEC + ts.tv_nsec / 100;
}

/* The simulator clock in ticks. */
int64_t sim_now(const struct sim *sim)
{
	return sim_wall_ticks() + sim->clock_offset;
}

/* FNV-1a 64 of a string. */
uint64_t sim_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* The splitmix64 finalizer: a bijection on 64 bits. */
uint64_t sim_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

void sim_guid(uint64_t hi, uint64_t lo, char *buf)
{
	hi = (hi & ~0xf000ULL) | 0x4000ULL;
	lo = (lo & ~(0xc0ULL << 56)) | (0x80ULL << 56);
	snprintf(buf, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(hi >> 32), (unsigned)((hi >> 16) & 0xffff),
		(unsigned)(hi & 0xffff), (unsigned)(lo >> 48), (unsigned long long)(lo & 0xffffffffffffULL));
}

void sim_guid_of(const char *kind, const char *s, char *buf)
{
	uint64_t h = sim_hash(kind) ^ sim_mix(sim_hash(s));
	uint64_t hi = sim_mix(h);
	sim_guid(hi, sim_mix(hi ^ 0x5bd1e995ULL), buf);
}

void sim_random_guid(char *buf)
{
	uint64_t v[2] = { 0, 0 };
	if (getrandom(v, sizeof(v), 0) != sizeof(v)) {
		v[0] = sim_mix((uint64_t)sim_wall_ticks());
		v[1] = sim_mix(v[0]);
	}
	sim_guid(v[0], v[1], buf);
}

/* Days since the epoch of a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

int sim_iso_parse(const char *s, int64_t *ret)
{
	int y, mo, d, h, mi, sec, n = 0;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -EINVAL;
	const char *p = s + n;
	int64_t frac = 0;
	if (*p == '.') {
		int digits = 0;
		p++;
		while (isdigit((unsigned char)*p)) {
			if (digits < 7) {
				frac = frac * 10 + (*p - '0');
				digits++;
			}
			p++;
		}
		if (digits == 0)
			return -EINVAL;
		for (; digits < 7; digits++)
			frac *= 10;
	}
	int64_t off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2 || strlen(p) != 6)
			return -EINVAL;
		off = (oh * 3600 + om * 60) * (*p == '+' ? 1 : -1);
		p += 6;
	} else if (*p != '\0') {
		return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;
	int64_t t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec - off;
	*ret = t * TICKS_PER_SEC + frac;
	return 0;
}

int sim_duration_parse(const char *s, int64_t *ret)
{
	char *end;
	errno = 0;
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	double v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return -EINVAL;
	int64_t mult;
	if (strcmp(end, "") == 0 || strcmp(end, "s") == 0)
		mult = 1;
	else if (strcmp(end, "ms") == 0) {
		*ret = (int64_t)(v * TICKS_PER_SEC / 1000);
		return 0;
	} else if (strcmp(end, "m") == 0)
		mult = 60;
	else if (strcmp(end, "h") == 0)
		mult = 3600;
	else if (strcmp(end, "d") == 0)
		mult = 86400;
	else if (strcmp(end, "w") == 0)
		mult = 7 * 86400;
	else
		return -EINVAL;
	*ret = (int64_t)(v * (double)mult * TICKS_PER_SEC);
	return 0;
}

int sim_time_parse(const char *s, int64_t base, int64_t *ret)
{
	int64_t d;
	if (*s == '-' || *s == '+') {
		if (sim_duration_parse(s + 1, &d) < 0)
			return -EINVAL;
		*ret = base + (*s == '-' ? -d : d);
		return 0;
	}
	if (isdigit((unsigned char)*s) && strchr(s, 'T') == NULL) {
		if (sim_duration_parse(s, &d) < 0)
			return -EINVAL;
		*ret = base + d;
		return 0;
	}
	return sim_iso_parse(s, ret);
}

void sim_iso_format(int64_t ticks, bool frac7, char *buf, size_t n)
{
	int64_t secs = ticks / TICKS_PER_SEC, frac = ticks % TICKS_PER_SEC;
	if (frac < 0) {
		frac += TICKS_PER_SEC;
		secs--;
	}
	time_t t = (time_t)secs;
	struct tm tm;
	gmtime_r(&t, &tm);
	if (frac7)
		snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%07lldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)frac);
	else
		snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void sim_json_str(struct evbuffer *b, const char *s)
{
	if (s == NULL) {
		evbuffer_add(b, "null", 4);
		return;
	}
	evbuffer_add(b, "\"", 1);
	const char *run = s;
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		evbuffer_add(b, run, (size_t)(p - run));
		run = p + 1;
		switch (c) {
		case '"': evbuffer_add(b, "\\\"", 2); break;
		case '\\': evbuffer_add(b, "\\\\", 2); break;
		case '\n': evbuffer_add(b, "\\n", 2); break;
		case '\r': evbuffer_add(b, "\\r", 2); break;
		case '\t': evbuffer_add(b, "\\t", 2); break;
		default: evbuffer_add_printf(b, "\\u%04x", c); break;
		}
	}
	evbuffer_add(b, run, strlen(run));
	evbuffer_add(b, "\"", 1);
}

/* jansson dump callback into an evbuffer. */
static int dump_cb(const char *buffer, size_t size, void *data)
{
	return evbuffer_add(data, buffer, size);
}

void sim_json_add(struct evbuffer *b, const json_t *j)
{
	json_dump_callback(j, dump_cb, b, JSON_COMPACT | JSON_ENCODE_ANY);
}

char *sim_strdup_lower(const char *s)
{
	if (s == NULL)
		return NULL;
	char *r = sim_xstrdup(s);
	for (char *p = r; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return r;
}

void *sim_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL) {
		fprintf(stderr, "smtpwatch-sim: out of memory\n");
		abort();
	}
	return p;
}

void *sim_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL) {
		fprintf(stderr, "smtpwatch-sim: out of memory\n");
		abort();
	}
	return p;
}

char *sim_xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *r = sim_xmalloc(n);
	memcpy(r, s, n);
	return r;
}

bool sim_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	while (p < end) {
		unsigned c = *p;
		size_t len;
		unsigned min;
		if (c < 0x80) {
			p++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			len = 2;
			min = 0x80;
			c &= 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3;
			min = 0x800;
			c &= 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4;
			min = 0x10000;
			c &= 0x07;
		} else {
			return false;
		}
		if ((size_t)(end - p) < len)
			return false;
		for (size_t i = 1; i < len; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			c = (c << 6) | (p[i] & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return false;
		p += len;
	}
	return true;
}
