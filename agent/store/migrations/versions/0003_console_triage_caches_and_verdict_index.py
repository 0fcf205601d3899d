"""console: triage caches on event (escalated, classification), (verdict, time) and escalated indexes

The `triage_action` rows stay the record; these columns cache the latest escalate flag and
close classification so the console can filter, show and export 1M events without joining
the history. Existing actions (if any) are folded into the caches here. Adding columns and an
index never rebuilds the table on SQLite, so the fleet outbox triggers on `event` survive.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 19:45:39.730205
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | Sequence[str] | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTERs, not batch mode: a batch "move and copy" would drop the outbox triggers.
    op.add_column('event', sa.Column('escalated', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('event', sa.Column('classification', sa.String(length=32), nullable=True))
    op.create_index('ix_event_verdict_time', 'event', ['verdict', 'time'], unique=False)
    op.create_index(
        'ix_event_escalated_time',
        'event',
        ['time'],
        unique=False,
        sqlite_where=sa.text('escalated = 1'),
        postgresql_where=sa.text('escalated = true'),
    )
    op.execute(
        "UPDATE event SET classification = ("
        " SELECT t.classification FROM triage_action t WHERE t.event_id = event.id"
        " AND t.classification IS NOT NULL ORDER BY t.time DESC, t.id DESC LIMIT 1)"
        " WHERE triage_state = 'closed'"
    )
    op.execute(
        "UPDATE event SET escalated = COALESCE(("
        " SELECT t.escalate FROM triage_action t WHERE t.event_id = event.id"
        " AND t.escalate IS NOT NULL ORDER BY t.time DESC, t.id DESC LIMIT 1), escalated)"
        " WHERE id IN (SELECT event_id FROM triage_action WHERE escalate IS NOT NULL)"
    )


def downgrade() -> None:
    op.drop_index('ix_event_escalated_time', table_name='event')
    op.drop_index('ix_event_verdict_time', table_name='event')
    # SQLite >= 3.35 drops columns in place (the triggers do not name these columns).
    op.drop_column('event', 'classification')
    op.drop_column('event', 'escalated')
