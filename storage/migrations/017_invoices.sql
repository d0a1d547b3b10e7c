-- Invoices the bot sent for packs of credits (PAYMENTS=stars): the payload Telegram hands back
-- in the pre-checkout query and the payment names one of these rows, so the bot pays out only
-- what it offered, to the user it offered it to (storage/invoices.py).
CREATE TABLE invoices (
    payload    TEXT PRIMARY KEY,                  -- random, sent as the invoice's payload
    user_id    INTEGER NOT NULL REFERENCES users (id),
    credits    INTEGER NOT NULL,
    stars      INTEGER NOT NULL,
    created_at REAL NOT NULL,
    paid_at    REAL,
    charge_id  TEXT                               -- telegram_payment_charge_id, once paid
);
CREATE INDEX invoices_by_user ON invoices (user_id, created_at);
