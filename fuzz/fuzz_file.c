/* fuzz_file.c: the temporary input file of the path-reading harnesses. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz_file.h"

static char path[64];

/* Remove the temporary file at exit. */
static void fuzz_file_remove(void)
{
	unlink(path);
}

/* See fuzz_file.h. */
int fuzz_file_write(const char *name, const uint8_t *data, size_t size, const char **ret)
{
	FILE *f;

	if (path[0] == '\0') {
		const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
		int fd;

		snprintf(path, sizeof(path), "%s/fuzz-%s-XXXXXX", dir, name);
		fd = mkstemp(path);
		if (fd < 0) {
			path[0] = '\0';
			return -1;
		}
		close(fd);
		atexit(fuzz_file_remove);
	}
	f = fopen(path, "wb");
	if (f == NULL)
		return -1;
	if (size > 0 && fwrite(data, 1, size, f) != size) {
		fclose(f);
		return -1;
	}
	if (fclose(f) != 0)
		return -1;
	*ret = path;
	return 0;
}
