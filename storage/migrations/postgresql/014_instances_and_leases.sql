-- PostgreSQL's version of 014: DOUBLE PRECISION times.

-- One row per running instance, written at its start and at each heartbeat; an instance not
-- seen for INSTANCE_TIMEOUT_SECONDS is dead, and what it held is taken over.
CREATE TABLE instances (
    id         TEXT PRIMARY KEY,              -- host:pid:random, new at every start
    host       TEXT NOT NULL,
    pid        INTEGER NOT NULL,
    mode       TEXT NOT NULL,                 -- 'polling' or 'webhook'
    started_at DOUBLE PRECISION NOT NULL,
    seen_at    DOUBLE PRECISION NOT NULL
);

-- Work only one instance may do at a time (long polling Telegram): held until expires_at,
-- renewed by its holder.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,                 -- an instances.id
    expires_at DOUBLE PRECISION NOT NULL
);

-- The instance working on a task (checking it, sending it, delivering it), while it is alive.
ALTER TABLE tasks ADD COLUMN lease_owner TEXT;
CREATE INDEX tasks_by_lease_owner ON tasks (lease_owner)
    WHERE state IN ('queued', 'submitting', 'processing', 'succeeded', 'delivering');
