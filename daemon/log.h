/* log.h: the daemon's log: stderr with sd-daemon priority prefixes when
 * journald reads it (JOURNAL_STREAM), plain timestamps otherwise. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

void log_init(bool debug);
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The configured secrets (client secrets, tokens, keys, secret URLs): each
 * is replaced by "[redacted]" in every line logged from now on, whatever a
 * peer echoed.  The list is copied; NULL clears it. */
void log_set_secrets(const char *const *secrets);
/* Redact those secrets in text (size bytes of room): for a peer's text
 * kept elsewhere than the log (a source's last error in status). */
void log_redact(char *text, size_t size);
