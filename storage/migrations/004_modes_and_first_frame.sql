-- The strength of the edit (bot.modes) and an optional first-frame image, chosen on the card
-- for providers that offer them, and copied onto the task at Submit.
ALTER TABLE drafts ADD COLUMN mode TEXT;
ALTER TABLE drafts ADD COLUMN first_frame_url TEXT;
-- 1 while the card waits for the link to the first-frame image.
ALTER TABLE drafts ADD COLUMN awaiting_first_frame INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN mode TEXT;
ALTER TABLE tasks ADD COLUMN first_frame_url TEXT;
