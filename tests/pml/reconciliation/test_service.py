"""Reconciliation in-process against PostgreSQL: snapshots kept verbatim, proposals against a stated version,
the auto-apply policy, decisions with provenance, re-evaluation of stale proposals, and a decision racing
another write."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import uuid

import psycopg
import pytest

from pml.db.engine import Database
from pml.db.urls import libpq_url
from pml.idempotency.errors import IdempotencyKeyReused
from pml.medication_list.errors import InvalidTransition, VersionConflict
from pml.medication_list.schemas import EntryStatus
from pml.reconciliation.errors import FindingNotOpen, InvalidDecision, ProposalClosed
from pml.reconciliation.interpretation.resolver import MedicineRef, Resolution, Resolver
from pml.reconciliation.schemas import (
    ChangeEntryAction,
    DecisionKind,
    DecisionRequest,
    FindingClass,
    FindingState,
    InterpretationStatus,
    Proposal,
    ProposalStatus,
)
from pml.reconciliation.service import DecisionOutcome, StaleProposal
from pml.reconciliation.submission import propose_or_record_failure, submit_snapshot
from pml.settings import Settings
from tests.pml.reconciliation.support import (
    CLINICIAN,
    PHARMACIST,
    build_list,
    current_list,
    list_entry,
    lists_of,
    service_of,
    snapshot_body,
    submission,
)
from tests.pml.reconciliation.test_findings import varenr_of
from tests.support.factories import new_patient_id

pytestmark = pytest.mark.anyio

SELO_ZOK = list_entry(
    "Selo-Zok depottab 50 mg", atc="C07AB02", strength="50 mg", dose_text="1 tablett morgen"
)
FURIX = list_entry("Furix tab 40 mg", atc="C03CA01", strength="40 mg", dose_text="1 tablett morgen")
GP_LIST = [
    {"name": "Selo-zok 50mg", "dose_text": "1+0+0"},
    {"name": "Albyl E 75 mg", "dose_text": "1 daglig"},
]


async def _submit(
    database: Database,
    settings: Settings,
    patient: str,
    raw: bytes,
    resolver: Resolver | None,
    *,
    key: str | None = None,
    actor=CLINICIAN,
) -> Proposal:  # type: ignore[no-untyped-def]
    outcome = await submit_snapshot(
        database,
        settings,
        patient_id=patient,
        submission=submission(raw),
        raw_body=raw,
        actor=actor,
        idempotency_key=key,
        resolver=resolver,
    )
    assert outcome.proposal is not None, outcome
    return outcome.proposal


def _finding(proposal: Proposal, finding_class: FindingClass) -> uuid.UUID:
    return next(
        f.id for f in proposal.findings if f.finding_class is finding_class and f.state is FindingState.OPEN
    )


async def _decide(
    database: Database,
    resolver: Resolver,
    patient: str,
    proposal_id: uuid.UUID,
    version: int,
    *decisions: dict[str, object],
) -> DecisionOutcome | StaleProposal:
    async with database.write_transaction() as session:
        return await service_of(session, resolver).decide(
            patient,
            proposal_id,
            version,
            DecisionRequest.model_validate({"decisions": list(decisions)}),
            CLINICIAN,
        )


def _rows(database_url: str, sql: str, *params: object) -> list[tuple[object, ...]]:
    with psycopg.connect(libpq_url(database_url)) as conn:
        return list(conn.execute(sql, params).fetchall())


# -- snapshots ---------------------------------------------------------------------------------------------


async def test_a_snapshot_is_stored_byte_for_byte_with_who_sent_it(
    database: Database, server_settings: Settings, database_url: str, resolver: Resolver
) -> None:
    patient = new_patient_id()
    raw = (
        b'{"source":"gp",  "kind":"medication_list", "sender_system":"Infodoc",\n "entries":[{"name":'
        b'"Paracet 500mg tab","dose_text":"1x3","lokal_kode":"X-17","styrke_fritekst":{"v":1}}]}'
    )
    outcome = await submit_snapshot(
        database,
        server_settings,
        patient_id=patient,
        submission=submission(raw),
        raw_body=raw,
        actor=CLINICIAN,
        idempotency_key=None,
        resolver=resolver,
    )
    stored = _rows(
        database_url,
        "SELECT raw_body, content_sha256, actor->>'hpr_number', source, kind "
        "FROM source_snapshot WHERE patient_id = %s",
        patient,
    )
    assert stored == [(raw, hashlib.sha256(raw).hexdigest(), "9144889", "gp", "medication_list")]
    async with database.read_transaction() as session:
        record = await service_of(session, None).snapshot(patient, outcome.snapshot.id)
    assert record.document is not None
    assert record.document["entries"][0]["lokal_kode"] == "X-17"
    assert outcome.interpretation is InterpretationStatus.PROPOSED


@pytest.mark.parametrize(
    "statement",
    [
        "TRUNCATE source_snapshot CASCADE",
        "TRUNCATE reconciliation_decision",
        "UPDATE source_snapshot SET raw_body = 'x'",
        "DELETE FROM source_snapshot",
    ],
)
async def test_snapshots_and_decisions_cannot_be_rewritten(
    database: Database, server_settings: Settings, database_url: str, resolver: Resolver, statement: str
) -> None:
    await _submit(
        database, server_settings, new_patient_id(), snapshot_body("gp", "medication_list", GP_LIST), resolver
    )  # at least one row, so row triggers fire
    with psycopg.connect(libpq_url(database_url)) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(statement)
        conn.rollback()


class _BrokenResolver(Resolver):
    def resolve(self, ref: MedicineRef) -> Resolution:
        raise RuntimeError("the resolver broke")


async def test_a_snapshot_whose_interpretation_fails_is_kept_and_can_be_reconciled_later(
    database: Database, server_settings: Settings, resolver: Resolver
) -> None:
    patient = new_patient_id()
    raw = snapshot_body("gp", "medication_list", GP_LIST)
    broken = _BrokenResolver(resolver.facts.catalogue, search=resolver.search)
    outcome = await submit_snapshot(
        database,
        server_settings,
        patient_id=patient,
        submission=submission(raw),
        raw_body=raw,
        actor=CLINICIAN,
        idempotency_key=None,
        resolver=broken,
    )
    assert outcome.interpretation is InterpretationStatus.FAILED
    assert outcome.proposal is not None
    assert outcome.proposal.status is ProposalStatus.FAILED
    retried = await propose_or_record_failure(
        database, server_settings, patient, outcome.snapshot.id, CLINICIAN, resolver
    )
    assert retried.interpretation is InterpretationStatus.PROPOSED
    assert retried.snapshot.id == outcome.snapshot.id


async def test_without_a_catalogue_the_snapshot_is_stored_and_deferred(
    database: Database, server_settings: Settings
) -> None:
    raw = snapshot_body("gp", "medication_list", GP_LIST)
    outcome = await submit_snapshot(
        database,
        server_settings,
        patient_id=new_patient_id(),
        submission=submission(raw),
        raw_body=raw,
        actor=CLINICIAN,
        idempotency_key=None,
        resolver=None,
    )
    assert outcome.interpretation is InterpretationStatus.DEFERRED
    assert outcome.proposal is None


async def test_a_retried_submission_stores_nothing_twice_and_a_reused_key_is_refused(
    database: Database, server_settings: Settings, database_url: str, resolver: Resolver
) -> None:
    patient = new_patient_id()
    raw = snapshot_body("gp", "medication_list", GP_LIST)
    first = await _submit(database, server_settings, patient, raw, resolver, key="retry-key-0001")
    again = await _submit(database, server_settings, patient, raw, resolver, key="retry-key-0001")
    assert again.id == first.id
    assert _rows(database_url, "SELECT count(*) FROM source_snapshot WHERE patient_id = %s", patient) == [
        (1,)
    ]
    with pytest.raises(IdempotencyKeyReused):
        await _submit(
            database,
            server_settings,
            patient,
            snapshot_body("gp", "medication_list", []),
            resolver,
            key="retry-key-0001",
        )


# -- proposals ---------------------------------------------------------------------------------------------


async def test_a_proposal_states_its_list_version_and_catalogue_and_a_newer_one_replaces_it(
    database: Database, server_settings: Settings, resolver: Resolver
) -> None:
    patient = new_patient_id()
    await build_list(database, patient, SELO_ZOK, FURIX)
    proposal = await _submit(
        database, server_settings, patient, snapshot_body("gp", "medication_list", GP_LIST), resolver
    )
    assert (proposal.list_version, proposal.status, proposal.catalogue_release) == (
        2,
        ProposalStatus.OPEN,
        resolver.release_id,
    )
    assert proposal.counts == {"unchanged": 1, "new_in_source": 1, "missing_in_source": 1}
    hospital = await _submit(
        database, server_settings, patient, snapshot_body("hospital", "admission", []), resolver
    )
    newer = await _submit(
        database, server_settings, patient, snapshot_body("gp", "medication_list", GP_LIST[:1]), resolver
    )
    async with database.read_transaction() as session:
        service = service_of(session, resolver)
        replaced = await service.proposal(patient, proposal.id)
        open_ids = {p.id for p in (await service.open_proposals(patient)).proposals}
    assert replaced.status is ProposalStatus.SUPERSEDED
    assert replaced.superseded_by == newer.id
    assert {f.state for f in replaced.findings if f.state is not FindingState.INFORMATIONAL} <= {
        FindingState.SUPERSEDED
    }
    assert open_ids == {hospital.id, newer.id}


# -- auto-apply --------------------------------------------------------------------------------------------


async def test_a_dispensing_of_an_active_entry_records_its_date_by_policy_with_provenance(
    database: Database, server_settings: Settings, resolver: Resolver
) -> None:
    patient = new_patient_id()
    await build_list(database, patient, SELO_ZOK)
    raw = snapshot_body(
        "pharmacy",
        "dispensing",
        [
            {
                "varenr": varenr_of(resolver, "Selo-Zok depottab 50 mg"),
                "name": "Selo-Zok depottab 50 mg",
                "dispensed_on": "2026-11-19",
                "dose_text": "1 tablett om morgenen",
            }
        ],
    )
    proposal = await _submit(database, server_settings, patient, raw, resolver, actor=PHARMACIST)
    current = await current_list(database, patient)
    assert current.version == 2
    assert current.entries[0].last_dispensed_on == dt.date(2026, 11, 19)
    assert proposal.status is ProposalStatus.CLOSED
    assert proposal.list_version == 2
    assert [f.state for f in proposal.findings] == [FindingState.AUTO_APPLIED]
    async with database.read_transaction() as session:
        change = (await lists_of(session).history(patient, before_version=None, limit=1)).changes[0]
        history = await service_of(session, resolver).decision_history(patient, before=None, limit=10)
    assert change.provenance is not None
    assert change.provenance.policy == "dispensing_updates_last_dispensed"
    assert change.provenance.finding_id == proposal.findings[0].id
    assert change.actor.role == "pharmacist"
    assert [(d.decision, d.policy) for d in history.decisions] == [
        (DecisionKind.AUTO, "dispensing_updates_last_dispensed")
    ]


async def test_with_the_policy_off_a_dispensing_waits_for_a_clinician(
    database: Database, server_settings: Settings, resolver: Resolver
) -> None:
    patient = new_patient_id()
    await build_list(database, patient, SELO_ZOK)
    settings = server_settings.model_copy(update={"reconciliation_auto_apply": []})
    raw = snapshot_body(
        "pharmacy", "dispensing", [{"name": "Selo-Zok depottab 50 mg", "dispensed_on": "2026-11-19"}]
    )
    proposal = await _submit(database, settings, patient, raw, resolver, actor=PHARMACIST)
    assert [f.state for f in proposal.findings] == [FindingState.OPEN]
    assert (await current_list(database, patient)).version == 1


# -- decisions ---------------------------------------------------------------------------------------------


async def test_accepting_changes_the_list_with_provenance_and_rejecting_changes_nothing(
    database: Database, server_settings: Settings, resolver: Resolver
) -> None:
    patient = new_patient_id()
    await build_list(database, patient, SELO_ZOK, FURIX)
    proposal = await _submit(
        database, server_settings, patient, snapshot_body("gp", "medication_list", GP_LIST), resolver
    )
    new, missing = (
        _finding(proposal, FindingClass.NEW_IN_SOURCE),
        _finding(proposal, FindingClass.MISSING_IN_SOURCE),
    )
    outcome = await _decide(
        database,
        resolver,
        patient,
        proposal.id,
        2,
        {"finding_id": str(new), "decision": "accept"},
        {"finding_id": str(missing), "decision": "reject", "note": "fortsatt i bruk"},
    )
    assert isinstance(outcome, DecisionOutcome)
    assert [e.display_name for e in outcome.medication_list.entries] == [
        "Selo-Zok depottab 50 mg",
        "Furix tab 40 mg",
        "Albyl E 75 mg",
    ]
    accepted, rejected = outcome.decisions
    assert (accepted.list_version_before, accepted.list_version_after) == (2, 3)
    assert (rejected.action, rejected.list_version_after, rejected.note) == (None, 3, "fortsatt i bruk")
    async with database.read_transaction() as session:
        change = (await lists_of(session).history(patient, before_version=None, limit=1)).changes[0]
    assert change.provenance is not None
    assert (
        change.provenance.snapshot_id,
        change.provenance.proposal_id,
        change.provenance.finding_id,
        change.provenance.decision_id,
    ) == (proposal.snapshot_id, proposal.id, new, accepted.id)
    assert outcome.proposal.status is ProposalStatus.CLOSED
    assert outcome.proposal.list_version == 3
    states = {f.id: f.state for f in outcome.proposal.findings}
    assert (states[new], states[missing]) == (FindingState.ACCEPTED, FindingState.REJECTED)


async def test_accepting_a_dose_change_changes_only_what_the_source_changed(
    database: Database, server_settings: Settings, resolver: Resolver
) -> None:
    patient = new_patient_id()
    await build_list(database, patient, SELO_ZOK.model_copy(update={"indication": "hypertensjon"}))
    raw = snapshot_body(
        "hospital", "discharge", [{"name": "Metoprolol depottablett 100 mg", "dose_text": "1 x 2"}]
    )
    proposal = await _submit(database, server_settings, patient, raw, resolver)
    changed = _finding(proposal, FindingClass.DOSE_CHANGED)
    outcome = await _decide(
        database, resolver, patient, proposal.id, 1, {"finding_id": str(changed), "decision": "accept"}
    )
    assert isinstance(outcome, DecisionOutcome)
    entry = outcome.medication_list.entries[0]
    assert (entry.strength, entry.dose_text, entry.dosage) == ("100 mg", "1 x 2", None)
    assert (entry.display_name, entry.indication) == ("Selo-Zok depottab 50 mg", "hypertensjon")  # kept
    assert outcome.proposal.status is ProposalStatus.CLOSED


async def test_an_edit_applies_the_clinicians_version_instead(
    database: Database, server_settings: Settings, resolver: Resolver
) -> None:
    patient = new_patient_id()
    [selo] = await build_list(database, patient, SELO_ZOK)
    raw = snapshot_body(
        "hospital", "discharge", [{"name": "Metoprolol depottablett 100 mg", "dose_text": "1 x 1"}]
    )
    proposal = await _submit(database, server_settings, patient, raw, resolver)
    changed = next(f for f in proposal.findings if f.finding_class is FindingClass.DOSE_CHANGED)
    assert isinstance(changed.action, ChangeEntryAction)
    edited = {
        "kind": "change_entry",
        "entry_id": str(selo.id),
        "change": {"strength": "100 mg", "dose_text": "1 tablett kveld", "reason": "justert ved utskrivning"},
    }
    outcome = await _decide(
        database,
        resolver,
        patient,
        proposal.id,
        1,
        {"finding_id": str(changed.id), "decision": "edit", "edited_action": edited},
    )
    assert isinstance(outcome, DecisionOutcome)
    entry = outcome.medication_list.entries[0]
    assert (entry.strength, entry.dose_text) == ("100 mg", "1 tablett kveld")
    assert [(d.decision, d.action) for d in outcome.decisions] == [
        (DecisionKind.EDIT, ChangeEntryAction.model_validate(edited))
    ]
    async with database.read_transaction() as session:
        change = (await lists_of(session).history(patient, before_version=None, limit=1)).changes[0]
    assert (change.source.value, change.reason) == ("hospital", "justert ved utskrivning")


async def test_an_invalid_decision_in_a_batch_applies_none_of_it(
    database: Database, server_settings: Settings, resolver: Resolver
) -> None:
    patient = new_patient_id()
    [_selo, furix] = await build_list(database, patient, SELO_ZOK, FURIX)
    proposal = await _submit(
        database, server_settings, patient, snapshot_body("gp", "medication_list", GP_LIST), resolver
    )
    new = _finding(proposal, FindingClass.NEW_IN_SOURCE)
    missing = _finding(proposal, FindingClass.MISSING_IN_SOURCE)
    elsewhere = {"kind": "stop_entry", "entry_id": str(uuid.uuid4()), "reason": "feil oppføring"}
    with pytest.raises(InvalidDecision):  # an edit may only concern its finding's own entry
        await _decide(
            database,
            resolver,
            patient,
            proposal.id,
            2,
            {"finding_id": str(new), "decision": "accept"},
            {"finding_id": str(missing), "decision": "edit", "edited_action": elsewhere},
        )
    assert (await current_list(database, patient)).version == 2
    async with database.read_transaction() as session:
        reread = await service_of(session, resolver).proposal(patient, proposal.id)
    assert {f.id: f.state for f in reread.findings}[new] is FindingState.OPEN
    assert furix.status is EntryStatus.ACTIVE


async def test_a_change_the_list_refuses_rolls_back_the_whole_batch(
    database: Database, server_settings: Settings, resolver: Resolver
) -> None:
    patient = new_patient_id()
    [selo] = await build_list(database, patient, SELO_ZOK)
    raw = snapshot_body(
        "gp",
        "medication_list",
        [{"name": "Selo-Zok 100 mg", "dose_text": "1+0+0"}, {"name": "Albyl-E 75 mg"}],
    )
    proposal = await _submit(database, server_settings, patient, raw, resolver)
    changed, new = (
        _finding(proposal, FindingClass.DOSE_CHANGED),
        _finding(proposal, FindingClass.NEW_IN_SOURCE),
    )
    resume = {"kind": "resume_entry", "entry_id": str(selo.id)}  # the entry is active: the list refuses
    with pytest.raises(InvalidTransition):
        await _decide(
            database,
            resolver,
            patient,
            proposal.id,
            1,
            {"finding_id": str(new), "decision": "accept"},
            {"finding_id": str(changed), "decision": "edit", "edited_action": resume},
        )
    current = await current_list(database, patient)
    assert current.version == 1
    assert [e.display_name for e in current.entries] == ["Selo-Zok depottab 50 mg"]


async def test_a_decided_finding_takes_no_second_decision_and_a_stale_if_match_is_refused(
    database: Database, server_settings: Settings, resolver: Resolver
) -> None:
    patient = new_patient_id()
    await build_list(database, patient, SELO_ZOK)
    proposal = await _submit(
        database, server_settings, patient, snapshot_body("gp", "medication_list", GP_LIST), resolver
    )
    new = _finding(proposal, FindingClass.NEW_IN_SOURCE)
    with pytest.raises(VersionConflict):
        await _decide(
            database, resolver, patient, proposal.id, 0, {"finding_id": str(new), "decision": "reject"}
        )
    await _decide(database, resolver, patient, proposal.id, 1, {"finding_id": str(new), "decision": "reject"})
    with pytest.raises(FindingNotOpen):
        await _decide(
            database, resolver, patient, proposal.id, 1, {"finding_id": str(new), "decision": "accept"}
        )


async def test_a_superseded_proposal_takes_no_decisions(
    database: Database, server_settings: Settings, resolver: Resolver
) -> None:
    patient = new_patient_id()
    raw = snapshot_body("gp", "medication_list", GP_LIST)
    older = await _submit(database, server_settings, patient, raw, resolver)
    await _submit(database, server_settings, patient, raw, resolver)
    with pytest.raises(ProposalClosed):
        await _decide(
            database,
            resolver,
            patient,
            older.id,
            0,
            {"finding_id": str(_finding(older, FindingClass.NEW_IN_SOURCE)), "decision": "accept"},
        )


# -- stale proposals and races -----------------------------------------------------------------------------


async def test_a_proposal_behind_the_list_is_re_evaluated_and_nothing_is_applied(
    database: Database, server_settings: Settings, resolver: Resolver
) -> None:
    patient = new_patient_id()
    await build_list(database, patient, SELO_ZOK)
    proposal = await _submit(
        database, server_settings, patient, snapshot_body("gp", "medication_list", GP_LIST), resolver
    )
    new = _finding(proposal, FindingClass.NEW_IN_SOURCE)
    await build_list(database, patient, FURIX)  # another writer: version 2
    stale = await _decide(
        database, resolver, patient, proposal.id, 2, {"finding_id": str(new), "decision": "accept"}
    )
    assert isinstance(stale, StaleProposal)
    assert stale.current_version == 2
    assert stale.proposal.list_version == 2
    assert [e.display_name for e in (await current_list(database, patient)).entries] == [
        "Selo-Zok depottab 50 mg",
        "Furix tab 40 mg",
    ]
    still_open = {f.id for f in stale.proposal.findings if f.state is FindingState.OPEN}
    assert new in still_open  # the same finding, the same id: the clinician's decision still refers to it
    assert (
        _finding(stale.proposal, FindingClass.MISSING_IN_SOURCE) in still_open
    )  # what the new write brought
    applied = await _decide(
        database, resolver, patient, proposal.id, 2, {"finding_id": str(new), "decision": "accept"}
    )
    assert isinstance(applied, DecisionOutcome)
    assert applied.medication_list.version == 3


async def test_a_rejection_survives_re_evaluation(
    database: Database, server_settings: Settings, resolver: Resolver
) -> None:
    patient = new_patient_id()
    await build_list(database, patient, SELO_ZOK, FURIX)
    proposal = await _submit(
        database, server_settings, patient, snapshot_body("gp", "medication_list", GP_LIST), resolver
    )
    missing = _finding(proposal, FindingClass.MISSING_IN_SOURCE)
    await _decide(
        database, resolver, patient, proposal.id, 2, {"finding_id": str(missing), "decision": "reject"}
    )
    await build_list(database, patient, list_entry("Tran", dose_text="5 ml daglig"))
    stale = await _decide(
        database,
        resolver,
        patient,
        proposal.id,
        3,
        {"finding_id": str(_finding(proposal, FindingClass.NEW_IN_SOURCE)), "decision": "reject"},
    )
    assert isinstance(stale, StaleProposal)
    furix_findings = [f for f in stale.proposal.findings if f.summary.startswith("Furix")]
    assert [f.state for f in furix_findings] == [FindingState.REJECTED]


async def test_a_decision_racing_another_write_never_applies_against_a_list_it_did_not_see(
    database: Database, server_settings: Settings, resolver: Resolver
) -> None:
    patient = new_patient_id()
    await build_list(database, patient, SELO_ZOK)
    proposal = await _submit(
        database, server_settings, patient, snapshot_body("gp", "medication_list", GP_LIST), resolver
    )
    new = _finding(proposal, FindingClass.NEW_IN_SOURCE)

    async def other_writer() -> str:
        try:
            async with database.write_transaction() as session:
                await lists_of(session).add_entry(patient, 1, FURIX, CLINICIAN)
            return "written"
        except VersionConflict:
            return "conflict"

    async def decision() -> str:
        try:
            outcome = await _decide(
                database, resolver, patient, proposal.id, 1, {"finding_id": str(new), "decision": "accept"}
            )
            return "decided" if isinstance(outcome, DecisionOutcome) else "stale"
        except VersionConflict:
            return "conflict"

    results = await asyncio.gather(other_writer(), decision())
    assert sorted(results) in (["conflict", "written"], ["conflict", "decided"])
    current = await current_list(database, patient)
    assert current.version == 2  # exactly one of the two writes happened
    if "written" in results:  # the decision lost: with the fresh version it is re-evaluated, not applied
        stale = await _decide(
            database, resolver, patient, proposal.id, 2, {"finding_id": str(new), "decision": "accept"}
        )
        assert isinstance(stale, StaleProposal)
        assert (await current_list(database, patient)).version == 2
