"""Errors of CDS Hooks feedback."""

from __future__ import annotations

from pml.errors import DomainError, NotFound


class CardNotFound(NotFound):
    problem_type = "cds-card-not-found"
    title = "PML issued no such card"


class FeedbackRefused(DomainError):
    problem_type = "cds-feedback-refused"
    title = "The feedback does not fit the card"
    status = 422
