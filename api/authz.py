"""Who may do what. One table of role → permissions, checked per endpoint.

- Human roles get what their role allows; a patient only ever touches their own data.
- The `system` role (other Akson parts) gets only what its token's scopes name: the permission's value is the
  scope, e.g. `list:read`. A system client is trusted with no more than it was registered for.
- `admin` manages the catalogue and sees no patient data; `auditor` reads the audit log and nothing else.
"""

from __future__ import annotations

from enum import StrEnum

from api.auth import Forbidden, Principal, Role


class Permission(StrEnum):
    READ_LIST = "list:read"
    WRITE_LIST = "list:write"
    REVIEW_LIST = "list:review"
    READ_OWN_ACCESS_LOG = "access-log:read-own"
    MANAGE_OWN_BLOCKS = "blocks:manage-own"
    QUERY_AUDIT = "audit:query"
    READ_CATALOGUE = "catalogue:read"
    CHECK_INTERACTIONS = "interactions:check"
    MANAGE_CATALOGUE = "catalogue:manage"
    RECORD_ADMINISTRATION = "administration:record"
    READ_ADMINISTRATION = "administration:read"
    SUBMIT_SNAPSHOT = "snapshot:submit"
    SUBMIT_DISPENSING = "snapshot:submit-dispensing"
    SUBMIT_HOME_CARE = "snapshot:submit-home-care"
    RECONCILE = "reconciliation:reconcile"
    DECIDE_RECONCILIATION = "reconciliation:decide"
    SUBSCRIBE_EVENTS = "events:subscribe"


_CLINICAL_READ = frozenset({Permission.READ_LIST})
# The drug catalogue is public data; checking interactions is for those who treat or dispense.
_CATALOGUE_USE = frozenset({Permission.READ_CATALOGUE, Permission.CHECK_INTERACTIONS})
# Home care: nurses and prescribers record what was given; a patient reads their own; pharmacists neither.
_ADMINISTRATION = frozenset({Permission.RECORD_ADMINISTRATION, Permission.READ_ADMINISTRATION})
# Source snapshots: prescribers submit any source and decide; pharmacists submit dispensings, home-care nurses
# their list; systems submit (with the scope).
_RECONCILE = frozenset({Permission.SUBMIT_SNAPSHOT, Permission.RECONCILE, Permission.DECIDE_RECONCILIATION})

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.PRESCRIBER: _CLINICAL_READ | {Permission.WRITE_LIST, Permission.REVIEW_LIST} | _CATALOGUE_USE
    | _RECONCILE | _ADMINISTRATION,
    Role.NURSE: _CLINICAL_READ | _CATALOGUE_USE | {Permission.SUBMIT_HOME_CARE} | _ADMINISTRATION,
    Role.PHARMACIST: _CLINICAL_READ | _CATALOGUE_USE | {Permission.SUBMIT_DISPENSING},
    Role.PATIENT: _CLINICAL_READ
    | {Permission.READ_OWN_ACCESS_LOG, Permission.MANAGE_OWN_BLOCKS, Permission.READ_CATALOGUE}
    | {Permission.READ_ADMINISTRATION},
    Role.SYSTEM: frozenset({Permission.READ_LIST, Permission.WRITE_LIST}) | _CATALOGUE_USE
    | {Permission.SUBMIT_SNAPSHOT} | _ADMINISTRATION
    | {Permission.SUBSCRIBE_EVENTS},  # change events name patients: systems only, with the scope
    Role.ADMIN: frozenset({Permission.READ_CATALOGUE, Permission.MANAGE_CATALOGUE}),
    Role.AUDITOR: frozenset({Permission.QUERY_AUDIT}),
}

# Clinicians a patient can block (sperring), and who may then break the glass with a stated reason.
BLOCKABLE_ROLES = frozenset({Role.PRESCRIBER, Role.NURSE, Role.PHARMACIST})


def authorize(principal: Principal, permission: Permission, patient_id: str | None = None) -> None:
    """Refuse with 403 unless the caller's role (and, for systems, scopes) allow `permission` here."""
    if permission not in ROLE_PERMISSIONS[principal.role]:
        raise Forbidden(f"the role '{principal.role.value}' may not do '{permission.value}'")
    if principal.role is Role.SYSTEM and permission.value not in principal.scopes:
        raise Forbidden(f"this system client's token lacks the scope '{permission.value}'")
    if principal.role is Role.PATIENT and patient_id is not None and principal.national_id != patient_id:
        raise Forbidden("a patient may only see their own data")
