-- The tracker wakes a processing task for a status check (next_check_at) or to refresh its
-- status card (status_edited_at), whichever comes first: it scans the active tasks only.
DROP INDEX tasks_due;
CREATE INDEX tasks_tracked ON tasks (state, next_check_at)
    WHERE state IN ('queued', 'processing', 'succeeded');
