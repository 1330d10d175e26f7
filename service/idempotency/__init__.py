"""Idempotency-Key handling shared by the wallet and events: the claim store and the header side."""
