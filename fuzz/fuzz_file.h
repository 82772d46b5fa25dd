/* fuzz_file.h: the one temporary file the config and register harnesses
 * write each input to, as their loaders read a path. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Rewrite the temporary file (made on the first call under /dev/shm, so no
 * input waits on a disk, and removed at exit) with data; its path in *ret.
 * 0, or -1 when it cannot be written. */
int fuzz_file_write(const char *name, const uint8_t *data, size_t size, const char **ret);
