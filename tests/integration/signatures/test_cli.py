"""Signed updates end to end from the command line: IT publishes with `phiwall-publish` (keygen,
init, build, sign, status, refresh, rotate-root), an agent checks and installs with `phiwall
signatures` (verify, install, status); and the errors people will actually hit."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from sqlmodel import select

from agent.cli import main
from agent.store import Event, SignatureInstall, open_store
from phiwall_publish.cli import main as publish_main

AGENT_SUBCOMMANDS = ["verify", "install", "status", "fingerprint", "schema"]
PUBLISH_SUBCOMMANDS = ["keygen", "init", "build", "sign", "refresh", "rotate-root", "status"]
IT_ONLY = {"keygen", "init", "build", "sign", "refresh", "rotate-root"}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`phiwall signatures ARGS` for the agent's commands, `phiwall-publish ARGS` for IT's."""
    publishing = args[0] in IT_ONLY or (args[0] == "status" and "--repo" in args)
    code = publish_main(list(args)) if publishing else main(["signatures", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("command", AGENT_SUBCOMMANDS)
def test_every_agent_subcommand_has_help(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert "Usage: phiwall signatures" in out


@pytest.mark.parametrize("command", PUBLISH_SUBCOMMANDS)
def test_every_publisher_subcommand_has_help(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code = publish_main([command, "--help"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert f"Usage: phiwall-publish {command}" in out


@pytest.mark.parametrize("command", sorted(IT_ONLY))
def test_the_agent_has_no_publishing_commands(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code = main(["signatures", command, "--help"])
    _, err = capsys.readouterr()
    assert code == 2
    assert "No such command" in err


def test_the_publisher_trains_the_classifier_from_its_own_data(capsys: pytest.CaptureFixture[str]) -> None:
    code = publish_main(["train-shadow", "--help"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert "--check" in out


def test_it_publishes_and_an_agent_installs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, isolated_env: Path
) -> None:
    keys, repo = tmp_path / "keys", tmp_path / "repo"
    for role, count in (("root", "3"), ("targets", "1"), ("snapshot", "1"), ("timestamp", "1")):
        code, out, err = run(capsys, "keygen", "--keys", str(keys), "--role", role, "--count", count)
        assert code == 0, err
    private = keys / "root" / "root-1.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert "PRIVATE KEY" not in (keys / "root" / "root-1.pub.json").read_text()
    assert run(capsys, "init", "--repo", str(repo), "--keys", str(keys))[0] == 0

    bundle = tmp_path / "bundle.json"
    code, out, err = run(capsys, "build", "--version", "2026.6.1", "--out", str(bundle))
    assert code == 0, err
    assert "bundle 2026.6.1" in out
    assert run(capsys, "verify", str(bundle))[0] == 0
    code, out, err = run(capsys, "sign", "--repo", str(repo), "--keys", str(keys), str(bundle))
    assert code == 0, err

    config = tmp_path / "agent.toml"
    config.write_text(f'[signatures]\nrepository = "{repo}"\ntrusted_root = "{repo / "metadata" / "1.root.json"}"\n')
    db = f"sqlite:///{tmp_path / 'agent.db'}"
    code, out, err = run(capsys, "verify", "--config", str(config), "--json")
    assert code == 0, err
    assert json.loads(out)["valid"] is True
    code, out, err = run(capsys, "install", "--config", str(config), "--db", db)
    assert code == 0, err
    assert "2026.6.1 installed" in out
    code, out, _ = run(capsys, "status", "--config", str(config), "--db", db, "--json")
    report = json.loads(out)
    assert report["version"] == "2026.6.1"
    assert report["source"] == "bundle"
    assert report["history"][0]["status"] == "active"

    # Publishing an older or equal version is refused at the source, with the way forward.
    code, _, err = run(capsys, "sign", "--repo", str(repo), "--keys", str(keys), str(bundle))
    assert code == 5
    assert "not newer" in err
    assert "higher --version" in err

    # Tampering in the repository: verify and install both refuse, the agent keeps 2026.6.1.
    code, _, err = run(capsys, "build", "--version", "2026.6.2", "--out", str(bundle))
    assert run(capsys, "sign", "--repo", str(repo), "--keys", str(keys), str(bundle))[0] == 0
    [target] = [p for p in (repo / "targets").iterdir() if p.read_bytes() == bundle.read_bytes()]
    target.write_bytes(target.read_bytes().replace(b"api.openai.com", b"api.openai.net"))
    code, out, err = run(capsys, "verify", "--config", str(config))
    assert code == 5
    assert "tampered" in err
    code, out, err = run(capsys, "install", "--config", str(config), "--db", db)
    assert code == 5
    assert "still enforcing 2026.6.1" in err
    store = open_store(db)
    try:
        with store.session() as session:
            statuses = [r.status for r in session.exec(select(SignatureInstall)).all()]
            kinds = {e.kind for e in session.exec(select(Event)).all()}
    finally:
        store.dispose()
    assert statuses == ["active", "rejected"]
    assert kinds == {"signature"}

    code, out, _ = run(capsys, "status", "--repo", str(repo))
    assert code == 0
    assert "timestamp" in out
    assert run(capsys, "refresh", "--repo", str(repo), "--keys", str(keys))[0] == 0


def test_rotate_root_needs_the_current_root_threshold(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    keys, repo, new = tmp_path / "keys", tmp_path / "repo", tmp_path / "new"
    for role, count in (("root", "2"), ("targets", "1"), ("snapshot", "1"), ("timestamp", "1")):
        run(capsys, "keygen", "--keys", str(keys), "--role", role, "--count", count)
    run(capsys, "init", "--repo", str(repo), "--keys", str(keys))
    run(capsys, "keygen", "--keys", str(new), "--role", "root", "--count", "2")
    # Only one of the two current root keys is present: refused.
    single = tmp_path / "single"
    (single / "root").mkdir(parents=True)
    for suffix in (".pem", ".pub.json"):
        source = keys / "root" / f"root-1{suffix}"
        (single / "root" / source.name).write_bytes(source.read_bytes())
        (single / "root" / source.name).chmod(0o600)
    code, _, err = run(capsys, "rotate-root", "--repo", str(repo), "--keys", str(single), "--new-keys", str(new))
    assert code == 5
    assert "CURRENT root keys" in err
    code, out, err = run(capsys, "rotate-root", "--repo", str(repo), "--keys", str(keys), "--new-keys", str(new))
    assert code == 0, err
    assert "root v2" in out
    assert (repo / "metadata" / "2.root.json").exists()


def test_operator_errors_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "install", "--db", f"sqlite:///{tmp_path / 'x.db'}")
    assert code == 2
    assert "no repository" in err
    assert "Traceback" not in err
    code, _, err = run(capsys, "build", "--version", "v2", "--out", str(tmp_path / "b.json"))
    assert code == 2
    assert "dotted numbers" in err
    (tmp_path / "keys" / "root").mkdir(parents=True)
    loose = tmp_path / "keys" / "root" / "root-1.pem"
    loose.write_text("-----BEGIN PRIVATE KEY-----\n")
    loose.chmod(0o644)
    code, _, err = run(capsys, "init", "--repo", str(tmp_path / "r"), "--keys", str(tmp_path / "keys"))
    assert code == 5
    assert "readable by other users" in err


def test_fingerprint_and_schema(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from agent.policy.org import credential_fingerprint

    monkeypatch.setattr("sys.stdin", io.StringIO("Bearer sk-hospital-key\n"))
    code, out, _ = run(capsys, "fingerprint")
    assert code == 0
    assert out.strip() == credential_fingerprint("sk-hospital-key")
    assert "sk-hospital-key" not in out
    code, out, _ = run(capsys, "schema", "--kind", "policy")
    assert code == 0
    assert "approved" in json.loads(out)["properties"]


def test_encrypted_keys_need_their_passphrase(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = tmp_path / "keys"
    monkeypatch.setenv("TARGETS_PASS", "correct horse")
    assert run(capsys, "keygen", "--keys", str(keys), "--role", "targets", "--passphrase-env", "TARGETS_PASS")[0] == 0
    assert (keys / "targets" / "targets-1.pem").read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY")
    for role, count in (("root", "2"), ("snapshot", "1"), ("timestamp", "1")):
        run(capsys, "keygen", "--keys", str(keys), "--role", role, "--count", count)
    code, _, err = run(capsys, "init", "--repo", str(tmp_path / "r1"), "--keys", str(keys))
    assert code == 5
    assert "is encrypted" in err
    monkeypatch.setenv("TARGETS_PASS", "wrong")
    code, _, err = run(
        capsys, "init", "--repo", str(tmp_path / "r2"), "--keys", str(keys), "--passphrase-env", "TARGETS_PASS"
    )
    assert code == 5
    assert "Incorrect password" in err
    monkeypatch.setenv("TARGETS_PASS", "correct horse")
    code, _, err = run(
        capsys, "init", "--repo", str(tmp_path / "r3"), "--keys", str(keys), "--passphrase-env", "TARGETS_PASS"
    )
    assert code == 0, err


def test_project_root_refuses_keys_inside_the_source_tree(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from agent.updates.source import SHIPPED_ROOT

    inside = SHIPPED_ROOT.parent / "never-here"
    code = publish_main(["project-root", "--keys", str(inside), "--repo", str(tmp_path / "repo")])
    _, err = capsys.readouterr()
    assert code == 5
    assert "outside the source tree" in err
    assert not inside.exists()
    assert not (tmp_path / "repo").exists()
