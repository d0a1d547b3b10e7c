-- PostgreSQL's version of 019: DOUBLE PRECISION times.
CREATE TABLE send_schedule (
    name TEXT PRIMARY KEY,
    due  DOUBLE PRECISION NOT NULL
);
CREATE TABLE send_turns (
    token      TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    owner      TEXT NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    ended_at   DOUBLE PRECISION
);
CREATE INDEX send_turns_by_name ON send_turns (name);
DELETE FROM rate_starts WHERE name = 'telegram-sends';
