"""scrub lineage: one row per `phiwall scrub` output; media_asset.lineage_id marks derivatives

`media_asset.lineage_id` is a plain nullable column (no foreign key: assets travel to the fleet
store without their lineage rows). Adding a column never rebuilds the table on SQLite, so the
fleet outbox triggers on `media_asset` survive.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 16:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import agent.store.types


revision: str = '0005'
down_revision: str | Sequence[str] | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('scrub_lineage',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('time', agent.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('agent_id', sa.String(length=64), nullable=False),
    sa.Column('user', sa.String(length=128), nullable=False),
    sa.Column('source_sha256', sa.String(length=64), nullable=False),
    sa.Column('source_asset_id', sa.String(length=64), nullable=True),
    sa.Column('source_match', sa.String(length=16), nullable=True),
    sa.Column('source_score', sa.Float(), nullable=True),
    sa.Column('output_sha256', sa.String(length=64), nullable=False),
    sa.Column('output_path', sa.String(), nullable=False),
    sa.Column('derivative_asset_id', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=True),
    sa.Column('scrub_s', sa.Float(), nullable=False),
    sa.Column('methods', sa.String(), nullable=False),
    sa.Column('tool_version', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_scrub_lineage_time'), 'scrub_lineage', ['time'], unique=False)
    op.create_index(op.f('ix_scrub_lineage_agent_id'), 'scrub_lineage', ['agent_id'], unique=False)
    op.create_index(op.f('ix_scrub_lineage_source_asset_id'), 'scrub_lineage', ['source_asset_id'], unique=False)
    op.create_index(op.f('ix_scrub_lineage_output_sha256'), 'scrub_lineage', ['output_sha256'], unique=False)
    op.create_index(
        op.f('ix_scrub_lineage_derivative_asset_id'), 'scrub_lineage', ['derivative_asset_id'], unique=False
    )
    # Plain ALTER, not batch mode: a batch "move and copy" would drop the fleet outbox triggers.
    op.add_column('media_asset', sa.Column('lineage_id', sa.Integer(), nullable=True))
    op.create_index(op.f('ix_media_asset_lineage_id'), 'media_asset', ['lineage_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_media_asset_lineage_id'), table_name='media_asset')
    op.drop_column('media_asset', 'lineage_id')
    op.drop_index(op.f('ix_scrub_lineage_derivative_asset_id'), table_name='scrub_lineage')
    op.drop_index(op.f('ix_scrub_lineage_output_sha256'), table_name='scrub_lineage')
    op.drop_index(op.f('ix_scrub_lineage_source_asset_id'), table_name='scrub_lineage')
    op.drop_index(op.f('ix_scrub_lineage_agent_id'), table_name='scrub_lineage')
    op.drop_index(op.f('ix_scrub_lineage_time'), table_name='scrub_lineage')
    op.drop_table('scrub_lineage')
