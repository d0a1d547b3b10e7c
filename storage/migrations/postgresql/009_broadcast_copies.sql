-- PostgreSQL's version of 009: chat and message ids in 64 bits.
ALTER TABLE broadcasts ADD COLUMN source_chat_id BIGINT;
ALTER TABLE broadcasts ADD COLUMN source_message_id BIGINT;
