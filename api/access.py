"""Access to one patient's data: authentication, role, patient blocks, emergency access and purpose of use.

Every route that touches patient data takes a `PatientAccess` dependency. It records an audit draft on the
request *before* deciding, so a refused call is audited as well as an allowed one; `api.audit` writes the
record with the outcome before the response leaves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import unquote

from fastapi import Depends, Request
from redis.exceptions import RedisError

from api.auth import Forbidden, Principal
from api.authz import BLOCKABLE_ROLES, Permission, authorize
from api.deps import checked_patient_id
from api.ratelimit import RateLimiter
from pml.audit.schemas import PurposeOfUse
from pml.cache.patient_cache import MISS, CachedPatient, PatientCache, RedisPatientCache
from pml.db.engine import Database
from pml.errors import InvalidInput, InvalidPatientId
from pml.medication_list.schemas import MedicationList
from pml.medication_list.service import blocks_and_current_list
from pml.privacy.repository import blocked_keys

PURPOSE_HEADER = "X-PML-Purpose"
EMERGENCY_HEADER = "X-PML-Emergency-Access"
# The attribute that marks a route's dependency as `patient_access`, for the OpenAPI document.
PATIENT_ACCESS_MARK = "pml_patient_access"
MIN_EMERGENCY_REASON = 10


@dataclass(frozen=True, slots=True)
class AuditDraft:
    """What the audit record will say, filled in before the decision; the outcome comes from the response."""

    principal: Principal
    patient_id: str
    purpose: str | None
    emergency_reason: str | None


@dataclass(frozen=True, slots=True)
class PatientAccess:
    principal: Principal
    patient_id: str
    purpose: PurposeOfUse
    emergency_reason: str | None

    @property
    def emergency(self) -> bool:
        return self.emergency_reason is not None


def _purpose(principal: Principal, stated: str | None) -> PurposeOfUse:
    if stated is None:
        if principal.role.value == "patient":
            return PurposeOfUse.PATRQT
        raise InvalidInput(f"state the purpose of use in the {PURPOSE_HEADER} header, e.g. TREAT")
    try:
        return PurposeOfUse(stated.strip().upper())
    except ValueError:
        codes = ", ".join(p.value for p in PurposeOfUse)
        raise InvalidInput(f"{PURPOSE_HEADER} must be one of {codes}") from None


def _emergency_reason(stated: str | None) -> str | None:
    """The stated reason; HTTP headers are ASCII, so Norwegian text comes percent-encoded (UTF-8)."""
    if stated is None:
        return None
    try:
        reason = unquote(stated, errors="strict").strip()
    except UnicodeDecodeError:
        raise InvalidInput(f"{EMERGENCY_HEADER} must be percent-encoded UTF-8") from None
    if len(reason) < MIN_EMERGENCY_REASON:
        raise InvalidInput(f"emergency access needs a reason of at least {MIN_EMERGENCY_REASON} characters")
    return reason[:500]


@dataclass(frozen=True, slots=True)
class PrefetchedList:
    """The list, read with the blocks by the access check of a list read that had neither cached. The read
    puts both in the cache in one round trip (blocks are not cached if access is refused: read again). In
    the rare case that the blocks changed while the list's version stayed cached, a conditional read that
    then answers 304 has read the list for nothing."""

    medication_list: MedicationList
    blocks: frozenset[str]
    blocks_generation: int


async def _blocks(
    request: Request, patient_id: str, cached: CachedPatient, *, prefetch_list: bool
) -> frozenset[str]:
    if cached.blocks is not None:
        return cached.blocks
    state = request.app.state
    database: Database = state.database
    async with database.read_statement() as connection:
        if prefetch_list and cached.list_body is None:
            blocks, current = await blocks_and_current_list(connection, patient_id)
            request.state.prefetched_list = PrefetchedList(current, blocks, cached.blocks_generation)
            return blocks
        blocks = await blocked_keys(connection, patient_id)
    cache: PatientCache = state.patient_cache
    await cache.remember_blocks(patient_id, cached.blocks_generation, blocks)
    return blocks


async def _check_blocks(
    request: Request, access: PatientAccess, cached: CachedPatient, *, prefetch_list: bool
) -> None:
    principal = access.principal
    if principal.role not in BLOCKABLE_ROLES:
        return
    blocks = await _blocks(request, access.patient_id, cached, prefetch_list=prefetch_list)
    actor = principal.actor
    blocked = f"clinician:{actor.hpr_number}" in blocks or f"organisation:{actor.organisation}" in blocks
    if blocked and not access.emergency:
        raise Forbidden(
            "the patient has blocked access for you or your organisation; in an emergency, repeat the call "
            f"with the {EMERGENCY_HEADER} header stating the reason (it is logged and reviewed)"
        )


def patient_access(
    permission: Permission, *, prefetch_list: bool = False
) -> Callable[..., Awaitable[PatientAccess]]:
    """A dependency granting `permission` on the path's patient, or refusing with 403 (audited either way).

    Every patient-data request takes it, so FastAPI solves nothing for it but the request: the token, the
    path's patient and the headers are read here (FastAPI's per-parameter work was a visible share of a cached
    read), and `api.openapi` documents the path parameter and headers for every route that takes it. The
    rate-limit count and the patient's cache entry travel in one Redis round trip. With `prefetch_list`
    (the list read), blocks that must come from PostgreSQL come in one statement with the list, which the
    route then finds in `request.state.prefetched_list` (a `PrefetchedList`)."""

    async def dependency(request: Request) -> PatientAccess:
        headers = request.headers
        principal: Principal = request.app.state.token_verifier.principal(headers.get("authorization"))
        patient_id = await _valid_patient_id(request, principal, request.path_params["patient_id"])
        cached = await _count_and_fetch(request, principal.actor.subject, patient_id)
        return await grant_access(
            request, principal, patient_id, permission, cached=cached,
            purpose=headers.get(PURPOSE_HEADER), emergency=headers.get(EMERGENCY_HEADER),
            prefetch_list=prefetch_list,
        )

    setattr(dependency, PATIENT_ACCESS_MARK, permission)
    return dependency


async def grant_access(
    request: Request,
    principal: Principal,
    patient_id: str,
    permission: Permission,
    *,
    cached: CachedPatient,
    purpose: str | None,
    emergency: str | None,
    prefetch_list: bool = False,
) -> PatientAccess:
    """Role, scopes, purpose of use, emergency reason and blocks, for a caller already counted against its
    rate limit; the audit draft is on the request before anything is decided."""
    request.state.audit = AuditDraft(principal, patient_id, purpose, emergency)
    access = PatientAccess(principal, patient_id, _purpose(principal, purpose), _emergency_reason(emergency))
    request.state.audit = AuditDraft(principal, patient_id, access.purpose.value, access.emergency_reason)
    authorize(principal, permission, patient_id)
    request.state.cached_patient = cached
    await _check_blocks(request, access, cached, prefetch_list=prefetch_list)
    return access


async def _valid_patient_id(request: Request, principal: Principal, patient_id: str) -> str:
    """The national id, or 422; a refused id still counts against the caller's rate limit."""
    try:
        return checked_patient_id(patient_id, request.app.state.settings)
    except InvalidPatientId:
        await request.app.state.rate_limiter.check(principal.actor.subject)
        raise


async def _count_and_fetch(request: Request, subject: str, patient_id: str) -> CachedPatient:
    """Count the request against the caller's rate limit (429 when over) and fetch the patient's cache entry:
    one Redis round trip when both live in Redis, each on its own otherwise."""
    state = request.app.state
    limiter: RateLimiter = state.rate_limiter
    cache: PatientCache = state.patient_cache
    if not isinstance(cache, RedisPatientCache) or not await cache.usable():
        await limiter.check(subject)
        return await cache.fetch(patient_id)
    window, count_commands = limiter.count_commands(subject)
    try:
        replies = await cache.round_trips.send([*count_commands, cache.fetch_command(patient_id)])
    except (RedisError, OSError) as error:  # OSError includes the deadline's TimeoutError
        cache.failed(error)
        limiter.counted(subject, window, None)
        return MISS
    count, _expiry, fields = replies
    limiter.counted(subject, window, count)
    return cache.parse_fetched(fields)


ReadListAccess = Annotated[PatientAccess, Depends(patient_access(Permission.READ_LIST))]
WriteListAccess = Annotated[PatientAccess, Depends(patient_access(Permission.WRITE_LIST))]
ReviewListAccess = Annotated[PatientAccess, Depends(patient_access(Permission.REVIEW_LIST))]
