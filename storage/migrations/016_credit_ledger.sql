-- Credits bought with Telegram Stars and spent on tasks (PAYMENTS=stars). Every movement is a
-- row of `ledger`, written once and never changed; a user's balance is the sum of their rows'
-- `credits`. users.credits keeps that sum as a cache, changed in the same transaction as each
-- row, and checked against it (storage/ledger.py).
CREATE TABLE ledger (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id   INTEGER NOT NULL REFERENCES users (id),
    -- purchase: credits bought (+); reserve: a task's price held at Submit (-);
    -- charge: the provider accepted the task (0: the reservation is spent);
    -- release: the reservation returned (+); grant: an admin's grant or removal (+/-);
    -- star_refund: the Stars of a purchase returned, its credits removed (-)
    kind      TEXT NOT NULL,
    credits   INTEGER NOT NULL,
    task_id   INTEGER REFERENCES tasks (id),
    charge_id TEXT,                               -- telegram_payment_charge_id
    stars     INTEGER,                            -- Stars paid (purchase) or returned
    reason    TEXT NOT NULL DEFAULT '',
    admin_id  INTEGER,                            -- who granted, removed or refunded
    at        REAL NOT NULL
);
CREATE INDEX ledger_by_user ON ledger (user_id, id);
-- A payment is credited once, and refunded once, whatever replays an update.
CREATE UNIQUE INDEX ledger_purchase_once ON ledger (charge_id) WHERE kind = 'purchase';
CREATE UNIQUE INDEX ledger_star_refund_once ON ledger (charge_id) WHERE kind = 'star_refund';
-- A task's price is reserved once, and then either charged or released, once.
CREATE UNIQUE INDEX ledger_task_once ON ledger (task_id, kind) WHERE task_id IS NOT NULL;

ALTER TABLE users ADD COLUMN credits INTEGER NOT NULL DEFAULT 0;
