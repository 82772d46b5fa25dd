/* store_alert.c: the alert columns of document version 2 (store_alert.h). */
#include "store_alert.h"

const char sw_store_alert_schema[] =
	"ALTER TABLE alerts ADD COLUMN transition_at INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE alerts ADD COLUMN changed_by TEXT;"
	/* Alerts sent before this migration: the time their latest
	 * transition was queued, from the outbox where it still has the row,
	 * else the best the alert itself knows. */
	"UPDATE alerts SET transition_at = CASE WHEN status = 1 AND resolved_at > 0 THEN resolved_at "
	"ELSE updated END WHERE transition > 0;"
	"UPDATE alerts SET transition_at = t.at FROM ("
	"  SELECT alert_id, transition, max(created) AS at FROM outbox GROUP BY alert_id, transition"
	") AS t WHERE t.alert_id = alerts.id AND t.transition = alerts.transition;";
