/* store_lifecycle.h: acknowledgements and silences in the store. */
#pragma once

#include "store.h"

/* The SQL of schema migration 4 (silences). */
extern const char sw_store_lifecycle_schema[];
