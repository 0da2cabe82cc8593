"""The CapabilityStatement at /fhir/R4/metadata: what the facade supports, and nothing it does not."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

import pml
from api.fhir.bundles import base_url

RELEASE_DATE = "2026-11-25"
_PATIENT_SEARCH = {"name": "patient", "type": "reference", "documentation": "the patient's national id"}


def _interactions(*codes: str) -> list[dict[str, str]]:
    return [{"code": code} for code in codes]


def _resources() -> list[dict[str, Any]]:
    common = {
        "versioning": "versioned",
        "readHistory": True,
        "updateCreate": False,
        "conditionalRead": "not-match",
        "conditionalUpdate": False,
    }
    return [
        common
        | {
            "type": "List",
            "interaction": _interactions("read", "vread", "history-instance", "search-type"),
            "searchInclude": ["List:item"],
            "searchParam": [_PATIENT_SEARCH],
            "documentation": "the patient's medication list (mode working); id = national id",
        },
        common
        | {
            "type": "MedicationStatement",
            "interaction": _interactions("read", "vread", "update", "history-instance", "search-type"),
            "searchParam": [_PATIENT_SEARCH, {"name": "status", "type": "token"}],
            "documentation": "one list entry; update needs If-Match with its versionId (412 when stale)",
        },
        {
            "type": "Provenance",
            "interaction": _interactions("read", "search-type"),
            "searchParam": [_PATIENT_SEARCH, {"name": "target", "type": "reference"}],
            "documentation": "one per change record: who, on behalf of which organisation, when, why",
        },
    ]


def capability_statement(request: Request) -> CapabilityStatement:
    security = {
        "cors": False,
        "service": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "OAuth",
                        "display": "OAuth",
                    }
                ]
            }
        ],
        "description": "OAuth2 bearer tokens in the style of HelseID; "
        "state the purpose of use in X-PML-Purpose.",
    }
    return CapabilityStatement.model_validate(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": RELEASE_DATE,
            "publisher": "PML — pasientens legemiddelliste",
            "kind": "instance",
            "software": {"name": "PML", "version": pml.__version__},
            "implementation": {"description": "PML FHIR R4 facade", "url": base_url(request)},
            "fhirVersion": "4.0.1",
            "format": ["application/fhir+json", "json"],
            "rest": [{"mode": "server", "security": security, "resource": _resources()}],
        }
    )
