/* fuzz_register.c: libFuzzer harness for the exception register loader
 * (the input is written to a temporary file), with lookups on the result. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "register.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path_tmpl[] = "/tmp/fuzz-register-XXXXXX";

/* Remove the temporary file at exit. */
static void remove_temp(void)
{
	unlink(path_tmpl);
}

/* Rewrite one temporary file (made on the first call, reused: a file per
 * input would slow the fuzzer down) with data; its path in *ret. */
static int write_temp(const uint8_t *data, size_t size, const char **ret)
{
	static int made;
	FILE *f;

	if (!made) {
		int fd = mkstemp(path_tmpl);
		if (fd < 0)
			return -1;
		close(fd);
		atexit(remove_temp);
		made = 1;
	}
	f = fopen(path_tmpl, "wb");
	if (f == NULL)
		return -1;
	if (size > 0 && fwrite(data, 1, size, f) != size) {
		fclose(f);
		return -1;
	}
	if (fclose(f) != 0)
		return -1;
	*ret = path_tmpl;
	return 0;
}

/* One input: a whole register file, loaded at a fixed "now". */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path;
	const int64_t now = 1795000000; /* 2026-11-18 */
	struct sw_register *reg = NULL;
	struct sw_diag diag = {0};

	if (write_temp(data, size, &path) < 0)
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
