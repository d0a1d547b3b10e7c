-- PostgreSQL's version of 006: 64-bit ids and sizes, DOUBLE PRECISION times.
CREATE TABLE media (
    token      TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL,
    size       BIGINT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION
);
CREATE INDEX media_expiring ON media (expires_at) WHERE expires_at IS NOT NULL;
ALTER TABLE drafts ADD COLUMN media_token TEXT;
ALTER TABLE tasks ADD COLUMN media_token TEXT;
