from pml.errors import DomainError


class IdempotencyKeyReused(DomainError):
    problem_type = "idempotency-key-reused"
    title = "The Idempotency-Key was already used for a different request"
    status = 422
