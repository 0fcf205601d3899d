"""SIEM outbox and per-destination cursors

The outbox is filled by SQLite triggers in the same transaction as each new event and each
new triage action (the console writes triage rows straight into the store, so a trigger is
the one place that sees them all). The triggers queue only while a SIEM destination is
registered in `siem_cursor`, so a store without SIEM forwarding does not grow a queue.
PostgreSQL stores get the tables but no triggers (forwarding runs on the agents' SQLite).
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


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS siem_outbox_event")
        op.execute("DROP TRIGGER IF EXISTS siem_outbox_triage")
    op.drop_table('siem_cursor')
    op.drop_table('siem_outbox')
