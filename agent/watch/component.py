"""The watcher as a component of `phiwall run`: built when `[watch] folders` is not empty."""

from __future__ import annotations

from agent.components import AgentContext
from agent.watch.watcher import FolderWatcher


def build(ctx: AgentContext) -> FolderWatcher | None:
    settings = ctx.config.watch
    if not settings.folders:
        return None
    from agent.media import MediaService

    media = MediaService(ctx.store, agent_id=ctx.agent_id)
    return FolderWatcher(
        ctx.store,
        list(settings.folders),
        media=media,
        events=ctx.events,
        agent_id=ctx.agent_id,
        poll=settings.poll,
        quiet_s=settings.quiet_seconds,
        retention_days=settings.retention_days,
    )
