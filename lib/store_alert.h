/* store_alert.h: the alert document's second version in the store
 * (SPEC "Alert document, version 2"). */
#pragma once

/* The SQL of the schema migration that adds to alerts: transition_at
 * (when the latest transition was decided, Unix seconds, 0 before the
 * first) and changed_by (compact JSON of the audit record that explains
 * the condition, NULL when none). */
extern const char sw_store_alert_schema[];
