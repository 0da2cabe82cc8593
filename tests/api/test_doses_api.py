"""GET /v1/patients/{id}/doses over real HTTP: ordinary days, both daylight-saving change days in Europe/Oslo,
as-needed medicines apart, and paused, stopped and expired entries left out."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from pml.auth.tokens import DevelopmentClaims
from pml.settings import Settings
from tests.support.client import ListClient, make_token
from tests.support.factories import entry_body, new_patient_id
from tests.support.servers import ServerProcess

NURSE = DevelopmentClaims(
    subject="test-nurse-doses",
    role="nurse",
    name="Test Sykepleier",
    hpr_number="9144890",
    organisation="974703300",
    source="home_care",
)
SPRING, AUTUMN, ORDINARY = "2026-03-29", "2026-10-25", "2026-02-10"


@pytest.fixture(scope="module")
def nurse(live_server: ServerProcess, server_settings: Settings) -> Iterator[ListClient]:
    client = ListClient(live_server.base_url, make_token(server_settings, NURSE))
    yield client
    client.close()


def doses_of(client: ListClient, patient_id: str, day: str) -> dict[str, Any]:
    response = client.http.get(f"/v1/patients/{patient_id}/doses", params={"date": day})
    assert response.status_code == 200, response.text
    plan: dict[str, Any] = response.json()
    return plan


def add(lists: ListClient, patient_id: str, **fields: Any) -> dict[str, Any]:
    response = lists.add(patient_id, entry_body(**fields), version=lists.version(patient_id))
    assert response.status_code == 201, response.text
    entry: dict[str, Any] = response.json()["entry"]
    return entry


def clock_dose(clock_time: str) -> dict[str, Any]:
    return {"unit": "tablett", "schedule": [{"clock_time": clock_time, "amount": 1}]}


def every_8_hours() -> dict[str, Any]:
    return {"unit": "kapsel", "interval": {"every": 8, "period": "hour", "amount": 1}}


def times(plan: dict[str, Any], name: str) -> list[str]:
    return [dose["scheduled_at"] for dose in plan["doses"] if dose["display_name"] == name]


def walls(plan: dict[str, Any], name: str) -> list[str]:
    return [dose["local_time"] for dose in plan["doses"] if dose["display_name"] == name]


def test_an_ordinary_day_in_time_order_with_offsets(lists: ListClient, nurse: ListClient) -> None:
    patient_id = new_patient_id()
    add(lists, patient_id, display_name="Metformin")  # morning and evening
    add(lists, patient_id, display_name="Levaxin", morning=None, evening=None, dosage=clock_dose("07:00"))
    plan = doses_of(nurse, patient_id, ORDINARY)
    assert [(d["local_time"], d["display_name"], d["time_of_day"]) for d in plan["doses"]] == [
        ("07:00", "Levaxin", "morning"),
        ("08:00", "Metformin", "morning"),
        ("18:00", "Metformin", "evening"),
    ]
    assert times(plan, "Metformin") == ["2026-02-10T08:00:00+01:00", "2026-02-10T18:00:00+01:00"]
    assert (plan["time_zone"], plan["day_length_hours"], plan["list_version"]) == ("Europe/Oslo", 24, 2)
    assert plan["named_times"] == {
        "morning": "08:00",
        "midday": "13:00",
        "evening": "18:00",
        "night": "22:00",
    }


def test_the_spring_change_day(lists: ListClient, nurse: ListClient) -> None:
    patient_id = new_patient_id()
    add(lists, patient_id, display_name="Metformin")
    add(lists, patient_id, display_name="Sovetablett", morning=None, evening=None, dosage=clock_dose("02:30"))
    add(lists, patient_id, display_name="Antibiotika", morning=None, evening=None, dosage=every_8_hours())
    plan = doses_of(nurse, patient_id, SPRING)
    assert plan["day_length_hours"] == 23
    assert times(plan, "Metformin") == ["2026-03-29T08:00:00+02:00", "2026-03-29T18:00:00+02:00"]
    (moved,) = [d for d in plan["doses"] if d["display_name"] == "Sovetablett"]
    assert (moved["local_time"], moved["prescribed_time"], moved["dst_adjustment"]) == (
        "03:30",
        "02:30",
        "moved-past-gap",
    )
    # every 8 hours from 08:00 on the start date (winter): 8 real hours apart, so an hour later on the clock
    assert walls(plan, "Antibiotika") == ["00:00", "09:00", "17:00"]


def test_the_autumn_change_day(lists: ListClient, nurse: ListClient) -> None:
    patient_id = new_patient_id()
    add(lists, patient_id, display_name="Metformin")
    add(lists, patient_id, display_name="Sovetablett", morning=None, evening=None, dosage=clock_dose("02:30"))
    add(
        lists,
        patient_id,
        display_name="Antibiotika",
        morning=None,
        evening=None,
        dosage=every_8_hours(),
        start_date="2026-06-01",
    )
    plan = doses_of(nurse, patient_id, AUTUMN)
    assert plan["day_length_hours"] == 25
    assert times(plan, "Metformin") == ["2026-10-25T08:00:00+01:00", "2026-10-25T18:00:00+01:00"]
    assert times(plan, "Sovetablett") == ["2026-10-25T02:30:00+02:00"]  # once: the first 02:30
    assert walls(plan, "Antibiotika") == ["00:00", "07:00", "15:00", "23:00"]


def test_an_interval_keeps_real_hours_across_the_night_of_the_change(
    lists: ListClient, nurse: ListClient
) -> None:
    import datetime as dt

    patient_id = new_patient_id()
    add(lists, patient_id, display_name="Antibiotika", morning=None, evening=None, dosage=every_8_hours())
    instants = [
        dt.datetime.fromisoformat(at)
        for day in ("2026-03-28", SPRING, "2026-03-30")
        for at in times(doses_of(nurse, patient_id, day), "Antibiotika")
    ]
    assert {b - a for a, b in itertools.pairwise(instants)} == {dt.timedelta(hours=8)}


def test_as_needed_medicines_are_listed_apart(lists: ListClient, nurse: ListClient) -> None:
    patient_id = new_patient_id()
    as_needed = {"unit": "tablett", "as_needed": {"amount": 2, "max_per_day": 8, "condition": "smerter"}}
    add(lists, patient_id, display_name="Paracet", morning=None, evening=None, dosage=as_needed)
    plan = doses_of(nurse, patient_id, ORDINARY)
    assert plan["doses"] == []
    assert [
        (m["display_name"], m["amount"], m["max_per_day"], m["condition"]) for m in plan["as_needed"]
    ] == [("Paracet", "2", "8", "smerter")]


def test_paused_stopped_and_expired_entries_give_no_doses(lists: ListClient, nurse: ListClient) -> None:
    patient_id = new_patient_id()
    add(lists, patient_id, display_name="Aktiv")
    paused = add(lists, patient_id, display_name="Pauset")
    stopped = add(lists, patient_id, display_name="Seponert")
    add(lists, patient_id, display_name="Utløpt", start_date="2026-01-01", end_date="2026-02-09")
    add(lists, patient_id, display_name="Ikke startet", start_date="2026-02-11")
    for entry, action, body in ((paused, "pause", {}), (stopped, "stop", {"reason": "bivirkninger"})):
        version = lists.version(patient_id)
        response = lists.write("POST", patient_id, f"/entries/{entry['id']}/{action}", body, version=version)
        assert response.status_code == 200, response.text
    plan = doses_of(nurse, patient_id, ORDINARY)
    assert {dose["display_name"] for dose in plan["doses"]} == {"Aktiv"}
    assert plan["list_version"] == 7


def test_the_day_defaults_to_today_and_a_bad_date_is_a_problem(lists: ListClient, nurse: ListClient) -> None:
    patient_id = new_patient_id()
    add(lists, patient_id, start_date="2020-01-01")
    today = nurse.http.get(f"/v1/patients/{patient_id}/doses")
    assert today.status_code == 200
    assert len(today.json()["doses"]) == 2
    bad = nurse.http.get(f"/v1/patients/{patient_id}/doses", params={"date": "2026-02-30"})
    assert (bad.status_code, bad.headers["content-type"]) == (422, "application/problem+json")


def test_reading_doses_needs_the_purpose_and_a_role_that_reads_lists(
    live_server: ServerProcess, server_settings: Settings
) -> None:
    patient_id = new_patient_id()
    auditor = ListClient(
        live_server.base_url, make_token(server_settings, DevelopmentClaims("aud-doses", "auditor"))
    )
    no_purpose = ListClient(live_server.base_url, make_token(server_settings, NURSE), purpose="")
    try:
        assert auditor.http.get(f"/v1/patients/{patient_id}/doses").status_code == 403
        response = no_purpose.http.get(f"/v1/patients/{patient_id}/doses", headers={"X-PML-Purpose": ""})
        assert response.status_code == 422
    finally:
        auditor.close()
        no_purpose.close()
