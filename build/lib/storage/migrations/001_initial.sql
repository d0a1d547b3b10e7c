-- Users, confirmation cards (drafts) and tasks. Times are Unix epoch seconds (REAL).

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,            -- the Telegram user id
    username      TEXT,
    first_name    TEXT NOT NULL DEFAULT '',
    first_seen_at REAL NOT NULL,
    last_seen_at  REAL NOT NULL
);

-- A draft is a request being put together in the chat: a link, then a prompt, then a card with
-- Submit / Cancel. Submitting turns it into exactly one task (tasks.draft_id is UNIQUE).
CREATE TABLE drafts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         INTEGER NOT NULL REFERENCES users (id),
    chat_id         INTEGER NOT NULL,
    video_url       TEXT NOT NULL,
    prompt          TEXT,                         -- NULL while the bot waits for the prompt
    state           TEXT NOT NULL CHECK (state IN
                        ('awaiting_prompt', 'pending', 'submitted', 'cancelled', 'replaced')),
    card_message_id INTEGER,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL
);
CREATE INDEX drafts_open_by_user ON drafts (user_id) WHERE state IN ('awaiting_prompt', 'pending');

-- A task is one paid job at the provider. Its id is the number users see (#12).
CREATE TABLE tasks (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id           INTEGER NOT NULL REFERENCES users (id),
    chat_id           INTEGER NOT NULL,
    draft_id          INTEGER NOT NULL UNIQUE REFERENCES drafts (id),
    provider          TEXT NOT NULL,
    video_url         TEXT NOT NULL,
    prompt            TEXT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN
                        ('queued', 'submitting', 'processing', 'succeeded', 'delivering',
                         'delivered', 'failed', 'unknown', 'undeliverable')),
    provider_task_id  TEXT,
    status_message_id INTEGER,
    result_url        TEXT,
    failure           TEXT,                       -- a bot.failures.Failure value
    error_detail      TEXT,                       -- technical detail, for admins only
    delivered_as      TEXT,                       -- 'video', 'document' or 'link'
    attempts          INTEGER NOT NULL DEFAULT 0, -- consecutive failed checks or deliveries
    created_at        REAL NOT NULL,
    submitted_at      REAL,
    finished_at       REAL,
    delivered_at      REAL,
    next_check_at     REAL,                       -- when the tracker looks at the task next
    status_edited_at  REAL
);
CREATE INDEX tasks_due ON tasks (next_check_at)
    WHERE state IN ('queued', 'processing', 'succeeded');
CREATE INDEX tasks_by_user ON tasks (user_id, id);
CREATE UNIQUE INDEX tasks_by_provider_id ON tasks (provider, provider_task_id);
