"""Database plumbing: engines, sessions, migrations and the embedded development server."""
