-- Telegram's flood limit kept by every instance on the database together (storage/send_turns.py):
-- the schedule of its sends, and the sends under way or answered within the last second.
CREATE TABLE send_schedule (
    name TEXT PRIMARY KEY,
    due  REAL NOT NULL                    -- when the next send is due, wall-clock seconds
);
CREATE TABLE send_turns (
    token      TEXT PRIMARY KEY,
    name       TEXT NOT NULL,             -- a send_schedule.name
    owner      TEXT NOT NULL,             -- the instance sending it (an instances.id)
    started_at REAL NOT NULL,
    ended_at   REAL                       -- its answer; NULL while under way
);
CREATE INDEX send_turns_by_name ON send_turns (name);
-- The shared sliding window that kept this limit until now.
DELETE FROM rate_starts WHERE name = 'telegram-sends';
