-- PostgreSQL's version of 015: DOUBLE PRECISION times.
CREATE TABLE rate_starts (
    name TEXT NOT NULL,
    at   DOUBLE PRECISION NOT NULL
);
CREATE INDEX rate_starts_by_name ON rate_starts (name, at);
