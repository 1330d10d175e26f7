"""The wallet (SPEC §3, §3b): balance changes under a row lock, the ledger, the economy catalogue,
client routes (/balance, /earn, /spend, /ledger) and server grants (/server/earn, /server/spend)."""
