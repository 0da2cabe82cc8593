"""A FHIR update of a MedicationStatement as PML changes: the fields that differ become one entry change, and
a different status becomes a status change (pause, resume or stop), applied in that order in one transaction.

An update replaces what the MedicationStatement represents: an element left out clears that field. Elements
PML cannot store are refused (422) rather than dropped. Writing back exactly what was read changes nothing and
makes no new version.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B.medicationstatement import MedicationStatement
from pydantic import ValidationError

from api.fhir.dosage import dosage_elements
from api.fhir.statements import StatedEntry, UnsupportedStatement
from pml.errors import InvalidInput
from pml.medication_list.errors import InvalidTransition
from pml.medication_list.schemas import ChangeAction, Entry, EntryChange, EntryStatus

_STATUS_ACTIONS = {
    (EntryStatus.ACTIVE, EntryStatus.PAUSED): ChangeAction.PAUSE,
    (EntryStatus.PAUSED, EntryStatus.ACTIVE): ChangeAction.RESUME,
    (EntryStatus.ACTIVE, EntryStatus.STOPPED): ChangeAction.STOP,
    (EntryStatus.PAUSED, EntryStatus.STOPPED): ChangeAction.STOP,
}
_DOSAGE_FIELDS = ("dosage", "dose_text", "route")


@dataclass(frozen=True, slots=True)
class StatementUpdate:
    change: EntryChange | None
    status_action: ChangeAction | None
    status_reason: str | None

    @property
    def empty(self) -> bool:
        return self.change is None and self.status_action is None


def _date(value: Any, element: str) -> dt.date | None:
    if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return value
    raise UnsupportedStatement(f"{element} must be a whole date (YYYY-MM-DD): PML keeps dates, not times")


def _instant(value: Any, element: str) -> dt.datetime | None:
    if value is None or (isinstance(value, dt.datetime) and value.tzinfo is not None):
        return value
    raise UnsupportedStatement(f"{element} must be a date and time with a time zone")


def _normalised(stated: StatedEntry) -> dict[str, Any]:
    fields = dict(stated.fields)
    fields["start_date"] = _date(fields["start_date"], "effectivePeriod.start")
    fields["end_date"] = _date(fields["end_date"], "effectivePeriod.end")
    fields["last_dispensed_on"] = _date(fields["last_dispensed_on"], "the last-dispensed extension")
    fields["asserted_at"] = _instant(fields["asserted_at"], "dateAsserted")
    return fields


def _same_dosage(current: Entry, incoming: MedicationStatement) -> bool:
    """True when the incoming dosage elements are exactly what PML renders for the entry now (so an equivalent
    but differently structured reading of them is not mistaken for a change)."""
    rendered = dosage_elements(current.dosage, current.dose_text, current.route)
    current_json = MedicationStatement.model_validate(
        {
            "resourceType": "MedicationStatement",
            "status": "active",
            "subject": {"display": "-"},
            "medicationCodeableConcept": {"text": "-"},
            "dosage": rendered or None,
        }
    ).dosage
    return [d.model_dump_json() for d in current_json or []] == [
        d.model_dump_json() for d in incoming.dosage or []
    ]


def _changed_fields(current: Entry, stated: StatedEntry, incoming: MedicationStatement) -> dict[str, Any]:
    fields = _normalised(stated)
    if _same_dosage(current, incoming):
        fields = {name: value for name, value in fields.items() if name not in _DOSAGE_FIELDS}
    changed = {name: value for name, value in fields.items() if getattr(current, name) != value}
    if stated.source is not None and stated.source is not current.source:
        changed["source"] = stated.source
    return changed


def _entry_change(changed: dict[str, Any]) -> EntryChange | None:
    if not changed:
        return None
    try:
        return EntryChange(**changed)
    except ValidationError as error:
        raise InvalidInput(
            "the MedicationStatement would not be a valid list entry",
            errors=error.errors(include_url=False, include_input=False),
        ) from None


def _status_action(current: Entry, stated: StatedEntry) -> ChangeAction | None:
    if stated.status is current.status:
        return None
    action = _STATUS_ACTIONS.get((current.status, stated.status))
    if action is None:
        raise InvalidTransition(
            f"an entry that is {current.status.value} cannot become {stated.status.value}; "
            "restarting a medicine is a new entry"
        )
    if action is ChangeAction.STOP and not stated.status_reason:
        raise InvalidInput("stopping needs the reason in statusReason.text")
    return action


def plan_update(current: Entry, stated: StatedEntry, incoming: MedicationStatement) -> StatementUpdate:
    changed = _changed_fields(current, stated, incoming)
    if changed and current.status is EntryStatus.STOPPED:
        raise InvalidTransition("a stopped entry cannot be changed; add a new entry instead")
    action = _status_action(current, stated)
    return StatementUpdate(_entry_change(changed), action, stated.status_reason if action else None)
