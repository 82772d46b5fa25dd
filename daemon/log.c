/* log.c: the daemon's log lines.
 *
 * Under systemd stderr is a journal stream (JOURNAL_STREAM is set): lines
 * carry sd-daemon "<N>" priority prefixes and no timestamp, journald adds
 * its own.  On a terminal they carry an ISO timestamp and the level. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

#define LOG_LINE_MAX 8192 /* escaped: up to 4 bytes for each byte of the 2 KiB message */

static bool log_debug_on;
static char **log_secrets; /* NULL-terminated, owned; NULL: none */
static struct sw_redactor *log_redactor; /* over log_secrets; NULL: none, or OOM */
static bool log_journal;

/* Decide the format once at start-up. */
void log_init(bool debug)
{
	log_debug_on = debug;
	log_journal = getenv("JOURNAL_STREAM") != NULL;
	setvbuf(stderr, NULL, _IOLBF, 0);
}

/* See log.h.  The strings are copied: the caller's may go with a reload. */
void log_set_secrets(const char *const *secrets)
{
	size_t n = 0;
	char **v = NULL;

	while (secrets != NULL && secrets[n] != NULL)
		n++;
	if (n > 0 && (v = calloc(n + 1, sizeof(*v))) != NULL)
		for (size_t i = 0; i < n; i++)
			if ((v[i] = strdup(secrets[i])) == NULL)
				v[i] = strdup(""); /* keep the list whole; "" redacts nothing */
	sw_redactor_free(log_redactor);
	log_redactor = NULL;
	for (size_t i = 0; log_secrets != NULL && log_secrets[i] != NULL; i++)
		sw_free_secret(log_secrets[i]);
	free(log_secrets);
	log_secrets = v;
	/* Built once: with a secret per tenant, a search per secret in every
	 * line was most of an idle poll's CPU at 1,000 tenants. */
	if (v != NULL)
		log_redactor = sw_redactor_new((const char *const *)v);
}

/* Redact the configured secrets in text. */
static void log_redact_secrets(char *text, size_t size)
{
	if (log_redactor != NULL)
		sw_redactor_apply(log_redactor, text, size);
	else if (log_secrets != NULL)
		sw_redact(text, size, (const char *const *)log_secrets);
}

/* See log.h. */
void log_redact(char *text, size_t size)
{
	log_redact_secrets(text, size);
}

/* Write one line at syslog priority prio.  The message is formatted
 * first, then escaped as a whole (sw_escape_text): a new line in a note, a
 * file name or Microsoft's text would otherwise start a line of its own,
 * under journald one with a "<N>" priority of the sender's choosing.
 * Configured secrets a peer echoed are redacted last. */
static void log_vwrite(int prio, const char *level, const char *fmt, va_list ap)
{
	char raw[2048], msg[LOG_LINE_MAX];
	struct sw_buf b = {0};

	vsnprintf(raw, sizeof(raw), fmt, ap);
	if (sw_text_needs_escape(raw, strlen(raw), 0) && sw_escape_text(&b, raw, strlen(raw), 0) >= 0)
		snprintf(msg, sizeof(msg), "%s", b.data);
	else
		snprintf(msg, sizeof(msg), "%s", raw);
	sw_buf_clear(&b);
	log_redact_secrets(msg, sizeof(msg));
	/* Cut inside a character: drop what is left of it. */
	for (size_t n = strlen(msg); n > 0 && sw_text_needs_escape(msg, n, 0); n--)
		msg[n - 1] = '\0';
	if (log_journal) {
		fprintf(stderr, "<%d>%s\n", prio, msg);
		return;
	}
	char ts[32];
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s smtpwatchd[%s]: %s\n", ts, level, msg);
}

#define LOG_FN(name, prio, level)                \
	void name(const char *fmt, ...)          \
	{                                        \
		va_list ap;                      \
		va_start(ap, fmt);               \
		log_vwrite(prio, level, fmt, ap); \
		va_end(ap);                      \
	}

LOG_FN(log_err, 3, "error")
LOG_FN(log_warn, 4, "warning")
LOG_FN(log_info, 6, "info")

/* Debug lines only with -d. */
void log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_debug_on)
		return;
	va_start(ap, fmt);
	log_vwrite(7, "debug", fmt, ap);
	va_end(ap);
}
