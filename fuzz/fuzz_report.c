/* fuzz_report.c: libFuzzer harness for the SMTP AUTH clients report (CSV)
 * parser. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The day the daemon would pass for a file without a date column. */
#define FUZZ_DAY 1793318400 /* 2026-10-30 */

/* One input: a whole export.  The first byte picks a chunk size, so the
 * streaming parser also sees records cut at every boundary; a file fed in
 * pieces must give what the same file gives in one piece. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sw_report whole = {0};
	struct sw_report_parser *p = NULL;
	struct sw_error err = {0};
	size_t chunk;
	int r_whole, r_chunked = 0;

	if (size == 0)
		return 0;
	chunk = (size_t)data[0] % 61 + 1;
	data++;
	size--;

	r_whole = sw_report_parse((const char *)data, size, "fuzz.csv", FUZZ_DAY, &whole, &err);
	if (r_whole == 0) {
		for (size_t i = 0; i < whole.n; i++) {
			const struct sw_report_row *row = &whole.rows[i];

			/* A kept row has a sender, a count and a period. */
			if (row->sender == NULL || row->messages < 0 || row->day_end <= row->day_start || row->line < 1)
				__builtin_trap();
		}
	}

	if (sw_report_parser_new("fuzz.csv", FUZZ_DAY, &p) < 0) {
		sw_report_clear(&whole);
		return 0;
	}
	for (size_t off = 0; off < size && r_chunked == 0; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;

		r_chunked = sw_report_parser_feed(p, (const char *)data + off, n, &err);
	}
	if (r_chunked == 0)
		r_chunked = sw_report_parser_finish(p, &err);
	if (r_chunked == -ENOMEM || r_whole == -ENOMEM) {
		/* Out of memory is not a verdict on the input. */
	} else if ((r_chunked == 0) != (r_whole == 0)) {
		__builtin_trap();
	} else if (r_whole == 0) {
		const struct sw_report *res = sw_report_parser_result(p);

		if (res->n != whole.n || res->n_rejected != whole.n_rejected || strcmp(res->sha256, whole.sha256) != 0)
			__builtin_trap();
		for (size_t i = 0; i < whole.n; i++)
			if (strcmp(res->rows[i].sender, whole.rows[i].sender) != 0 ||
			    res->rows[i].messages != whole.rows[i].messages)
				__builtin_trap();
	}
	sw_report_parser_free(p);
	sw_report_clear(&whole);
	return 0;
}
