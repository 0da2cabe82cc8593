from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator


class BlockKind(StrEnum):
    CLINICIAN = "clinician"  # by HPR number
    ORGANISATION = "organisation"  # by organisation number


class NewBlock(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: BlockKind
    value: Annotated[str, Field(pattern=r"^\d{4,9}$", description="HPR number or organisation number")]
    note: Annotated[str, Field(max_length=500)] | None = None

    @model_validator(mode="after")
    def _organisation_numbers_have_nine_digits(self) -> NewBlock:
        if self.kind is BlockKind.ORGANISATION and len(self.value) != 9:
            raise ValueError("an organisation number has 9 digits")
        return self


class Block(NewBlock):
    id: uuid.UUID
    created_at: dt.datetime
    revoked_at: dt.datetime | None = None


class BlockList(BaseModel):
    patient_id: str
    blocks: list[Block]
