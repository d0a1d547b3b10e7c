-- Videos users upload, kept in the data folder and served at {PUBLIC_URL}/media/{token} for the
-- provider to fetch. expires_at NULL: a task is using the file; otherwise the file is deleted,
-- and its URL answers 404, from that moment on.
CREATE TABLE media (
    token      TEXT PRIMARY KEY,               -- unguessable; also the file's name
    user_id    INTEGER NOT NULL,
    size       INTEGER NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL
);
CREATE INDEX media_expiring ON media (expires_at) WHERE expires_at IS NOT NULL;
ALTER TABLE drafts ADD COLUMN media_token TEXT;
ALTER TABLE tasks ADD COLUMN media_token TEXT;
