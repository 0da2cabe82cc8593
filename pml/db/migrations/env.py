"""Alembic environment: runs migrations on one connection with lock and statement timeouts.

The timeouts keep a migration from queueing behind a long transaction and blocking every request behind it.
"""

from alembic import context
from sqlalchemy import create_engine, pool, text

from pml.db.models import metadata

LOCK_TIMEOUT = "5s"
STATEMENT_TIMEOUT = "10min"


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None, "alembic_config() sets sqlalchemy.url"
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        connection.execute(text(f"SET lock_timeout = '{LOCK_TIMEOUT}'"))
        connection.execute(text(f"SET statement_timeout = '{STATEMENT_TIMEOUT}'"))
        connection.commit()
        context.configure(connection=connection, target_metadata=metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
