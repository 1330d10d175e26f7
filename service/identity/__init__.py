"""Who is calling: login credentials, JWTs with revocation versions, admin and server keys, and
the route decorators that require them (/login, /logout)."""
