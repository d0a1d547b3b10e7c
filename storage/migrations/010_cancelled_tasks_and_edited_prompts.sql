-- Tasks cancelled while queued (state 'cancelled'), and the message a card answered.

-- A task its user cancelled while it waited to start: state 'cancelled'. SQLite cannot change a
-- CHECK constraint in place, so the table is made anew with the same columns, rows and indexes
-- (no table refers to tasks), and its AUTOINCREMENT counter.
CREATE TABLE tasks_new (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id           INTEGER NOT NULL REFERENCES users (id),
    chat_id           INTEGER NOT NULL,
    draft_id          INTEGER NOT NULL UNIQUE REFERENCES drafts (id),
    provider          TEXT NOT NULL,
    video_url         TEXT NOT NULL,
    prompt            TEXT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN
                        ('queued', 'submitting', 'processing', 'succeeded', 'delivering',
                         'delivered', 'failed', 'unknown', 'undeliverable', 'cancelled')),
    provider_task_id  TEXT,
    status_message_id INTEGER,
    result_url        TEXT,
    failure           TEXT,                       -- a bot.domain.failures.Failure value
    error_detail      TEXT,                       -- technical detail, for admins only
    delivered_as      TEXT,                       -- 'video', 'document' or 'link'
    attempts          INTEGER NOT NULL DEFAULT 0, -- consecutive failed checks or deliveries
    created_at        REAL NOT NULL,
    submitted_at      REAL,
    finished_at       REAL,
    delivered_at      REAL,
    next_check_at     REAL,                       -- when the tracker looks at the task next
    status_edited_at  REAL,
    callback_token    TEXT,
    mode              TEXT,
    first_frame_url   TEXT,
    media_token       TEXT
);
INSERT INTO tasks_new (
    id, user_id, chat_id, draft_id, provider, video_url, prompt, state, provider_task_id,
    status_message_id, result_url, failure, error_detail, delivered_as, attempts, created_at,
    submitted_at, finished_at, delivered_at, next_check_at, status_edited_at, callback_token,
    mode, first_frame_url, media_token
)
SELECT
    id, user_id, chat_id, draft_id, provider, video_url, prompt, state, provider_task_id,
    status_message_id, result_url, failure, error_detail, delivered_as, attempts, created_at,
    submitted_at, finished_at, delivered_at, next_check_at, status_edited_at, callback_token,
    mode, first_frame_url, media_token
FROM tasks;
UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'tasks')
    WHERE name = 'tasks_new' AND EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'tasks');
DROP TABLE tasks;
ALTER TABLE tasks_new RENAME TO tasks;
CREATE INDEX tasks_by_user ON tasks (user_id, id);
CREATE UNIQUE INDEX tasks_by_provider_id ON tasks (provider, provider_task_id);
CREATE UNIQUE INDEX tasks_by_callback_token ON tasks (callback_token);
CREATE INDEX tasks_tracked ON tasks (state, next_check_at)
    WHERE state IN ('queued', 'processing', 'succeeded');

-- The user's message a card answered: when they edit it in Telegram, the card changes with it.
ALTER TABLE drafts ADD COLUMN source_message_id INTEGER;
