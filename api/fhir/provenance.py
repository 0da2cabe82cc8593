"""One FHIR Provenance per change record: what changed (the list and the entry, at that version), who (a
practitioner by HPR number, on behalf of an organisation by organisation number), when it was recorded, why,
and which source asserted it (with the reconciled snapshot or auto-apply policy when there was one)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fhir.resources.R4B.provenance import Provenance as FhirProvenance

from api.fhir import naming
from api.fhir.ids import provenance_id, statement_id
from api.fhir.references import actor_reference, organisation_reference
from pml.medication_list.schemas import ChangeAction, ChangeRecord

_DATA_OPERATION = {ChangeAction.ADD: ("CREATE", "create")}
_UPDATE = ("UPDATE", "revise")


def _activity(action: ChangeAction) -> dict[str, Any]:
    codings = [{"system": naming.CHANGE_ACTION, "code": action.value}]
    if action is not ChangeAction.REVIEW:  # a review changes no data; v3 DataOperation has no code for it
        code, display = _DATA_OPERATION.get(action, _UPDATE)
        codings.insert(0, {"system": naming.DATA_OPERATION, "code": code, "display": display})
    return {"coding": codings, "text": action.value}


def _targets(patient_id: str, change: ChangeRecord) -> list[dict[str, Any]]:
    targets = [{"reference": f"List/{patient_id}/_history/{change.version}"}]
    if change.entry_id is not None:
        statement = statement_id(patient_id, change.entry_id)
        targets.append({"reference": f"MedicationStatement/{statement}/_history/{change.version}"})
    return targets


def _agent(patient_id: str, change: ChangeRecord) -> dict[str, Any]:
    agent: dict[str, Any] = {
        "type": {
            "coding": [{"system": naming.PROVENANCE_PARTICIPANT, "code": "author", "display": "Author"}]
        },
        "role": [{"text": change.actor.role}],
        "who": actor_reference(change.actor, patient_id),
    }
    if change.organisation:
        agent["onBehalfOf"] = organisation_reference(change.organisation)
    return agent


def _source_entity(change: ChangeRecord) -> dict[str, Any]:
    what: dict[str, Any] = {"display": f"kilde: {change.source.value}"}
    snapshot = change.provenance.snapshot_id if change.provenance else None
    if snapshot is not None:
        what["identifier"] = {"system": naming.URI, "value": f"urn:uuid:{snapshot}"}
    return {"role": "source", "what": what}


def provenance_resource(patient_id: str, change: ChangeRecord) -> FhirProvenance:
    resource: dict[str, Any] = {
        "resourceType": "Provenance",
        "id": provenance_id(patient_id, change.version),
        "meta": {"versionId": "1", "lastUpdated": change.recorded_at},
        "target": _targets(patient_id, change),
        "recorded": change.recorded_at,
        "activity": _activity(change.action),
        "agent": [_agent(patient_id, change)],
        "entity": [_source_entity(change)],
    }
    if change.reason:
        resource["reason"] = [{"text": change.reason}]
    if change.provenance is not None and change.provenance.policy:
        resource["policy"] = [f"{naming.RECONCILIATION_POLICY}/{quote(change.provenance.policy, safe='')}"]
    return FhirProvenance.model_validate(resource)
