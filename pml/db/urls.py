"""Connection URLs: one spelling for SQLAlchemy with psycopg 3, whatever form the user gave."""

from sqlalchemy.engine import URL, make_url


def sqlalchemy_url(url: str) -> URL:
    """`postgresql://`, `postgres://` and `postgresql+psycopg://` all mean psycopg 3 here."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    if parsed.get_backend_name() != "postgresql":
        raise ValueError("PML stores data in PostgreSQL only; the URL names another database")
    return parsed.set(drivername="postgresql+psycopg")


def libpq_url(url: str) -> str:
    """The same URL for psycopg and command-line tools (no SQLAlchemy driver suffix)."""
    return sqlalchemy_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
