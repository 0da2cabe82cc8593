"""Each finding class, from small hand-written cases (the corpus covers them at volume). Pure: the list is
built as entries in memory and the pipeline runs without a database."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from pml.medication_list.schemas import Entry, EntryStatus, Source
from pml.reconciliation.evidence import SnapshotContext
from pml.reconciliation.findings import DraftFinding, random_uuids
from pml.reconciliation.interpretation.resolver import Resolver
from pml.reconciliation.pipeline import reconcile
from pml.reconciliation.policy import DEFAULT_AUTO_APPLY, AutoApplyPolicy
from pml.reconciliation.schemas import (
    AddEntryAction,
    ChangeEntryAction,
    FindingClass,
    FindingState,
    PauseEntryAction,
    RecordDispensingAction,
    SnapshotEntry,
    SnapshotKind,
    StopEntryAction,
)

AS_OF = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


def entry(
    name: str,
    *,
    atc: str | None = None,
    strength: str | None = None,
    dose_text: str | None = None,
    status: EntryStatus = EntryStatus.ACTIVE,
    **extra: Any,
) -> Entry:
    return Entry.model_validate(
        {
            "id": uuid.uuid4(),
            "display_name": name,
            "product": {"atc": atc} if atc else {},
            "strength": strength,
            "dose_text": dose_text,
            "source": "gp",
            "status": status,
            "created_version": 1,
            "updated_version": 1,
        }
        | extra
    )


def findings(
    entries: list[Entry],
    sent: list[dict[str, Any]],
    resolver: Resolver,
    *,
    source: Source = Source.GP,
    kind: SnapshotKind = SnapshotKind.MEDICATION_LIST,
) -> list[DraftFinding]:
    snapshot = [SnapshotEntry.model_validate(item) for item in sent]
    return reconcile(SnapshotContext(source, kind, AS_OF), snapshot, entries, resolver)


def varenr_of(resolver: Resolver, name_form_strength: str) -> str:
    """The synthetic catalogue's varenr of a product, looked up rather than hard-coded."""
    catalogue = resolver.facts.catalogue
    product = next(p for p in catalogue.products.values() if p.name_form_strength == name_form_strength)
    return next(k.varenr for k in catalogue.packages.values() if k.product_id == product.id)


def only(found: list[DraftFinding], finding_class: FindingClass) -> DraftFinding:
    matching = [f for f in found if f.finding_class is finding_class]
    assert len(matching) == 1, [(f.finding_class, f.summary) for f in found]
    return matching[0]


def test_the_same_medicine_written_another_way_is_unchanged(resolver: Resolver) -> None:
    listed = entry("Selo-Zok depottab 50 mg", atc="C07AB02", strength="50 mg", dose_text="1 tablett morgen")
    found = findings([listed], [{"name": "Selo-zok 50mg", "dose_text": "1+0+0"}], resolver)
    unchanged = only(found, FindingClass.UNCHANGED)
    assert unchanged.list_entry_id == listed.id
    assert unchanged.source_index == 0
    assert unchanged.state is FindingState.INFORMATIONAL
    assert unchanged.action is None
    assert unchanged.evidence.match is not None
    assert unchanged.evidence.match.certainty.value == "certain"


def test_a_medicine_only_the_source_has_is_new_and_accepting_adds_it(resolver: Resolver) -> None:
    found = findings(
        [], [{"name": "Albyl E 75 mg", "dose_text": "1 tablett morgen", "start_date": "01.10.2026"}], resolver
    )
    new = only(found, FindingClass.NEW_IN_SOURCE)
    assert isinstance(new.action, AddEntryAction)
    added = new.action.entry
    assert (added.display_name, added.product.atc, added.strength) == ("Albyl E 75 mg", "B01AC06", "75 mg")
    assert added.start_date == dt.date(2026, 10, 1)
    assert added.dose_text == "1 tablett morgen"
    assert added.dosage is not None
    assert added.dosage.schedule[0].time_of_day.value == "morning"
    assert added.source is Source.GP
    assert new.state is FindingState.OPEN


@pytest.mark.parametrize(
    ("kind", "source", "stops"),
    [
        (SnapshotKind.MEDICATION_LIST, Source.GP, True),
        (SnapshotKind.DISCHARGE, Source.HOSPITAL, True),
        (SnapshotKind.ADMISSION, Source.HOSPITAL, False),
        (SnapshotKind.MEDICATION_LIST, Source.HOME_CARE, False),
    ],
)
def test_a_list_medicine_the_source_leaves_out_is_missing(
    resolver: Resolver, kind: SnapshotKind, source: Source, stops: bool
) -> None:
    furix = entry("Furix tab 40 mg", atc="C03CA01", strength="40 mg")
    found = findings([furix], [], resolver, source=source, kind=kind)
    missing = only(found, FindingClass.MISSING_IN_SOURCE)
    assert missing.list_entry_id == furix.id
    assert isinstance(missing.action, StopEntryAction) is stops
    assert (missing.action is None) is not stops


def test_a_dispensing_says_nothing_about_what_it_leaves_out(resolver: Resolver) -> None:
    furix = entry("Furix tab 40 mg", atc="C03CA01", strength="40 mg")
    assert findings([furix], [], resolver, source=Source.PHARMACY, kind=SnapshotKind.DISPENSING) == []


def test_another_strength_and_another_regimen_are_a_dose_change(resolver: Resolver) -> None:
    listed = entry("Metformin Sandoz tab 500 mg", atc="A10BA02", strength="500 mg", dose_text="1+0+1")
    found = findings([listed], [{"name": "Glucophage 1 g", "dose_text": "1 x 3"}], resolver)
    changed = only(found, FindingClass.DOSE_CHANGED)
    assert len(changed.evidence.differences) == 2
    assert not changed.needs_review
    assert isinstance(changed.action, ChangeEntryAction)
    assert changed.action.entry_id == listed.id
    change = changed.action.change
    assert (change.strength, change.dose_text, change.dosage) == ("1 g", "1 x 3", None)


def test_a_substance_name_with_another_strength_in_its_field_is_a_dose_change(resolver: Resolver) -> None:
    listed = entry("Metformin Sandoz tab 500 mg", atc="A10BA02", strength="500 mg", dose_text="1+0+1")
    found = findings([listed], [{"name": "Metformin", "strength": "1 g", "dose_text": "1+0+1"}], resolver)
    changed = only(found, FindingClass.DOSE_CHANGED)
    assert changed.evidence.differences == ["strength 500 mg on the list, 1 g in the source"]


def test_a_dose_in_mg_equal_to_the_tablets_on_the_list_is_unchanged(resolver: Resolver) -> None:
    listed = entry(
        "Paracet tab 500 mg", atc="N02BE01", strength="500 mg", dose_text="2 tabletter 4 ganger daglig"
    )
    sent = {"name": "Paracetamol tablett 500 mg", "strength": "500 mg", "dose_text": "1 g x 4"}
    assert only(findings([listed], [sent], resolver), FindingClass.UNCHANGED).list_entry_id == listed.id


def test_a_dose_text_that_cannot_be_compared_is_a_dose_change_to_review(resolver: Resolver) -> None:
    listed = entry("Furix tab 40 mg", atc="C03CA01", strength="40 mg", dose_text="1 tablett morgen")
    found = findings([listed], [{"name": "Furix 40 mg", "dose_text": "som avtalt med fastlegen"}], resolver)
    assert only(found, FindingClass.DOSE_CHANGED).needs_review


@pytest.mark.parametrize(
    ("source_status", "list_status", "action_type"),
    [
        ("seponert", EntryStatus.ACTIVE, StopEntryAction),
        ("pausert", EntryStatus.ACTIVE, PauseEntryAction),
        ("aktiv", EntryStatus.STOPPED, AddEntryAction),
    ],
)
def test_stopped_in_one_and_active_in_the_other_is_a_status_conflict(
    resolver: Resolver, source_status: str, list_status: EntryStatus, action_type: type
) -> None:
    marevan = entry("Marevan tab 2,5 mg", atc="B01AA03", strength="2,5 mg", status=list_status)
    sent = {"name": "Marevan 2,5 mg", "status": source_status, "status_reason": "byttet til Eliquis"}
    conflict = only(findings([marevan], [sent], resolver), FindingClass.STATUS_CONFLICT)
    assert isinstance(conflict.action, action_type)
    if isinstance(conflict.action, StopEntryAction):
        assert "byttet til Eliquis" in conflict.action.reason


def test_a_dispensing_of_a_stopped_medicine_waits_for_a_prescriber(resolver: Resolver) -> None:
    marevan = entry("Marevan tab 2,5 mg", atc="B01AA03", strength="2,5 mg", status=EntryStatus.STOPPED)
    sent = {
        "varenr": varenr_of(resolver, "Marevan tab 2,5 mg"),
        "name": "Marevan tab 2,5 mg",
        "dispensed_on": "2026-11-19",
    }
    conflict = only(
        findings([marevan], [sent], resolver, source=Source.PHARMACY, kind=SnapshotKind.DISPENSING),
        FindingClass.STATUS_CONFLICT,
    )
    assert conflict.action is None
    assert conflict.state is FindingState.OPEN


def test_two_brands_of_one_substance_in_the_source_are_duplicate_therapy(resolver: Resolver) -> None:
    paracet = entry("Paracet tab 500 mg", atc="N02BE01", strength="500 mg", dose_text="2 x 4")
    sent = [{"name": "Paracet 500 mg", "dose_text": "2 x 4"}, {"name": "Pinex 500 mg", "dose_text": "2x4"}]
    found = findings([paracet], sent, resolver)
    assert only(found, FindingClass.UNCHANGED).source_index == 0
    duplicate = only(found, FindingClass.DUPLICATE_THERAPY)
    assert duplicate.source_index == 1
    assert duplicate.action is None
    assert duplicate.evidence.related[0].role == "duplicate_of"


def test_two_brands_of_one_substance_on_the_list_offer_to_stop_the_one_the_source_lacks(
    resolver: Resolver,
) -> None:
    selo = entry("Selo-Zok depottab 50 mg", atc="C07AB02", strength="50 mg", dose_text="1 tablett morgen")
    generic = entry(
        "Metoprolol Sandoz depottab 50 mg", atc="C07AB02", strength="50 mg", dose_text="1 tablett morgen"
    )
    found = findings([selo, generic], [{"name": "Selo-Zok 50 mg", "dose_text": "1x1"}], resolver)
    duplicate = only(found, FindingClass.DUPLICATE_THERAPY)
    assert duplicate.list_entry_id == generic.id
    assert isinstance(duplicate.action, StopEntryAction)
    assert duplicate.action.entry_id == generic.id


def test_a_regular_and_an_as_needed_dose_of_one_substance_are_no_duplicate(resolver: Resolver) -> None:
    regular = entry("OxyContin depottab 10 mg", atc="N02AA05", strength="10 mg", dose_text="1 x 2")
    as_needed = entry("OxyNorm kaps 5 mg", atc="N02AA05", strength="5 mg", dose_text="1 kapsel ved behov")
    sent = [
        {"name": "Oksykodon kapsel 5 mg", "dose_text": "5 mg ved behov"},
        {"name": "Oksykodon depottablett 10 mg", "dose_text": "10 mg x 2"},
    ]
    found = findings([regular, as_needed], sent, resolver)
    pairs = {f.source_index: f.list_entry_id for f in found}
    assert [f.finding_class for f in found] == [FindingClass.UNCHANGED, FindingClass.UNCHANGED]
    assert pairs == {0: as_needed.id, 1: regular.id}


def test_a_name_no_catalogue_medicine_fits_is_unresolved_free_text(resolver: Resolver) -> None:
    found = findings([], [{"name": "Tran", "dose_text": "5 ml daglig"}], resolver)
    unresolved = only(found, FindingClass.UNRESOLVED_FREE_TEXT)
    assert unresolved.needs_review
    assert isinstance(unresolved.action, AddEntryAction)
    assert unresolved.action.entry.display_name == "Tran"
    assert unresolved.action.entry.product.atc is None


def test_a_free_text_written_alike_is_offered_as_a_possible_match_never_merged(resolver: Resolver) -> None:
    omega = entry("Omega-3", dose_text="1 x 2")
    found = findings([omega], [{"name": "Omega-3 kapsler (kosttilskudd)", "dose_text": "1 x 2"}], resolver)
    unresolved = only(found, FindingClass.UNRESOLVED_FREE_TEXT)
    missing = only(found, FindingClass.MISSING_IN_SOURCE)
    assert unresolved.evidence.related[0].role == "possible_match"
    assert unresolved.evidence.related[0].entry_id == omega.id
    assert missing.needs_review
    assert missing.list_entry_id == omega.id


def test_a_free_text_written_the_same_matches(resolver: Resolver) -> None:
    tran = entry("Tran", dose_text="5 ml daglig")
    found = findings([tran], [{"name": "TRAN", "dose_text": "5 ml daglig"}], resolver)
    assert only(found, FindingClass.UNCHANGED).evidence.match.rule.value == "same_free_text"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("listed", "atc", "sent"),
    [
        ("Cipramil tab 20 mg", "N06AB04", "Cipralex 20 mg"),
        ("Losec MUPS enterotab 20 mg", "A02BC01", "Nexium 20 mg"),
        ("Zocor tab 20 mg", "C10AA01", "Lipitor 20 mg"),
        ("Pinex tab 500 mg", "N02BE01", "Pinex Forte"),
    ],
)
def test_look_alike_names_of_different_substances_are_never_merged(
    resolver: Resolver, listed: str, atc: str, sent: str
) -> None:
    found = findings([entry(listed, atc=atc)], [{"name": sent, "dose_text": "1x1"}], resolver)
    assert {f.finding_class for f in found} == {FindingClass.NEW_IN_SOURCE, FindingClass.MISSING_IN_SOURCE}
    assert all(f.evidence.match is None for f in found)


def test_an_id_that_contradicts_its_name_resolves_to_nothing(resolver: Resolver) -> None:
    paracet = varenr_of(resolver, "Paracet tab 500 mg")
    found = findings([], [{"varenr": paracet, "name": "Marevan 2,5 mg"}], resolver)
    unresolved = only(found, FindingClass.UNRESOLVED_FREE_TEXT)
    assert "does not fit the name" in (unresolved.evidence.source_entry.resolution.note or "")  # type: ignore[union-attr]


def test_a_pharmacy_dispensing_of_an_active_entry_proposes_its_date(resolver: Resolver) -> None:
    listed = entry(
        "Selo-Zok depottab 50 mg",
        atc="C07AB02",
        strength="50 mg",
        dose_text="1 tablett morgen",
        last_dispensed_on="2026-10-01",
    )
    sent = {
        "varenr": varenr_of(resolver, "Selo-Zok depottab 50 mg"),
        "name": "Selo-Zok depottab 50 mg",
        "dispensed_on": "2026-11-19",
        "dose_text": "1 tablett om morgenen",
    }
    found = findings([listed], [sent], resolver, source=Source.PHARMACY, kind=SnapshotKind.DISPENSING)
    dispensed = only(found, FindingClass.UNCHANGED)
    assert dispensed.action is not None
    assert dispensed.action.kind == "record_dispensing"
    assert dispensed.action.dispensed_on == dt.date(2026, 11, 19)  # type: ignore[union-attr]


SELF_CONTRADICTION = (
    "the source disagrees with itself about strength: 850 mg in the strength field, 500 mg in the name"
)


def test_a_source_contradicting_its_own_strength_is_not_unchanged_without_review(resolver: Resolver) -> None:
    """The field agrees with the list, the name does not: shown for review, not filed as informational."""
    listed = entry("Metformin Sandoz tab 850 mg", atc="A10BA02", strength="850 mg", dose_text="1+0+1")
    sent = {"name": "Glucophage 500 mg", "strength": "850 mg", "dose_text": "1+0+1"}
    found = only(findings([listed], [sent], resolver), FindingClass.UNCHANGED)
    assert found.needs_review
    assert found.state is FindingState.OPEN
    assert found.evidence.differences == [SELF_CONTRADICTION]
    assert SELF_CONTRADICTION in found.summary
    resolution = found.evidence.source_entry.resolution  # type: ignore[union-attr]
    assert resolution.strength_conflict is not None
    assert (resolution.strength_conflict.strength_field, resolution.strength_conflict.name) == (
        "850 mg",
        "500 mg",
    )


@pytest.mark.parametrize("name", ["Metformin 500 mg", "Glucophage 500 mg", "Metforim 500 mg"])
def test_a_dose_change_from_a_self_contradicting_source_needs_review(resolver: Resolver, name: str) -> None:
    listed = entry("Metformin Sandoz tab 1 g", atc="A10BA02", strength="1 g", dose_text="1+0+1")
    found = findings([listed], [{"name": name, "strength": "850 mg", "dose_text": "1+0+1"}], resolver)
    changed = only(found, FindingClass.DOSE_CHANGED)
    assert changed.needs_review
    strength = "strength 1 g on the list, 850 mg in the source"
    assert changed.evidence.differences == [strength, SELF_CONTRADICTION]


def test_a_new_medicine_from_a_self_contradicting_source_needs_review(resolver: Resolver) -> None:
    found = findings([], [{"name": "Metformin 500 mg", "strength": "850 mg"}], resolver)
    new = only(found, FindingClass.NEW_IN_SOURCE)
    assert new.needs_review
    assert new.evidence.differences == [SELF_CONTRADICTION]


def test_a_list_entry_contradicting_its_own_strength_makes_its_finding_need_review(
    resolver: Resolver,
) -> None:
    listed = entry("Metformin tab 500 mg", atc="A10BA02", strength="850 mg")
    missing = only(findings([listed], [], resolver), FindingClass.MISSING_IN_SOURCE)
    assert missing.needs_review
    contradiction = "850 mg in the strength field, 500 mg in the name"
    assert missing.evidence.differences == [
        f"the list entry disagrees with itself about strength: {contradiction}"
    ]


def test_the_same_strength_written_two_ways_needs_no_review(resolver: Resolver) -> None:
    listed = entry("Metformin Sandoz tab 500 mg", atc="A10BA02", strength="500 mg", dose_text="1+0+1")
    sent = {"name": "Glucophage 0,5 g", "strength": "500mg", "dose_text": "1+0+1"}
    found = only(findings([listed], [sent], resolver), FindingClass.UNCHANGED)
    assert not found.needs_review
    assert found.state is FindingState.INFORMATIONAL


def test_a_dispensing_that_contradicts_its_own_strength_is_not_applied_by_policy(resolver: Resolver) -> None:
    """The one automatic rule records a dispensing date; a dispensing unsure of its own strength waits."""
    listed = entry("Metformin Sandoz tab 850 mg", atc="A10BA02", strength="850 mg", dose_text="1+0+1")
    sent = {"name": "Metformin 500 mg", "strength": "850 mg", "dispensed_on": "2026-11-19"}
    pharmacy = SnapshotContext(Source.PHARMACY, SnapshotKind.DISPENSING, AS_OF)
    found = findings([listed], [sent], resolver, source=Source.PHARMACY, kind=SnapshotKind.DISPENSING)
    dispensed = only(found, FindingClass.UNCHANGED)
    assert isinstance(dispensed.action, RecordDispensingAction)
    assert dispensed.needs_review
    assert AutoApplyPolicy.of(DEFAULT_AUTO_APPLY).rule_for(pharmacy, dispensed) is None
    consistent = sent | {"name": "Metformin 850 mg"}
    plain = only(
        findings([listed], [consistent], resolver, source=Source.PHARMACY, kind=SnapshotKind.DISPENSING),
        FindingClass.UNCHANGED,
    )
    assert AutoApplyPolicy.of(DEFAULT_AUTO_APPLY).rule_for(pharmacy, plain) is not None


def test_the_same_inputs_give_the_same_fingerprints(resolver: Resolver) -> None:
    listed = [entry("Furix tab 40 mg", atc="C03CA01", strength="40 mg")]
    sent = [{"name": "Albyl-E 75 mg"}, {"name": "Tran"}]
    first, second = findings(listed, sent, resolver), findings(listed, sent, resolver)
    assert [f.fingerprint for f in first] == [f.fingerprint for f in second]
    assert [f.id for f in first] != [f.id for f in second]


def test_finding_ids_are_random_version_4_uuids_as_uuid4_makes_them(resolver: Resolver) -> None:
    ids = random_uuids(200)
    assert len(set(ids)) == 200
    for value in ids:
        assert value == uuid.UUID(bytes=value.bytes, version=4)
        assert (value.version, value.variant, value.is_safe) == (4, uuid.RFC_4122, uuid.SafeUUID.unknown)
        assert uuid.UUID(str(value)) == value
    found = findings([], [{"name": "Albyl-E 75 mg"}, {"name": "Tran"}], resolver)
    assert len({f.id for f in found}) == 2
    assert all(f.id.version == 4 for f in found)
