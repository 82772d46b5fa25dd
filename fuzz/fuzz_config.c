/* fuzz_config.c: libFuzzer harness for the config loader (the input is
 * written to a temporary file, as the loader reads a path). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path_tmpl[] = "/tmp/fuzz-config-XXXXXX";

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

/* One input: a whole smtpwatch.conf. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path;
	struct sw_config *cfg = NULL;
	struct sw_diag diag = {0};

	if (write_temp(data, size, &path) < 0)
		return 0;
	if (sw_config_load(path, &cfg, &diag) == 0)
		sw_config_free(cfg);
	for (size_t i = 0; i < diag.n; i++)
		if (diag.items[i].text[0] == '\0')
			__builtin_trap(); /* every problem says what it is */
	sw_diag_clear(&diag);
	return 0;
}
