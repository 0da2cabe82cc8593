"""Naming systems and code systems the facade uses, in one place.

FEST identifiers use the systems of HL7 Norway's LMDI guide (Legemiddelregisteret, FHI), whose
`Medication.code.coding` slices name them under http://dmp.no/fhir/NamingSystem/ (DMP owns FEST). ATC uses
WHO's URI. Persons and organisations use the Norwegian OIDs (Volven / no-basis): fødselsnummer, D-number,
H-number, HPR number and Enhetsregisteret's organisation number. Where no national system exists, PML names
its own under https://pml.akson.no/fhir/.
"""

from __future__ import annotations

from pml.national_id import IdKind

ATC = "http://www.whocc.no/atc"
FEST_MERKEVARE = "http://dmp.no/fhir/NamingSystem/festLegemiddelMerkevare"
FEST_VARENUMMER = "http://dmp.no/fhir/NamingSystem/fest-varenummer"
FEST_VIRKESTOFF = "http://dmp.no/fhir/NamingSystem/festLegemiddelVirkestoff"

FODSELSNUMMER = "urn:oid:2.16.578.1.12.4.1.4.1"
D_NUMBER = "urn:oid:2.16.578.1.12.4.1.4.2"
H_NUMBER = "urn:oid:2.16.578.1.12.4.1.4.3"
HPR_NUMBER = "urn:oid:2.16.578.1.12.4.1.4.4"
ORGANISATION_NUMBER = "urn:oid:2.16.578.1.12.4.1.4.101"

# Synthetic test numbers (Tenor) are test fødselsnumre, so they carry the fødselsnummer system.
NATIONAL_ID_SYSTEMS: dict[IdKind, str] = {
    IdKind.FODSELSNUMMER: FODSELSNUMMER,
    IdKind.D_NUMBER: D_NUMBER,
    IdKind.H_NUMBER: H_NUMBER,
    IdKind.SYNTHETIC: FODSELSNUMMER,
}

URI = "urn:ietf:rfc:3986"

PML = "https://pml.akson.no/fhir"
EXT_ENTRY_SOURCE = f"{PML}/StructureDefinition/entry-source"
EXT_STRENGTH = f"{PML}/StructureDefinition/medication-strength"
EXT_FORM = f"{PML}/StructureDefinition/medication-form"
EXT_PRESCRIBER = f"{PML}/StructureDefinition/prescriber"
EXT_LAST_DISPENSED = f"{PML}/StructureDefinition/last-dispensed"
EXT_REVIEWED = f"{PML}/StructureDefinition/list-reviewed"
PRESCRIPTION_ID = f"{PML}/NamingSystem/prescription-id"
CLIENT_ID = f"{PML}/NamingSystem/client-id"
CHANGE_ACTION = f"{PML}/CodeSystem/change-action"
ENTRY_SOURCE = f"{PML}/CodeSystem/entry-source"
RECONCILIATION_POLICY = f"{PML}/reconciliation-policy"

LIST_EMPTY_REASON = "http://terminology.hl7.org/CodeSystem/list-empty-reason"
LIST_CODE = "http://terminology.hl7.org/CodeSystem/list-example-use-codes"
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
PROVENANCE_PARTICIPANT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
UCUM = "http://unitsofmeasure.org"
