/* report.h: the SMTP AUTH clients report (EAC > Reports > Mail flow), as
 * admins export it to CSV -> rows (pure, streaming).
 *
 * Microsoft does not publish the exact header, so columns are matched
 * loosely: case, spaces, punctuation, "%", order and extra columns do not
 * matter.  Required: a sender address and a message count.  Optional: the
 * domain, TLS 1.0/1.1/1.2 percentages, the authentication protocol (Basic
 * or OAuth; missing = unknown) and a date, a date range, or start and end
 * date columns.  UTF-8 with or without BOM, CRLF or LF, RFC 4180 quoting,
 * "," ";" or tab separated (guessed from the header), numbers such as
 * "12", "12.5", "12,5%", "1,234".  Dates: 2026-11-20 (with or without a
 * time), 11/20/2026 (month first, as EAC writes in en-US; day first when the
 * first number is over 12), 20.11.2026; ranges joined by " - ", " to ",
 * "..", or "/" between two ISO dates. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define SW_DAY 86400
/* A line longer than this is rejected (and the file with it: there is no
 * telling where the next record begins inside an unterminated quote). */
#define SW_REPORT_MAX_RECORD (64 * 1024)
/* Line problems kept for the user; more are counted only. */
#define SW_REPORT_MAX_PROBLEMS 200
/* Keep one line problem of a CSV file in (*v, *n, *cap), up to
 * SW_REPORT_MAX_PROBLEMS (beyond, and on OOM, it is dropped: the caller
 * counts every problem itself).  The report and usage parsers share it. */
void sw_csv_problem_addv(struct sw_error **v, size_t *n, size_t *cap, const char *source, int line, bool warning,
                         const char *fmt, va_list ap) __attribute__((format(printf, 7, 0)));
/* The most one file may bring; a file over either is rejected whole as
 * soon as the parser gets there (nothing stored from it).  A real export
 * of a large tenant, 3,500 senders daily over 90 days, is 315,000 rows;
 * 300,000 distinct senders is not an SMTP AUTH report but a flood of
 * alerts and minutes of work. */
#define SW_REPORT_MAX_ROWS 500000
#define SW_REPORT_MAX_SENDERS 20000

enum sw_report_auth {
	SW_AUTH_UNKNOWN,
	SW_AUTH_BASIC,
	SW_AUTH_OAUTH,
};
const char *sw_report_auth_name(enum sw_report_auth a); /* "unknown", "basic", "oauth" */
/* "basic", "oauth", "unknown" (as stored) -> the enum; -EINVAL otherwise. */
int sw_report_auth_parse(const char *s, enum sw_report_auth *ret);

/* The columns a header can map to. */
enum sw_report_col {
	SW_COL_SENDER,
	SW_COL_MESSAGES,
	SW_COL_DOMAIN,
	SW_COL_TLS10,
	SW_COL_TLS11,
	SW_COL_TLS12,
	SW_COL_AUTH,
	SW_COL_DATE,  /* one date or a range */
	SW_COL_START, /* start date of a range */
	SW_COL_END,   /* end date of a range */
	SW_COL_COUNT_,
};
/* "sender", "messages", "domain", "tls10", ... for messages and JSON. */
const char *sw_report_col_name(enum sw_report_col c);
/* Classify one header cell; -1 when it is none of them (ignored). */
int sw_report_header_match(const char *cell);

/* One row: one sender, one protocol, one period. */
struct sw_report_row {
	int line;          /* 1-based line of the file where the record starts */
	char *sender;      /* lower-case address */
	char *domain;      /* lower-case, NULL when the file has none */
	int64_t messages;
	double tls10, tls11, tls12; /* percent 0..100; -1 when not in the file */
	enum sw_report_auth auth;
	int64_t day_start; /* 00:00Z of the first day */
	int64_t day_end;   /* 00:00Z of the day after the last (exclusive) */
	bool dated;        /* false: the file had no date; the default day was used */
};

/* What a whole file gave. */
struct sw_report {
	struct sw_report_row *rows;
	size_t n, cap;
	struct sw_error *problems; /* rejected lines (warning=false) and doubts (warning=true) */
	size_t n_problems, cap_problems;
	size_t n_rejected;         /* all rejected lines, also past SW_REPORT_MAX_PROBLEMS */
	size_t n_warnings;
	int header_line;
	int columns[SW_COL_COUNT_]; /* field index of each column, -1 absent */
	char *header_text[SW_COL_COUNT_]; /* the header cell as written, NULL absent */
	char delimiter;
	bool bom;
	bool crlf;
	int lines;                 /* physical lines read */
	char sha256[65];           /* hex digest of the bytes fed, after finish */
};
void sw_report_clear(struct sw_report *r);

struct sw_report_parser;

/* A parser for one file.  source names it in problems; default_day (any
 * time of that day) is the period of rows of a file without a date column
 * (the caller passes the export's modification day). */
int sw_report_parser_new(const char *source, int64_t default_day, struct sw_report_parser **ret);
void sw_report_parser_free(struct sw_report_parser *p);
/* Feed the next bytes.  0, or -EINVAL with err when the whole file must be
 * rejected (UTF-16, no recognisable sender and count header within the
 * first lines, a record over SW_REPORT_MAX_RECORD, more rows than
 * SW_REPORT_MAX_ROWS or distinct senders than SW_REPORT_MAX_SENDERS);
 * -ENOMEM. */
int sw_report_parser_feed(struct sw_report_parser *p, const char *buf, size_t len, struct sw_error *err);
/* End of file: the last record, the digest.  -EINVAL with err when no
 * header was found (empty file) or not one row was usable. */
int sw_report_parser_finish(struct sw_report_parser *p, struct sw_error *err);
/* The result, borrowed; valid until the parser is freed.  Rows may be
 * moved out by the caller (then zero n). */
struct sw_report *sw_report_parser_result(struct sw_report_parser *p);

/* Parse a whole buffer: new + feed + finish, the result moved to *ret
 * (caller sw_report_clear()s it, also after a failure). */
int sw_report_parse(const char *buf, size_t len, const char *source, int64_t default_day, struct sw_report *ret,
                    struct sw_error *err);

/* Pieces, exposed for tests. */
/* A message count: "12", "1,234", "1 234", "12.0"; -EINVAL otherwise. */
int sw_report_parse_count(const char *s, int64_t *ret);
/* A percentage: "12", "12.5", "12,5%", " 0 % "; -EINVAL outside 0..100. */
int sw_report_parse_percent(const char *s, double *ret);
/* A date or range -> [start, end) in whole UTC days. */
int sw_report_parse_period(const char *s, int64_t *ret_start, int64_t *ret_end);
/* "Basic", "Basic authentication", "OAuth", "OAuth 2.0", "XOAUTH2", "Modern"
 * -> the enum; "" -> unknown (0); -EINVAL for anything else. */
int sw_report_parse_auth(const char *s, enum sw_report_auth *ret);

/* The CSV reading the report parsers share (this one and usage.c).
 * Records: a newline ends a record unless it is inside quotes, and a
 * quote opens quoting only at the start of a field.  Feed every byte of a
 * record to sw_csv_scan_byte(), after sw_csv_scan_reset() at its first;
 * delim 0 while it is not known (any of , ; TAB starts a field). */
struct sw_csv_scan {
	char delim;
	bool in_quotes, after_quote, field_start;
};
void sw_csv_scan_reset(struct sw_csv_scan *s, char delim);
/* true when c is the newline that ends the record. */
bool sw_csv_scan_byte(struct sw_csv_scan *s, char c);
/* The fields of one record, trimmed. */
struct sw_csv_fields {
	char **v;
	size_t n, cap;
};
void sw_csv_fields_clear(struct sw_csv_fields *f);
/* Split one record (no newline at the end, maybe a CR) on delim, RFC 4180
 * quoting, leniently: text after a closing quote is kept.  0 or -ENOMEM. */
int sw_csv_split(const char *rec, size_t len, char delim, struct sw_csv_fields *ret);
/* The delimiter of a header record: the most frequent of , ; TAB outside
 * quotes (a comma on a tie). */
char sw_csv_guess_delimiter(const char *rec, size_t len);
/* Lower-case letters and digits of s only: "TLS 1.0 %" -> "tls10". */
void sw_report_normalize(const char *s, char *out, size_t n);
/* One date (ISO, 11/20/2026, 20.11.2026), maybe with a time -> 00:00Z. */
int sw_report_parse_day(const char *s, int64_t *ret);
