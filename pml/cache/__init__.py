"""Caches in front of PostgreSQL: Redis shared by every worker and node, or an in-process stand-in."""
