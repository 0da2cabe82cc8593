"""Writes the audit record of every patient-data request before its response leaves the service.

Pure ASGI: it holds back the response start, appends the record (who, role, organisation, patient, action =
the route's name, purpose, emergency flag, outcome, request id) in its own transaction, then lets the response
go. If the audit log cannot be written, the caller gets a 503 problem instead of the data: no access to a
patient's list goes unrecorded.
"""

from __future__ import annotations

import logging
from typing import Any

from api.access import AuditDraft
from api.middleware import ASGIApp, Message, Receive, Scope, Send, send_problem
from pml.audit.schemas import AuditEvent, Outcome
from pml.audit.writer import AuditWriter

log = logging.getLogger(__name__)


def _outcome(status: int) -> Outcome:
    if status < 400:
        return Outcome.SUCCESS
    if status in (401, 403):
        return Outcome.DENIED
    return Outcome.FAILED


def audit_event(draft: AuditDraft, *, action: str, status: int, request_id: str | None) -> AuditEvent:
    actor = draft.principal.actor
    return AuditEvent(
        patient_id=draft.patient_id,
        actor_subject=actor.subject,
        actor_name=actor.name,
        actor_hpr=actor.hpr_number,
        role=draft.principal.role.value,
        organisation=actor.organisation,
        action=action,
        purpose=(draft.purpose or "")[:64] or None,
        emergency=draft.emergency_reason is not None,
        emergency_reason=draft.emergency_reason,
        outcome=_outcome(status),
        status_code=status,
        request_id=request_id,
    )


class AuditMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = False

        async def send_after_audit(message: Message) -> None:
            nonlocal refused
            if refused:
                return  # the original response is replaced by the 503 below
            if message["type"] == "http.response.start":
                draft = scope.get("state", {}).get("audit")
                if draft is not None and not await self._record(scope, draft, message["status"]):
                    refused = True
                    await send_problem(
                        send, 503, "audit-unavailable", "Audit log unavailable",
                        "the access could not be recorded in the audit log, so it is not served; try again",
                    )
                    return
            await send(message)

        await self.app(scope, receive, send_after_audit)

    @staticmethod
    async def _record(scope: Scope, draft: AuditDraft, status: int) -> bool:
        route: Any = scope.get("route")
        action = getattr(route, "name", None) or scope["path"]
        event = audit_event(draft, action=action, status=status, request_id=scope["state"].get("request_id"))
        writer: AuditWriter = scope["app"].state.audit_writer
        try:
            await writer.record(event)
        except Exception:  # any failure means the access is not recorded
            log.exception("audit record not written", extra={"request_id": event.request_id})
            return False
        return True
