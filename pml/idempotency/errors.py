from pml.errors import DomainError


class IdempotencyKeyReused(DomainError):
    problem_type = "idempotency-key-reused"
    title = "The Idempotency-Key was already used for a different request"
    status = 422


class IdempotencyKeyInUse(DomainError):
    """Another request with the same key committed first; this one changed nothing and may be retried."""

    problem_type = "idempotency-key-in-use"
    title = "A request with this Idempotency-Key was being processed"
    status = 409
