from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "events" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "user_id" VARCHAR(255) NOT NULL,
    "event_type" VARCHAR(255) NOT NULL,
    "ts_utc" TIMESTAMP NOT NULL,
    "meta" TEXT
);
CREATE INDEX IF NOT EXISTS "idx_events_user_id" ON "events" ("user_id");
CREATE INDEX IF NOT EXISTS "idx_events_event_type" ON "events" ("event_type");
CREATE INDEX IF NOT EXISTS "idx_events_ts_utc" ON "events" ("ts_utc");
CREATE INDEX IF NOT EXISTS "idx_user_time" ON "events" ("user_id", "ts_utc");
CREATE INDEX IF NOT EXISTS "idx_type_time" ON "events" ("event_type", "ts_utc");
CREATE INDEX IF NOT EXISTS "idx_user_type_time" ON "events" ("user_id", "event_type", "ts_utc");
CREATE TABLE IF NOT EXISTS "idempotency_keys" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "key" VARCHAR(255) NOT NULL,
    "endpoint" VARCHAR(64) NOT NULL,
    "user_id" VARCHAR(255) NOT NULL,
    "request_fingerprint" VARCHAR(64) NOT NULL,
    "status_code" INT,
    "response_data" TEXT NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "expires_at" TIMESTAMP NOT NULL,
    CONSTRAINT "uid_idempotency_user_id_d22997" UNIQUE ("user_id", "endpoint", "key")
) /* One claimed Idempotency-Key. `status_code` is NULL while the first request is in flight. */;
CREATE INDEX IF NOT EXISTS "idx_idempotency_key" ON "idempotency_keys" ("key");
CREATE INDEX IF NOT EXISTS "idx_idempotency_expires" ON "idempotency_keys" ("expires_at");
CREATE TABLE IF NOT EXISTS "raw_postbacks" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "source" VARCHAR(32) NOT NULL,
    "payload" TEXT NOT NULL,
    "signature" VARCHAR(255),
    "ts_utc" TIMESTAMP NOT NULL,
    "processed" INT NOT NULL DEFAULT 0,
    "body_sha256" VARCHAR(64),
    "verified" INT
);
CREATE INDEX IF NOT EXISTS "idx_postbacks_ts" ON "raw_postbacks" ("ts_utc");
CREATE INDEX IF NOT EXISTS "idx_postbacks_processed" ON "raw_postbacks" ("processed");
CREATE INDEX IF NOT EXISTS "idx_postbacks_body_sha256" ON "raw_postbacks" ("body_sha256");
CREATE TABLE IF NOT EXISTS "users" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "user_id" VARCHAR(255) NOT NULL UNIQUE,
    "balance" BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS "idx_users_user_id" ON "users" ("user_id");
CREATE TABLE IF NOT EXISTS "wallet_ledger" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "delta" BIGINT NOT NULL,
    "balance_after" BIGINT NOT NULL,
    "reason" VARCHAR(100) NOT NULL,
    "idempotency_key" VARCHAR(255),
    "request_id" VARCHAR(128),
    "ts" TIMESTAMP NOT NULL,
    "user_id" INT NOT NULL REFERENCES "users" ("id") ON DELETE RESTRICT
);
CREATE INDEX IF NOT EXISTS "idx_ledger_user_ts" ON "wallet_ledger" ("user_id", "ts");
CREATE TABLE IF NOT EXISTS "aerich" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "version" VARCHAR(255) NOT NULL,
    "app" VARCHAR(100) NOT NULL,
    "content" JSON NOT NULL
);"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJztW21T2zgQ/isef6IzlAHz2vsGXNrmCkknhGunNx1VsRVHg2O7llLI9PjvJ8l2LPkNGZ"
    "o08eVTyWpXKz2r1b5Y/WlOAwd5ZK/zA/nU/MP4afpwitgf6sCuYcIwzMicQOHIE5yIswgS"
    "HBEaQZtPNIYeQYzkIGJHOKQ48BnVn3keJwY2Y8S+m5FmPv4+Q4AGLqITFLGBf74yMvYd9I"
    "AI//nTHGPkOeJvc0ZQBLBjch70EEaIEKaBpGLpJrDzAOLlgVSCr3weilFTCLMVix+Pu4ai"
    "QsgBwauvRRLSVsQXR+0GShIBbQXy1rV1CSGKpw02ktu8tiou0VCVtKXnao03qKGaC4Z3QG"
    "hXXCTWL+gglb3AbtenbwUvP+kjYAfebOpn/OGcTgJ/IYBj93KRjyJIEddAoxl3He4ZiY+l"
    "3hR7ScYSu4ck46AxnHlUcrURyGgmAL3+ENx0hgCYDZzTZhAyODB3cw6Ay5fw+o1lHR6eWv"
    "uHJ2fHR6enx2f7Z4xXrLc4dPoYLyZDK55KYNZ91+0N+YICdnvElwonPAoZSCHILJ+hLx0B"
    "1QSXExiVG0ASyVmBbS9vhRTzOjOkhMwO2b23CkNM4QPwkO/SCftpHR/XgPz3+eDy/flgh3"
    "G9UqHuJUNWPPYofC1FWfUuXaBVqS3Welhn97qK858MJX5HlWOdSeVwdhKxvfSPDUS9BuRh"
    "97pzMzy//sinnxLy3RNYnQ87fMQS1HmOunOSs8diEuNTd/je4D+NL/1eR8AZEOpGQmPGN/"
    "zCY5EJZzQAfnAPoCNjkpJTkmLeKaKwaNwhizTlhk35n+U+STzYBDt2Pg8VE6Y+snN9/vmV"
    "Ysarfu9dyi751OVV/4K5Eo/T4zspVnDCCNp39zByQGEksIIq3uLQ1JrmKdCHrgCS75jvL8"
    "mYuw6ahgFFvj3/gOZmSU6d46hNrnHGC+7QXC/NNvs+MmwPMp93DEnba6Zuz/hGKKQzwk6a"
    "g74ZmBi926sr436CPWSw3NsY44hQI0Ls4LB/2Tj2jbGH3QndM3PGXqqikpJATfx8JwyS9I"
    "lBY36tKxgEw9NJYQ7uBrnvQ4jZxADSpmoSyW0CumkJaHI+dHOihH2bDGkmnpJ3a6edkkwL"
    "cT450oD55KgSZT6kgrytoVZxlJMIx6b0XRSFUcNTXSHeQvR//QGXMpAi5JVxMif1dMBc/w"
    "Q8CZnWwdHp0dnhydEiUi4odQEyDYbymSYh04AAD49NqpqCYCvO8SrqGxl+O0IcHJ5uFrCv"
    "bxeoktuWwVq3DKSqoqGZVcmtmdfOzGvSrRjA+49sN3wys6RVIQ/v1vUpIngPwoRzxd8C9T"
    "/5LBYIaF29nSvtwyiw2aRI62tjpiIT09Y0Cpw5IBNoHZ800yULVmvb9hHWso9AgllkN/q8"
    "kkm0InlSi4BDS6MIOLQqiwA+pCZLIZx7ASw549VZqiTSCohXnZ8S7PqshoqaHWtZqA1fPb"
    "bfDNftrG9CZqhcXXISodm9UGSe1bt4lkX38+bcf3Fg/mXdilx+pHsh5cTadyX9+obbDxRh"
    "NllZQhkEHoJ+OdKyWA7mEZPbPJzrssR+/0q5fy66+Yh6e33RGewcCNwZE6ZSKrkmheMtEZ"
    "VZoWIU9N26UpF/QVjf56JidRqvRRsVU/+XSuqFF/Z6P/b7vQAvP5UcQQ/6ZYVoXStAEtro"
    "VGMFPYAGF3dmFA85bnyh5mySyL39MEAeFJsumiC5kj9Bz0P0ajHTZubzGTVxvcdlhjcFs5"
    "Iwl8e0OtzdC06QGXL1YY8vh+gEv3iRydP47ZOktbxG6sIkO3xlX2PrDLAQWd313RIzFCIn"
    "gGNaelc/HT8z0a0Znm2GCEESx0H9pzWpRCu6vGqSeLC/r5EkMq7KJFGMqRiXPJDVBbtEtH"
    "0dlaU+IGtWAKlS7YP6wDrTOd/WWfX55mP5fnrzXvq2j772ffTK/kFlYK5uH2x0SH5Rh6ZQ"
    "waoAF9F9G0QIu/4HNBcgd9mKKroFue7hhoFbVaLuxg9j0jJJPlRs72zHKO7sDtgBH3Qvh3"
    "Fhtfpm7jmKsD0xS+rcZGS3rsKFGc8yS9ttx3WVHdcfKCK4WTYtibQwnV5KZsedqgHCCXsL"
    "0V1KscI0UlT2ny3+uun3Kp5HZyL5lA7b1PjX8DDZxPBfAy4HQ8njCg+A8m99cgkan+C3/w"
    "fcx/8An7x7uQ=="
)
