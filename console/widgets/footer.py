"""The key footer, rebuilt only when what it shows changes, and after the screen settles.

Textual's `Footer` rebuilds all its keys (a widget each) whenever the screen announces its
bindings, which it does on every focus change, even when the keys shown stay the same. Enter
in the search box applies the filter and moves the focus to the table: the rebuild (25-40 ms
on a 2-core machine) ran between the filter's query and its rows being drawn. Here the footer
follows the focus `SETTLE` seconds later, once, and only if its keys changed (docs/console.md,
Scale).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer

SETTLE = 0.15


class SteadyFooter(Footer):
    """A Footer that rebuilds `SETTLE` s after the bindings change, if its keys changed."""

    def __init__(self) -> None:
        super().__init__()
        self._shown: tuple[tuple[object, ...], ...] | None = None
        self._settling: Timer | None = None

    def shown_keys(self, screen: Screen[object]) -> tuple[tuple[object, ...], ...]:
        """What `Footer.compose` draws from the screen's bindings, as a comparable value."""
        app = self.app
        palette = app.COMMAND_PALETTE_BINDING
        keys = tuple(
            (key, app.get_key_display(binding), binding.description, binding.action, binding.group, enabled, tip)
            for key, (_node, binding, enabled, tip) in screen.active_bindings.items()
            if binding.show or key == palette
        )
        return (*keys, (self.show_command_palette, self.compact))

    def bindings_changed(self, screen: Screen[object]) -> None:
        if self._shown is None or not self.is_attached or screen is not self.screen:
            super().bindings_changed(screen)  # the first keys: at once
            return
        if self._settling is not None:
            self._settling.stop()
        self._settling = self.set_timer(SETTLE, lambda: self._settled(screen))

    def _settled(self, screen: Screen[object]) -> None:
        self._settling = None
        # Not current: another screen is on top, or the app is closing (its screen stack empty,
        # where reading the bindings raises); the screen announces its bindings when shown again.
        if not (self.is_attached and screen is self.screen and screen.is_current):
            return
        if self.shown_keys(screen) != self._shown:
            super().bindings_changed(screen)

    def on_unmount(self) -> None:
        if self._settling is not None:
            self._settling.stop()
            self._settling = None
        super().on_unmount()

    def compose(self) -> ComposeResult:
        if self._bindings_ready:
            self._shown = self.shown_keys(self.screen)
        yield from super().compose()
