/* log.c: the daemon's log lines.
 *
 * Under systemd stderr is a journal stream (JOURNAL_STREAM is set): lines
 * carry sd-daemon "<N>" priority prefixes and no timestamp, journald adds
 * its own.  On a terminal they carry an ISO timestamp and the level. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static bool log_debug_on;
static bool log_journal;

/* Decide the format once at start-up. */
void log_init(bool debug)
{
	log_debug_on = debug;
	log_journal = getenv("JOURNAL_STREAM") != NULL;
	setvbuf(stderr, NULL, _IOLBF, 0);
}

/* Write one line at syslog priority prio. */
static void log_vwrite(int prio, const char *level, const char *fmt, va_list ap)
{
	char msg[2048];

	vsnprintf(msg, sizeof(msg), fmt, ap);
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
