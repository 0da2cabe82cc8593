"""Change events and webhook subscriptions as the relay, the API and subscribers see them.

An event says that a patient's list changed, to which version, how and by whose source; it carries no medicine
names or doses. A subscriber reads the change itself through the API with its own access rights (and is
audited doing so): events spread to streams and third-party endpoints, so they carry as little as will do.
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

EVENT_TYPE: Literal["medication-list.changed"] = "medication-list.changed"


class ChangeEvent(BaseModel):
    """One committed list change. Subscribers de-duplicate by `event_id` (or by patient and version), and skip
    an event whose version is not above the last they handled for the patient: delivery is at least once."""

    model_config = ConfigDict(frozen=True)

    event_id: uuid.UUID
    type: Literal["medication-list.changed"] = EVENT_TYPE
    patient_id: str
    version: int = Field(description="the list version this change made")
    action: str = Field(description="add, change, stop, pause, resume, review, ...")
    entry_id: uuid.UUID | None
    source: str
    organisation: str | None
    recorded_at: dt.datetime
    changes_path: str = Field(description="where to read the change: /v1 delta sync from the version before")

    @classmethod
    def of(
        cls,
        *,
        event_id: uuid.UUID,
        patient_id: str,
        version: int,
        action: str,
        entry_id: uuid.UUID | None,
        source: str,
        organisation: str | None,
        recorded_at: dt.datetime,
    ) -> ChangeEvent:
        path = f"/v1/patients/{patient_id}/medication-list/changes?since={version - 1}"
        return cls(
            event_id=event_id,
            patient_id=patient_id,
            version=version,
            action=action,
            entry_id=entry_id,
            source=source,
            organisation=organisation,
            recorded_at=recorded_at,
            changes_path=path,
        )


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NewSubscription(StrictModel):
    url: str = Field(min_length=8, max_length=2000, description="https URL the events are POSTed to")
    description: str | None = Field(default=None, max_length=200)
    patient_ids: list[str] | None = Field(
        default=None, min_length=1, max_length=1000, description="only these patients; omit for all"
    )


class Subscription(StrictModel):
    id: uuid.UUID
    url: str
    description: str | None
    patient_ids: list[str] | None
    created_at: dt.datetime
    active: bool


class SubscriptionCreated(Subscription):
    secret: str = Field(
        description="signs every delivery (X-PML-Signature: sha256=<hex HMAC-SHA256 of the body>); "
        "shown only now, keep it safe"
    )


class SubscriptionList(StrictModel):
    subscriptions: list[Subscription]


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"
    CANCELLED = "cancelled"


class Delivery(StrictModel):
    id: uuid.UUID
    subscription_id: uuid.UUID
    patient_id: str
    version: int
    event_id: uuid.UUID
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: dt.datetime
    next_attempt_at: dt.datetime | None
    delivered_at: dt.datetime | None
    dead_at: dt.datetime | None


class DeliveryPage(StrictModel):
    deliveries: list[Delivery]
