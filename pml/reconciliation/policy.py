"""Which findings apply without a clinician: the auto-apply policy, named in settings
(`PML_RECONCILIATION_AUTO_APPLY`, a JSON list of rule names; `[]` turns auto-apply off).

There is one rule, on by default, because it is the only change we consider safe to make unseen:

- `dispensing_updates_last_dispensed`: a pharmacy dispensing that matches an *active* list entry with
certainty
  (same product, or same substance and strength or substance) records the dispensing date on that entry. It
  changes no medicine, dose or status; it only says "handed over on this date".

Everything else waits for a decision: a dispensing of a stopped entry, a new medicine, a dose change, anything
uncertain. Settings import this module, so it imports only schemas at run time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from pml.medication_list.schemas import Source
from pml.reconciliation.schemas import FindingClass, RecordDispensingAction, SnapshotKind

if TYPE_CHECKING:
    from pml.reconciliation.evidence import SnapshotContext
    from pml.reconciliation.findings import DraftFinding


class AutoApplyRule(StrEnum):
    DISPENSING_UPDATES_LAST_DISPENSED = "dispensing_updates_last_dispensed"


DEFAULT_AUTO_APPLY: tuple[AutoApplyRule, ...] = (AutoApplyRule.DISPENSING_UPDATES_LAST_DISPENSED,)


@dataclass(frozen=True, slots=True)
class AutoApplyPolicy:
    rules: frozenset[AutoApplyRule]

    @classmethod
    def of(cls, rules: Iterable[str]) -> AutoApplyPolicy:
        return cls(frozenset(AutoApplyRule(rule) for rule in rules))

    def rule_for(self, context: SnapshotContext, finding: DraftFinding) -> AutoApplyRule | None:
        """The rule that applies this finding without a clinician, or None: it waits for a decision."""
        if AutoApplyRule.DISPENSING_UPDATES_LAST_DISPENSED in self.rules and _is_plain_dispensing(
            context, finding
        ):
            return AutoApplyRule.DISPENSING_UPDATES_LAST_DISPENSED
        return None


def _is_plain_dispensing(context: SnapshotContext, finding: DraftFinding) -> bool:
    return (
        context.source is Source.PHARMACY
        and context.kind is SnapshotKind.DISPENSING
        and finding.finding_class is FindingClass.UNCHANGED
        and isinstance(finding.action, RecordDispensingAction)
        and not finding.needs_review
    )
