/* fuzz_config.c: libFuzzer harness for the config loader (the input is
 * written to a temporary file, as the loader reads a path). */
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input: a whole smtpwatch.conf. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path;
	struct sw_config *cfg = NULL;
	struct sw_diag diag = {0};

	if (fuzz_file_write("config", data, size, &path) < 0)
		return 0;
	if (sw_config_load(path, &cfg, &diag) == 0)
		sw_config_free(cfg);
	for (size_t i = 0; i < diag.n; i++)
		if (diag.items[i].text[0] == '\0')
			__builtin_trap(); /* every problem says what it is */
	sw_diag_clear(&diag);
	return 0;
}
