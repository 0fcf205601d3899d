"""SIEM outbox and per-destination cursors

The outbox is filled by SQLite triggers in the same transaction as each new event and each
new triage action (the console writes triage rows straight into the store, so a trigger is
the one place that sees them all). The triggers queue only while a SIEM destination is
registered in `siem_cursor`, so a store without SIEM forwarding does not grow a queue.
On PostgreSQL (a fleet store, where fleet consoles write triage) the trigger function takes
a transaction-scoped advisory lock before it draws `seq`, so sequence numbers are drawn in
commit order and a reader can never see seq 12 before seq 11 commits and skip 11 for good.
Nothing existing is queued: a destination receives what is recorded after it is configured.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 11:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import agent.store.types


revision: str = '0004'
down_revision: str | Sequence[str] | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_QUEUED_AT = "strftime('%Y-%m-%d %H:%M:%S', 'now')"
SIEM_OUTBOX_LOCK = 0x5048_4953  # "PHIS": also in agent/siem/outbox.py

_PG_FUNCTION = f"""
CREATE FUNCTION siem_outbox_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM siem_cursor) THEN
        PERFORM pg_advisory_xact_lock({SIEM_OUTBOX_LOCK});
        INSERT INTO siem_outbox (kind, ref, queued_at) VALUES (TG_ARGV[0], NEW.id::text, now());
    END IF;
    RETURN NEW;
END $$
"""


def upgrade() -> None:
    op.create_table('siem_outbox',
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('ref', sa.String(length=64), nullable=False),
    sa.Column('queued_at', agent.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('seq'),
    sqlite_autoincrement=True,
    )
    op.create_table('siem_cursor',
    sa.Column('destination', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('replay_seq', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', agent.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('destination')
    )
    if op.get_bind().dialect.name == "sqlite":
        for table, kind, ref in (("event", "event", "NEW.id"), ("triage_action", "triage", "CAST(NEW.id AS TEXT)")):
            op.execute(
                f"CREATE TRIGGER siem_outbox_{kind} AFTER INSERT ON {table} "
                f"WHEN EXISTS (SELECT 1 FROM siem_cursor) BEGIN "
                f"INSERT INTO siem_outbox (kind, ref, queued_at) VALUES ('{kind}', {ref}, {_QUEUED_AT}); END"
            )
    elif op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        for table, kind in (("event", "event"), ("triage_action", "triage")):
            op.execute(
                f"CREATE TRIGGER siem_outbox_{kind} AFTER INSERT ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION siem_outbox_enqueue('{kind}')"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS siem_outbox_event")
        op.execute("DROP TRIGGER IF EXISTS siem_outbox_triage")
    elif op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS siem_outbox_event ON event")
        op.execute("DROP TRIGGER IF EXISTS siem_outbox_triage ON triage_action")
        op.execute("DROP FUNCTION IF EXISTS siem_outbox_enqueue()")
    op.drop_table('siem_cursor')
    op.drop_table('siem_outbox')
