"""What `phiwall console` loads before its first frame, and the config check it leaves until after.

The first paint has to come quickly in a real terminal (docs/console.md, Scale): the command
reads the store URL without pydantic, checks the SQLite file without SQLAlchemy, and the app
imports the other screens, SQLAlchemy and the models only after the first frame, and validates
the whole config file once the first rows are shown.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from agent.errors import ConfigError
from agent.store import Store
from console.app import ConsoleApp
from tests.console.conftest import make_settings, wait_until

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("sqlalchemy", "sqlmodel", "pydantic", "alembic", "psycopg", "mitmproxy", "numpy", "PIL", "agent.store")
LATER_SCREENS = (
    "console.screens.fleet",
    "console.screens.services",
    "console.screens.scrubbed",
    "console.screens.detail",
    "console.screens.dialogs",
    "console.screens.triage_flow",
    "console.screens.help",
    "console.screens.problem",
    "console.commands",
)


def within(modules: list[str], packages: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == p or m.startswith(f"{p}.") for p in packages)]


# Runs `phiwall console` on a pseudo-terminal with the app's run() replaced by a probe that
# writes the loaded modules down: everything imported by then is paid before the first frame.
CHILD = """
import json, os, sys
_, slave = os.openpty()
sys.stdin = os.fdopen(slave, "r")
sys.stdout = os.fdopen(os.dup(slave), "w")
import console.app

def probe(self):
    with open(sys.argv[2], "w") as out:
        json.dump(sorted(sys.modules), out)

console.app.ConsoleApp.run = probe
from agent.cli import main
sys.exit(main(["console", "--db", sys.argv[1]]))
"""


def test_console_start_up_imports_no_database_layer_proxy_or_pydantic(small_store: Store, tmp_path: Path) -> None:
    modules_file = tmp_path / "modules.json"
    config = tmp_path / "config.toml"
    config.write_text(f'[agent]\ndata_dir = "{tmp_path / "data"}"\n')
    done = subprocess.run(
        [sys.executable, "-c", CHILD, small_store.url, str(modules_file)],
        capture_output=True,
        text=True,
        env={"PHIWALL_CONFIG": str(config), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        cwd=ROOT,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(modules_file.read_text())
    heavy = within(loaded, HEAVY)
    assert heavy == [], f"imported before the first frame: {heavy[:8]}"
    assert within(loaded, LATER_SCREENS) == []
    assert "textual.app" in loaded  # the probe saw the real start-up path
    assert "console.screens.incidents" in loaded


def test_probe_sees_heavy_imports_when_they_happen(tmp_path: Path) -> None:
    """The check above can fail: the same probe after opening a store lists SQLAlchemy."""
    script = "import json, sys\nimport agent.store\njson.dump(sorted(sys.modules), open(sys.argv[1], 'w'))\n"
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "m.json")], check=True, timeout=60, cwd=ROOT)
    loaded = json.loads((tmp_path / "m.json").read_text())
    assert "sqlalchemy" in within(loaded, HEAVY)


async def test_a_config_error_found_after_the_first_rows_ends_the_app(small_store: Store) -> None:
    def invalid_config() -> None:
        raise ConfigError("config.toml: store.nope: unknown key")

    app = ConsoleApp(make_settings(small_store.url, preflight=invalid_config))
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_until(pilot, lambda: app.fatal_error is not None or app.return_code is not None)
    assert isinstance(app.fatal_error, ConfigError)
    assert app.return_code == 2


async def test_the_preflight_runs_once_after_the_first_rows(small_store: Store) -> None:
    seen: list[int] = []

    def check() -> None:
        screen = app.incidents_screen()
        seen.append(int(screen.metrics.get("rows", 0)) if screen is not None else -1)

    app = ConsoleApp(make_settings(small_store.url, preflight=check))
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_until(pilot, lambda: bool(seen))
        screen = app.incidents_screen()
        assert screen is not None
        screen.apply_filter()  # a second first page: no second check
        await pilot.pause(0.3)
    assert len(seen) == 1
    assert seen[0] > 0  # rows were on screen before the check ran
    assert app.fatal_error is None
