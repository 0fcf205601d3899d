"""scrub lineage uid: a lineage row's identity across stores (it travels to the fleet)

`scrub_lineage.id` is a local counter: two workstations both have a lineage 1. The uid, made
where the scrub ran, is what the fleet store and other agents key the row by; each store keeps
its own `id` and rewrites `media_asset.lineage_id` to it when a derivative arrives. Existing
rows get a fresh uid. Batch mode on `scrub_lineage` is safe: no trigger lives on it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 23:50:00.000000
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('scrub_lineage', sa.Column('uid', sa.String(length=32), nullable=True))
    conn = op.get_bind()
    lineage = sa.table('scrub_lineage', sa.column('id', sa.Integer()), sa.column('uid', sa.String()))
    for (row_id,) in conn.execute(sa.select(lineage.c.id)).all():
        conn.execute(lineage.update().where(lineage.c.id == row_id).values(uid=uuid.uuid4().hex))
    with op.batch_alter_table('scrub_lineage') as batch:
        batch.alter_column('uid', existing_type=sa.String(length=32), nullable=False)
    op.create_index(op.f('ix_scrub_lineage_uid'), 'scrub_lineage', ['uid'], unique=True)


def downgrade() -> None:
    op.drop_index(op.f('ix_scrub_lineage_uid'), table_name='scrub_lineage')
    with op.batch_alter_table('scrub_lineage') as batch:
        batch.drop_column('uid')
