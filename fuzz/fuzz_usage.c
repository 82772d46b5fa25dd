/* fuzz_usage.c: libFuzzer harness for the email app usage report (CSV)
 * parser. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "usage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW 1796292000 /* 2026-12-03 10:00Z */

/* One input: a whole report body. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sw_usage u = {0};
	struct sw_error err = {0};
	int r = sw_usage_parse((const char *)data, size, "fuzz.csv", FUZZ_NOW, &u, &err);

	if (r == 0) {
		size_t smtp = 0;
		for (size_t i = 0; i < u.n; i++) {
			const struct sw_usage_row *row = &u.rows[i];
			/* A kept row is an address, never a hash, never in the future. */
			if (row->upn == NULL || strchr(row->upn, '@') == NULL || sw_usage_concealed_name(row->upn) ||
			    row->refresh_day > FUZZ_NOW || row->line < 1)
				__builtin_trap();
			smtp += row->smtp;
		}
		if (smtp != u.n_smtp || u.n_concealed_smtp > u.n_concealed)
			__builtin_trap();
	} else if (r != -EINVAL && r != -ENOMEM) {
		__builtin_trap();
	}
	sw_usage_clear(&u);
	return 0;
}
