/* store_report.h: the SMTP AUTH clients report in the store. */
#pragma once

#include "store.h"

/* The SQL of schema migration 3 (report tables). */
extern const char sw_store_report_schema[];
