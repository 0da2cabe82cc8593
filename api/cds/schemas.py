"""The CDS Hooks 2.0 JSON shapes PML reads and writes (https://cds-hooks.hl7.org/2.0/).

Field names are the specification's (camelCase). Requests refuse unknown fields, like every PML input, except
where the specification itself allows more (`extension`, and the FHIR resources inside `draftOrders` and
`prefetch`, which are validated as FHIR).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Hook = Literal["order-select", "order-sign"]
Indicator = Literal["info", "warning", "critical"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Coding(_Strict):
    system: str
    code: str
    display: str


# -- discovery -----------------------------------------------------------------------------------------------


class ServiceDefinition(_Strict):
    hook: Hook
    id: str
    title: str
    description: str
    prefetch: dict[str, str] | None = None
    usageRequirements: str | None = None


class Discovery(_Strict):
    services: list[ServiceDefinition]


# -- a hook call ---------------------------------------------------------------------------------------------


class OrderContext(_Strict):
    """The context of order-select and order-sign: who, for which patient, and the draft orders (a Bundle)."""

    userId: str = Field(max_length=200)
    patientId: str = Field(max_length=64, description="the patient's national id (PML keys patients by it)")
    encounterId: str | None = Field(default=None, max_length=200)
    selections: list[str] | None = Field(default=None, max_length=50, description="order-select only")
    draftOrders: dict[str, Any]


class HookRequest(_Strict):
    hook: Hook
    hookInstance: uuid.UUID
    fhirServer: str | None = None
    fhirAuthorization: dict[str, Any] | None = None
    context: OrderContext
    prefetch: dict[str, Any] | None = None
    extension: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _selections_belong_to_order_select(self) -> HookRequest:
        if self.hook == "order-select" and not self.context.selections:
            raise ValueError("order-select needs context.selections (the newly selected orders)")
        if self.hook == "order-sign" and self.context.selections is not None:
            raise ValueError("order-sign has no context.selections")
        return self


# -- the response --------------------------------------------------------------------------------------------


class Source(_Strict):
    label: str
    url: str | None = None
    topic: Coding | None = None


class Action(_Strict):
    type: Literal["create", "update", "delete"]
    description: str
    resourceId: str | None = None


class Suggestion(_Strict):
    label: str
    uuid: uuid.UUID
    isRecommended: bool | None = None
    actions: list[Action]


class Link(_Strict):
    label: str
    url: str
    type: Literal["absolute", "smart"]


class Card(_Strict):
    uuid: uuid.UUID
    summary: str = Field(max_length=139, description="under 140 characters, as the specification requires")
    detail: str | None = None
    indicator: Indicator
    source: Source
    suggestions: list[Suggestion] | None = None
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[Coding] | None = None
    links: list[Link] | None = None

    @model_validator(mode="after")
    def _suggestions_need_a_selection_behaviour(self) -> Card:
        if self.suggestions and self.selectionBehavior is None:
            raise ValueError("a card with suggestions needs selectionBehavior")
        return self


class HookResponse(_Strict):
    cards: list[Card]


# -- feedback ------------------------------------------------------------------------------------------------


class AcceptedSuggestion(_Strict):
    id: str = Field(max_length=64)


class OverrideReason(_Strict):
    reason: Coding | None = None
    userComment: str | None = Field(default=None, max_length=2000)


class Feedback(_Strict):
    card: uuid.UUID
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = Field(default=None, max_length=20)
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: dt.datetime

    @model_validator(mode="after")
    def _accepted_names_its_suggestions(self) -> Feedback:
        if self.outcome == "accepted" and not self.acceptedSuggestions:
            raise ValueError("an accepted outcome lists its acceptedSuggestions")
        if self.outcomeTimestamp.tzinfo is None:
            raise ValueError("outcomeTimestamp needs a time zone (the specification says UTC)")
        return self


class FeedbackRequest(_Strict):
    feedback: list[Feedback] = Field(min_length=1, max_length=50)
