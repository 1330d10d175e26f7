"""Client events: POST /event (idempotent), GET /events and GET /stats."""
