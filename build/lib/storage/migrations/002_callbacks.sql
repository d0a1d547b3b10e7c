-- Provider callbacks (webhook mode): each task gets an unguessable token for its callback URL.
ALTER TABLE tasks ADD COLUMN callback_token TEXT;
CREATE UNIQUE INDEX tasks_by_callback_token ON tasks (callback_token);

-- Small values the bot keeps for itself, such as the generated Telegram webhook secret.
CREATE TABLE bot_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
