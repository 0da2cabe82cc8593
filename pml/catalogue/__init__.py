"""Catalogue releases (FEST) in PostgreSQL: loading, activation and rollback, and the compiled active release
that interaction checks and catalogue look-ups read from."""
