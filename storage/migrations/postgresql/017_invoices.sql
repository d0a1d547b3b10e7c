-- PostgreSQL's version of 017: BIGINT ids, DOUBLE PRECISION times.
CREATE TABLE invoices (
    payload    TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id),
    credits    BIGINT NOT NULL,
    stars      BIGINT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    paid_at    DOUBLE PRECISION,
    charge_id  TEXT
);
CREATE INDEX invoices_by_user ON invoices (user_id, created_at);
