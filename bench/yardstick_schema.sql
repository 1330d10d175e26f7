-- Fallback schema for the yardstick when the service's migrations are not available.
-- Mirrors the brief's users table and SPEC §3's wallet_ledger columns.
CREATE TABLE users (
    id SERIAL PRIMARY KEY,
    user_id VARCHAR(255) NOT NULL UNIQUE,
    balance BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE wallet_ledger (
    id BIGSERIAL PRIMARY KEY,
    user_id INT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    delta BIGINT NOT NULL,
    balance_after BIGINT NOT NULL,
    reason VARCHAR(100) NOT NULL,
    idempotency_key VARCHAR(255),
    request_id VARCHAR(128),
    ts TIMESTAMPTZ NOT NULL
);
CREATE INDEX idx_wallet_ledger_user_ts ON wallet_ledger (user_id, ts);
CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    user_id VARCHAR(255) NOT NULL,
    event_type VARCHAR(255) NOT NULL,
    ts_utc TIMESTAMPTZ NOT NULL,
    meta TEXT
);
CREATE INDEX idx_events_user_time ON events (user_id, ts_utc);
