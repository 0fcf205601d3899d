"""The proxy child's command line (`python -m agent.proxy`), parsed by click like the rest."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from agent.proxy.runner import main, parse_args, settings_from_args


def test_arguments_reach_the_settings(tmp_path: Path) -> None:
    args = parse_args(
        ["--listen", "127.0.0.1:0", "--data-dir", str(tmp_path), "--db", f"sqlite:///{tmp_path}/s.db",
         "--workers", "3", "--set", "ssl_insecure=true", "--set", "block_global=false"]
    )  # fmt: skip
    settings, extra = settings_from_args(args)
    assert (settings.listen_host, settings.listen_port) == ("127.0.0.1", 0)
    assert settings.data_dir == tmp_path
    assert settings.store_url == f"sqlite:///{tmp_path}/s.db"
    assert settings.workers == 3
    assert extra == {"ssl_insecure": "true", "block_global": "false"}


def test_an_unknown_option_is_a_usage_error() -> None:
    with pytest.raises(click.UsageError):
        parse_args(["--no-such-option"])


def test_main_maps_errors_to_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--no-such-option"]) == 2
    assert main(["--listen", "not-an-address", "--data-dir", str(tmp_path)]) != 0
    assert "expected HOST:PORT" in capsys.readouterr().err


def test_an_option_phiwalls_proxy_does_not_load_stops_it_before_listening(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`save_stream_file` would write request bodies (PHI) to disk: PhiWall's master has no such option."""
    argv = ["--listen", "127.0.0.1:0", "--data-dir", str(tmp_path), "--db", f"sqlite:///{tmp_path}/s.db"]
    assert main([*argv, "--set", f"save_stream_file={tmp_path / 'flows'}"]) == 2
    assert "save_stream_file" in capsys.readouterr().err
    assert not (tmp_path / "flows").exists()
