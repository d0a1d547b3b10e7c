-- PostgreSQL's version of 010: a CHECK constraint can be changed in place.
ALTER TABLE tasks DROP CONSTRAINT tasks_state_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_state_check CHECK (state IN
    ('queued', 'submitting', 'processing', 'succeeded', 'delivering',
     'delivered', 'failed', 'unknown', 'undeliverable', 'cancelled'));
ALTER TABLE drafts ADD COLUMN source_message_id BIGINT;
