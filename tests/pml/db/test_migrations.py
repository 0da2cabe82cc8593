"""The schema as the migrations build it: in step with the models, and history that cannot be rewritten."""

from __future__ import annotations

import psycopg
import pytest

from pml.db.migrate import check
from pml.db.urls import libpq_url
from tests.support.client import ListClient
from tests.support.factories import entry_body, new_patient_id


def test_models_and_migrations_agree(database_url: str) -> None:
    check(database_url)  # raises when autogenerate would find a difference


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE list_change SET reason = 'rewritten' WHERE patient_id = %s",
        "DELETE FROM list_change WHERE patient_id = %s",
    ],
)
def test_the_change_history_refuses_update_and_delete(
    database_url: str, lists: ListClient, statement: str
) -> None:
    patient_id = new_patient_id()
    assert lists.add(patient_id, entry_body(), version=0).status_code == 201
    with psycopg.connect(libpq_url(database_url)) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(statement, (patient_id,))
        conn.rollback()
        reasons = conn.execute("SELECT count(*) FROM list_change WHERE patient_id = %s", (patient_id,))
        assert reasons.fetchone() == (1,)


def test_the_change_history_refuses_truncate(database_url: str) -> None:
    with (
        psycopg.connect(libpq_url(database_url)) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"),
    ):
        conn.execute("TRUNCATE list_change CASCADE")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_record SET outcome = 'success' WHERE patient_id = %s",
        "DELETE FROM audit_record WHERE patient_id = %s",
    ],
)
def test_the_audit_log_refuses_update_and_delete(
    database_url: str, lists: ListClient, statement: str
) -> None:
    patient_id = new_patient_id()
    assert lists.read(patient_id).status_code == 200  # leaves one audit record
    with psycopg.connect(libpq_url(database_url)) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(statement, (patient_id,))
        conn.rollback()
        count = conn.execute("SELECT count(*) FROM audit_record WHERE patient_id = %s", (patient_id,))
        assert count.fetchone() == (1,)
