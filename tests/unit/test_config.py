"""Configuration: lookup order, validation errors that name the key, defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import EXAMPLE_CONFIG, Config, load_config, parse_config
from agent.errors import ConfigError


def test_missing_default_file_gives_embedded_defaults(isolated_env: Path) -> None:
    config = load_config()
    assert config.source is None
    assert config.proxy.listen == "127.0.0.1:8080"
    assert config.policy.mode == "enforce"
    assert config.watch.folders == []
    assert config.data_dir == isolated_env
    assert config.store_url() == f"sqlite:///{isolated_env / 'phiwall.db'}"


def test_example_config_is_valid_and_equals_defaults() -> None:
    parsed = parse_config(EXAMPLE_CONFIG)
    assert parsed.model_dump() == Config().model_dump()


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_env_var_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[proxy]\nlisten = "127.0.0.1:9999"\n')
    monkeypatch.setenv("PHIWALL_CONFIG", str(path))
    config = load_config()
    assert config.proxy.listen_port == 9999
    assert config.source == path


def test_flag_beats_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / "env.toml"
    env_file.write_text('[policy]\nmode = "audit"\n')
    flag_file = tmp_path / "flag.toml"
    flag_file.write_text('[policy]\nmode = "off"\n')
    monkeypatch.setenv("PHIWALL_CONFIG", str(env_file))
    assert load_config(flag_file).policy.mode == "off"


def test_corrupt_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[proxy\nlisten = 1")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert "not valid TOML" in str(info.value)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[proxy]\nlisten = "nonsense"', "proxy.listen"),
        ('[proxy]\nlisten = "127.0.0.1:99999"', "proxy.listen"),
        ('[proxy]\nlisten = "example.com:80"', "proxy.listen"),
        ('[policy]\nmode = "yolo"', "policy.mode"),
        ("[watch]\nfolder = []", "watch.folder"),
        ("[watch]\nretention_days = -1", "watch.retention_days"),
        ("[proxy]\nmax_inspect_mb = 0", "proxy.max_inspect_mb"),
        ("[nonsense]\nx = 1", "nonsense"),
    ],
)
def test_invalid_values_name_the_key(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert key in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_key_is_called_unknown() -> None:
    with pytest.raises(ConfigError, match=r"watch\.folder: unknown key"):
        parse_config("[watch]\nfolder = ['/x']")


def test_store_url_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    config = parse_config('[store]\nurl = "sqlite:////from/config.db"')
    assert config.store_url() == "sqlite:////from/config.db"
    monkeypatch.setenv("PHIWALL_DB", "sqlite:////from/env.db")
    assert config.store_url() == "sqlite:////from/env.db"
    assert config.store_url("sqlite:////from/flag.db") == "sqlite:////from/flag.db"


def test_data_dir_from_config(tmp_path: Path) -> None:
    config = parse_config(f'[agent]\ndata_dir = "{tmp_path}/d"')
    assert config.data_dir == tmp_path / "d"
    assert config.store_url().endswith(f"{tmp_path}/d/phiwall.db")


def test_ipv6_listen_address() -> None:
    config = parse_config('[proxy]\nlisten = "[::1]:8080"')
    assert config.proxy.listen_host == "::1"
    assert config.proxy.listen_port == 8080
