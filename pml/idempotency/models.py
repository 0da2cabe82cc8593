"""The idempotency table."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Integer, LargeBinary, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from pml.db.base import Base
from pml.medication_list.models import PATIENT_ID


class IdempotencyRecordRow(Base):
    """The first response to a write, so a retry with the same Idempotency-Key gets it back unchanged."""

    __tablename__ = "idempotency_record"

    patient_id: Mapped[str] = mapped_column(PATIENT_ID, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    status_code: Mapped[int] = mapped_column(Integer, nullable=False)
    response_headers: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False)
    response_body: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("clock_timestamp()")
    )
