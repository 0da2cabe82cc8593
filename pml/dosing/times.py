"""The clock times the named times of day stand for. Configurable per municipality (`PML_NAMED_DOSE_TIMES`,
e.g. '{"morning": "07:30"}'); unnamed keys are refused so a typo cannot silently keep the default."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict


class NamedDoseTimes(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    morning: dt.time = dt.time(8, 0)
    midday: dt.time = dt.time(13, 0)
    evening: dt.time = dt.time(18, 0)
    night: dt.time = dt.time(22, 0)
