/* fuzz_register.c: libFuzzer harness for the exception register loader
 * (the input is written to a temporary file), with lookups on the result. */
#include <stddef.h>
#include <stdint.h>

#include "register.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input: a whole register file, loaded at a fixed "now". */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path;
	const int64_t now = 1795000000; /* 2026-11-18 */
	struct sw_register *reg = NULL;
	struct sw_diag diag = {0};

	if (fuzz_file_write("register", data, size, &path) < 0)
		return 0;
	if (sw_register_load(path, 90 * 86400, now, &reg, &diag) == 0) {
		for (size_t i = 0; i < reg->n; i++) {
			const struct sw_exception *e = &reg->entries[i];
			(void)sw_exception_active(e, now);
			(void)sw_exception_ip_allowed(e, "203.0.113.5");
			(void)sw_exception_ip_allowed(e, "2001:db8:10::1");
		}
		(void)sw_register_find(reg, "scanner-hq@contoso.com");
		sw_register_free(reg);
	}
	sw_diag_clear(&diag);
	return 0;
}
