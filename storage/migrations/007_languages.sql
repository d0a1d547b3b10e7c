-- The language each user is spoken to in: `language` is their /language choice (NULL: follow
-- their Telegram), `telegram_language` the language code Telegram last sent with their update.
ALTER TABLE users ADD COLUMN telegram_language TEXT;
ALTER TABLE users ADD COLUMN language TEXT;
