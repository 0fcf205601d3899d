"""The start-up and filter speed paths keep what the analyst sees (docs/console.md, Scale).

Mode screens are created without Textual's two full CSS re-parses, and table cells are drawn
with `Cell` instead of Rich `Text`: the screens must still follow a theme change, the other
modes must still open styled, and a cell must show what `Text` showed (cut with "…", never a
control character).
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from agent.store import Store
from console.app import ConsoleApp
from console.widgets.incident_table import Cell, IncidentTable
from tests.console.conftest import make_settings, wait_until


def drawn(renderable: Cell | Text, width: int) -> str:
    console = Console(width=width, color_system=None, legacy_windows=False)
    lines = console.render_lines(renderable, console.options.update(width=width, no_wrap=True, height=1), pad=False)
    return "".join(segment.text for segment in lines[0])


def test_a_cell_is_drawn_like_text_with_an_ellipsis() -> None:
    for value in ("api.openai.com", "copilot.microsoft.com", "x", "", "日本語のホスト名です"):
        for width in (1, 4, 9, 14, 30):
            text = Text(value, no_wrap=True, overflow="ellipsis", end="")
            assert drawn(Cell(value), width) == drawn(text, width), (value, width)


def test_a_cell_never_passes_control_characters_to_the_terminal() -> None:
    cell = Cell("evil\x1b[2Jhost\nname\x07")
    for control in "\x1b\n\x07":
        assert control not in str(cell)
    assert str(cell) == "evil [2Jhost name "


def test_a_cell_keeps_its_style() -> None:
    console = Console(width=20, color_system="truecolor")
    segments = list(console.render(Cell("block", "bold red"), console.options))
    assert segments[0].text == "block"
    style = segments[0].style
    assert style is not None
    assert style.bold
    assert style.color is not None


async def test_the_first_screen_is_styled_and_follows_a_theme_change(small_store: Store) -> None:
    app = ConsoleApp(make_settings(small_store.url))
    async with app.run_test(size=(140, 40)) as pilot:
        screen = app.incidents_screen()
        assert screen is not None
        await wait_until(pilot, lambda: "rows" in screen.metrics, what="the first rows")
        table = screen.query_one(IncidentTable)
        assert str(table.styles.height) == "1fr"  # its DEFAULT_CSS applied
        assert str(screen.query_one("#filters").styles.height) == "1"  # app.tcss applied
        dark = (screen.styles.background, table.styles.background)
        await pilot.press("2")  # another mode, created the same way
        await wait_until(pilot, lambda: app.current_mode == "services")
        assert str(app.screen.query_one("#services-filters").styles.height) == "1"  # styled when created
        app.theme = "textual-light"
        await pilot.pause()
        await pilot.press("1")  # back: the incidents screen takes the new theme
        await wait_until(pilot, lambda: app.current_mode == "incidents")
        await pilot.pause()
        light = (screen.styles.background, table.styles.background)
        assert light != dark
        assert screen.styles.background.hex == app.get_css_variables()["background"].upper()
