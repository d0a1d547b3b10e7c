-- Usernames are found with lower(username) = lower(?) on both engines (PostgreSQL has no
-- COLLATE NOCASE): SQLite's index follows (its lower() folds ASCII, as NOCASE did; Telegram
-- usernames are ASCII).
DROP INDEX users_by_username;
CREATE INDEX users_by_username ON users (lower(username));
