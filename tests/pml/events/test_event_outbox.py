"""Every committed list change leaves exactly one outbox row, in the same transaction: refused writes and
replayed ones leave none."""

from __future__ import annotations

import uuid

from tests.support.catalogue import query
from tests.support.client import ListClient
from tests.support.factories import entry_body, new_patient_id


def _outbox(database_url: str, patient_id: str) -> list[tuple[object, ...]]:
    return query(
        database_url,
        "SELECT version, action, entry_id::text, source, published_at FROM event_outbox "
        "WHERE patient_id = %s ORDER BY seq",
        patient_id,
    )


def test_each_committed_change_writes_one_outbox_row_in_version_order(
    lists: ListClient, database_url: str
) -> None:
    patient_id = new_patient_id()
    entry_id = lists.add(patient_id, entry_body(), version=0).json()["entry"]["id"]
    assert lists.write("PATCH", patient_id, f"/entries/{entry_id}", {"note": "med mat"}, version=1).is_success
    assert lists.write(
        "POST", patient_id, f"/entries/{entry_id}/stop", {"reason": "bivirkning"}, version=2
    ).is_success
    assert lists.write("POST", patient_id, "/review", {}, version=3).is_success
    rows = _outbox(database_url, patient_id)
    assert [(v, a, e, s) for v, a, e, s, _published in rows] == [
        (1, "add", entry_id, "gp"),
        (2, "change", entry_id, "gp"),
        (3, "stop", entry_id, "gp"),
        (4, "review", None, "gp"),
    ]
    changes = query(database_url, "SELECT count(*) FROM list_change WHERE patient_id = %s", patient_id)
    assert changes == [(len(rows),)]


def test_refused_and_replayed_writes_leave_no_outbox_row(lists: ListClient, database_url: str) -> None:
    patient_id = new_patient_id()
    key = str(uuid.uuid4())
    assert lists.add(patient_id, entry_body(), version=0, key=key).status_code == 201
    assert lists.add(patient_id, entry_body(), version=0, key=key).headers["idempotent-replayed"] == "true"
    assert lists.add(patient_id, entry_body(), version=0).status_code == 412  # stale: rolled back
    assert lists.add(patient_id, entry_body(end_date="2020-01-01"), version=1).status_code == 422
    assert [row[0] for row in _outbox(database_url, patient_id)] == [1]
