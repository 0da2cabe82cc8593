"""Errors of administration records. Problem types are stable; never rename one."""

from __future__ import annotations

import uuid

from pml.errors import DomainError, NotFound


class AdministrationNotFound(NotFound):
    problem_type = "administration-not-found"
    title = "No such administration record for this patient"


class AlreadyCorrected(DomainError):
    """A record is corrected once; a second correction must correct the correction, so the chain stays one."""

    problem_type = "administration-already-corrected"
    title = "That record has already been corrected"
    status = 409

    def __init__(self, record_id: uuid.UUID, corrected_by: uuid.UUID) -> None:
        super().__init__(
            f"record {record_id} was corrected by {corrected_by}; correct that record instead",
            corrected_by=str(corrected_by),
        )


class UnknownListVersion(DomainError):
    problem_type = "unknown-list-version"
    title = "The list never had that version"
    status = 422


class OccurredInTheFuture(DomainError):
    problem_type = "occurred-in-the-future"
    title = "The administration is dated in the future"
    status = 422
