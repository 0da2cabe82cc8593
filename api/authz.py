"""Who may do what. One table, checked per endpoint; a patient may only ever touch their own list."""

from __future__ import annotations

from enum import StrEnum

from api.auth import Forbidden, Principal, Role


class Permission(StrEnum):
    READ_LIST = "list:read"
    WRITE_LIST = "list:write"
    REVIEW_LIST = "list:review"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.PRESCRIBER: frozenset({Permission.READ_LIST, Permission.WRITE_LIST, Permission.REVIEW_LIST}),
    Role.NURSE: frozenset({Permission.READ_LIST}),
    Role.PHARMACIST: frozenset({Permission.READ_LIST}),
    Role.PATIENT: frozenset({Permission.READ_LIST}),
    Role.SYSTEM: frozenset({Permission.READ_LIST, Permission.WRITE_LIST}),
    Role.ADMIN: frozenset(),
}


def authorize(principal: Principal, permission: Permission, patient_id: str) -> None:
    if permission not in ROLE_PERMISSIONS[principal.role]:
        raise Forbidden(f"the role '{principal.role.value}' may not do '{permission.value}'")
    if principal.role is Role.PATIENT and principal.national_id != patient_id:
        raise Forbidden("a patient may only see their own medication list")
