-- Rate limits every instance on the database keeps together (the provider's submit rate): one
-- row per start within the limit's window (storage/rates.py).
CREATE TABLE rate_starts (
    name TEXT NOT NULL,
    at   REAL NOT NULL
);
CREATE INDEX rate_starts_by_name ON rate_starts (name, at);
