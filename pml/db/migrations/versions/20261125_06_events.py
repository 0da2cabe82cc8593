"""Change events and CDS Hooks: the outbox (filled by a trigger on list_change, in the change's transaction),
webhook subscriptions and deliveries; and the CDS cards PML issued with the feedback on them.

Revision ID: 20261125_06
Revises: 20261125_01
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261125_06"
down_revision: str | None = "20261125_01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("clock_timestamp()")

# The database writes the outbox row, so no code path that records a change can forget its event, and the
# event commits or rolls back with the change.
OUTBOX_TRIGGER = """
CREATE FUNCTION pml_events_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_outbox (patient_id, version, action, entry_id, source, organisation, recorded_at)
    VALUES (NEW.patient_id, NEW.version, NEW.action, NEW.entry_id, NEW.source, NEW.organisation,
            NEW.recorded_at);
    RETURN NULL;
END;
$$;
CREATE TRIGGER list_change_outbox AFTER INSERT ON list_change
    FOR EACH ROW EXECUTE FUNCTION pml_events_outbox();
"""


def _append_only(table: str) -> None:
    """Cards issued and feedback given are evidence (pml_refuse_rewrite() comes with 20261125_01)."""
    op.execute(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION pml_refuse_rewrite()"
    )
    op.execute(
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION pml_refuse_rewrite()"
    )


def _events() -> None:
    op.create_table(
        "event_outbox",
        sa.Column("patient_id", sa.String(11), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("event_id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("action", sa.String(24), nullable=False),
        sa.Column("entry_id", sa.UUID(), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("organisation", sa.String(32), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stream_id", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("patient_id", "version", name=op.f("pk_event_outbox")),
    )
    op.create_index(
        "ix_event_outbox_pending", "event_outbox", ["seq"], postgresql_where=sa.text("published_at IS NULL")
    )
    op.execute(OUTBOX_TRIGGER)
    op.create_table(
        "event_subscription",
        sa.Column("subscription_id", sa.UUID(), nullable=False),
        sa.Column("owner_subject", sa.String(200), nullable=False),
        sa.Column("owner_organisation", sa.String(32), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("description", sa.String(200), nullable=True),
        sa.Column("patient_ids", postgresql.ARRAY(sa.String(11)), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("subscription_id", name=op.f("pk_event_subscription")),
    )
    op.create_index("ix_event_subscription_owner", "event_subscription", ["owner_subject"])
    op.create_table(
        "webhook_delivery",
        sa.Column("patient_id", sa.String(11), nullable=False),
        sa.Column("subscription_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.UUID(), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("body", postgresql.JSONB(), nullable=False),
        sa.Column("status", sa.String(16), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dead_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("patient_id", "subscription_id", "version", name=op.f("pk_webhook_delivery")),
    )
    op.create_index(
        "ix_webhook_delivery_due",
        "webhook_delivery",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_webhook_delivery_subscription", "webhook_delivery", ["subscription_id", "status", "created_at"]
    )
    op.create_index("ix_webhook_delivery_id", "webhook_delivery", ["delivery_id"])


def _cds() -> None:
    op.create_table(
        "cds_card",
        sa.Column("patient_id", sa.String(11), nullable=False),
        sa.Column("card_uuid", sa.UUID(), nullable=False),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("hook_instance", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("indicator", sa.String(16), nullable=False),
        sa.Column("summary", sa.String(200), nullable=False),
        sa.Column("interaction_id", sa.String(64), nullable=True),
        sa.Column("release_id", sa.String(64), nullable=False),
        sa.Column("draft_refs", postgresql.JSONB(), nullable=False),
        sa.Column("suggestion_uuids", postgresql.JSONB(), nullable=False),
        sa.Column("issued_to", sa.String(200), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("patient_id", "card_uuid", name=op.f("pk_cds_card")),
    )
    op.create_index("ix_cds_card_card_uuid", "cds_card", ["card_uuid"])
    op.create_table(
        "cds_feedback",
        sa.Column("patient_id", sa.String(11), nullable=False),
        sa.Column("feedback_id", sa.UUID(), nullable=False),
        sa.Column("card_uuid", sa.UUID(), nullable=False),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("accepted_suggestions", postgresql.JSONB(), nullable=False),
        sa.Column("override_reason", postgresql.JSONB(), nullable=True),
        sa.Column("user_comment", sa.Text(), nullable=True),
        sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("patient_id", "feedback_id", name=op.f("pk_cds_feedback")),
    )
    op.create_index("ix_cds_feedback_card_uuid", "cds_feedback", ["card_uuid"])
    _append_only("cds_card")
    _append_only("cds_feedback")


def upgrade() -> None:
    _events()
    _cds()


def downgrade() -> None:
    op.drop_table("cds_feedback")
    op.drop_table("cds_card")
    op.drop_table("webhook_delivery")
    op.drop_table("event_subscription")
    op.execute("DROP TRIGGER list_change_outbox ON list_change")
    op.execute("DROP FUNCTION pml_events_outbox()")
    op.drop_table("event_outbox")
