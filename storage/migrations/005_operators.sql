-- Running the bot as a service: per-user access, bans and limits; broadcasts.

ALTER TABLE users ADD COLUMN access TEXT;            -- allowlist mode: 'pending', 'allowed', 'denied'
ALTER TABLE users ADD COLUMN banned_at REAL;
ALTER TABLE users ADD COLUMN ban_reason TEXT;
ALTER TABLE users ADD COLUMN daily_limit INTEGER;    -- overrides DAILY_TASK_LIMIT when set
ALTER TABLE users ADD COLUMN blocked_bot_at REAL;    -- the user blocked the bot (Telegram said 403)
CREATE INDEX users_by_username ON users (username COLLATE NOCASE);

CREATE TABLE broadcasts (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    admin_id            INTEGER NOT NULL,
    text                TEXT NOT NULL,            -- HTML, as it is sent
    state               TEXT NOT NULL CHECK (state IN ('draft', 'sending', 'done', 'cancelled')),
    progress_chat_id    INTEGER NOT NULL,
    progress_message_id INTEGER,
    created_at          REAL NOT NULL,
    started_at          REAL,
    finished_at         REAL
);

-- One row per user a broadcast goes to. 'sending' is written before the message is sent: a
-- recipient found 'sending' after a restart may have it already, and is not sent it again.
CREATE TABLE broadcast_recipients (
    broadcast_id INTEGER NOT NULL REFERENCES broadcasts (id),
    user_id      INTEGER NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'blocked', 'failed')),
    PRIMARY KEY (broadcast_id, user_id)
);
CREATE INDEX broadcast_recipients_pending ON broadcast_recipients (broadcast_id, state);
