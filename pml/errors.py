"""Domain errors carry their meaning, a stable problem type and an HTTP status; the API renders them as
RFC 9457 problem+json in one handler. The domain itself knows nothing of HTTP beyond the status number."""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """Base of every error a caller can act on. `problem_type` is a stable slug; never rename one."""

    problem_type: ClassVar[str] = "domain-error"
    title: ClassVar[str] = "The request could not be carried out"
    status: ClassVar[int] = 400

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class NotFound(DomainError):
    problem_type = "not-found"
    title = "Not found"
    status = 404


class InvalidInput(DomainError):
    problem_type = "validation-error"
    title = "The request is not valid"
    status = 422


class InvalidPatientId(DomainError):
    problem_type = "invalid-national-id"
    title = "Invalid national id"
    status = 422


class LimitExceeded(DomainError):
    problem_type = "limit-exceeded"
    title = "A size limit was exceeded"
    status = 422
