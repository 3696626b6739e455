"""`GET /dashboard`: the system healing itself, as a server-rendered page."""
