"""Errors of the medication list."""

from __future__ import annotations

from typing import Any

from pml.errors import DomainError, NotFound


class EntryNotFound(NotFound):
    problem_type = "entry-not-found"
    title = "No such entry on this list"


class VersionNotFound(NotFound):
    problem_type = "version-not-found"
    title = "The list never had that version"


class VersionConflict(DomainError):
    """The write was based on an older version; the caller gets the current list to rebase on."""

    problem_type = "version-conflict"
    title = "The list has changed since you read it"
    status = 412

    def __init__(self, *, expected: int, current: int, current_list: dict[str, Any]) -> None:
        super().__init__(
            f"you wrote against version {expected}, the list is now at version {current}",
            current_version=current,
            current_list=current_list,
        )


class InvalidTransition(DomainError):
    problem_type = "invalid-status-transition"
    title = "That status change is not possible"
    status = 409


class ListTooLarge(DomainError):
    problem_type = "list-too-large"
    title = "The list has reached its maximum number of entries"
    status = 422
