"""Errors of reconciliation, each with a stable problem type."""

from __future__ import annotations

from pml.errors import DomainError, NotFound


class SnapshotNotFound(NotFound):
    problem_type = "snapshot-not-found"
    title = "No such source snapshot for this patient"


class ProposalNotFound(NotFound):
    problem_type = "proposal-not-found"
    title = "No such reconciliation proposal for this patient"


class ProposalClosed(DomainError):
    """The proposal can take no decisions: superseded by a newer snapshot, or its interpretation failed."""

    problem_type = "proposal-closed"
    title = "This proposal takes no more decisions"
    status = 409


class FindingNotOpen(DomainError):
    problem_type = "finding-not-open"
    title = "The finding is not waiting for a decision"
    status = 409


class InvalidDecision(DomainError):
    problem_type = "invalid-decision"
    title = "The decision does not fit the finding"
    status = 422


class CatalogueNotActive(DomainError):
    problem_type = "catalogue-unavailable"
    title = "No drug catalogue release is active"
    status = 503
