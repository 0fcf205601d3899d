"""Command palette (ctrl+p): screens, ready-made filters, export, audit report, open by id."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from console.host import ConsoleHost, host_of
from console.widgets.filter_bar import FilterValues

_ID_LIKE = re.compile(r"^[0-9a-f]{6,32}$")

PRESETS: list[tuple[str, str, FilterValues]] = [
    ("Filter: blocks in the last 24 h", "verdict block, last 24 hours", FilterValues(verdict="block", range="24h")),
    (
        "Filter: open blocks and audits",
        "blocks and audits not closed yet, all time",
        FilterValues(verdict="block,audit", state="open"),
    ),
    ("Filter: new incidents", "nobody has looked at them yet", FilterValues(verdict="block,audit", state="new")),
    ("Filter: escalated", "incidents an analyst escalated", FilterValues(search="is:escalated")),
    ("Filter: shadow-AI discoveries", "new AI hosts found by traffic shape", FilterValues(search="kind:discovery")),
    ("Filter: clear all", "every event, all time", FilterValues()),
]


class ConsoleCommands(Provider):
    """The console's own commands, next to Textual's system commands."""

    @property
    def console(self) -> ConsoleHost:
        return host_of(self.app)

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        app = self.console
        commands: list[tuple[str, str, Callable[[], object]]] = [
            ("Go to incidents", "the live incident feed (1)", partial(app.switch_mode, "incidents")),
            ("Go to services", "shadow-AI inventory (2)", partial(app.switch_mode, "services")),
            ("Go to fleet", "agents, health and charts (3)", partial(app.switch_mode, "fleet")),
            (
                "Go to scrubbed",
                "de-identified copies: source, methods, who, when (4)",
                partial(app.switch_mode, "scrubbed"),
            ),
            ("Export the current view", "CSV or JSON of the filtered incidents", app.action_export),
            ("Audit report", "who did what, when, for a date range", app.action_audit),
            ("Pause or resume the live feed", "new events wait while paused", app.action_toggle_pause),
        ]
        for title, help_text, values in PRESETS:
            commands.append((title, help_text, partial(app.show_incidents, values)))
        return commands

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
        candidate = query.strip().lower()
        if _ID_LIKE.match(candidate):
            yield Hit(
                1.0,
                f"Open incident {candidate}",
                partial(self.console.open_incident, candidate),
                help="show the incident with this id (or id prefix)",
            )
