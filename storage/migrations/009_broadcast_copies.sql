-- A broadcast that copies a message of the admin's (copyMessage: its text or media, caption and
-- formatting kept): the chat and message it is copied from, so that a broadcast resumed after a
-- restart copies the same message. NULL: a text broadcast, sent from `text` with sendMessage
-- (a copy's `text` is empty).
ALTER TABLE broadcasts ADD COLUMN source_chat_id INTEGER;
ALTER TABLE broadcasts ADD COLUMN source_message_id INTEGER;
