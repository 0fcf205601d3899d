"""Health checks behind `phiwall doctor`: each says what is wrong and how to fix it.

A check returns a `Finding`: `ok`, `warn` (works, but look at it) or `fail` (the agent cannot
do its job). The doctor is healthy when nothing fails.
The agent's own checks live here; capabilities register theirs in `agent.checkup`.
"""

from __future__ import annotations

import os
import socket
import stat
import sys
from datetime import timedelta

from agent.checkup import Check, DoctorContext, Finding, Level, load_checks
from agent.errors import PhiWallError
from agent.identity import ca_dir

# Re-exported for the capability doctors that still import them from here (agent/shadow/doctor.py).
__all__ = ["Check", "DoctorContext", "Finding", "Level", "run_checks"]


def check_python(_: DoctorContext) -> Finding:
    # The package refuses to install below 3.12; this reports what the venv really runs.
    return Finding("python", "ok", ".".join(map(str, sys.version_info[:3])))


def check_libmagic(_: DoctorContext) -> Finding:
    try:
        from agent.platform.native import optional_binding

        magic = optional_binding("magic")
        if magic is None:
            return Finding("libmagic", "ok", "not bundled on Windows: byte signatures sniff media instead")
        mime = magic.from_buffer(b"RIFF\x24\x00\x00\x00WAVEfmt ", mime=True)
    except (ImportError, OSError) as exc:
        return Finding("libmagic", "fail", f"not usable: {exc}", "apt-get install libmagic1")
    if "wav" not in mime:
        return Finding("libmagic", "warn", f"sniffed a WAV header as {mime}", "update libmagic1 / libmagic-mgc")
    version = getattr(magic, "version", lambda: "?")()
    return Finding("libmagic", "ok", f"version {version}")


def check_chromaprint(_: DoctorContext) -> Finding:
    try:
        from agent.platform.native import chromaprint_module

        version = chromaprint_module()._libchromaprint.chromaprint_get_version().decode()
    except (ImportError, OSError, AttributeError) as exc:
        return Finding("libchromaprint", "fail", f"not usable: {exc}", "apt-get install libchromaprint1")
    return Finding("libchromaprint", "ok", f"version {version}")


def check_pyav(_: DoctorContext) -> Finding:
    try:
        import av
    except ImportError as exc:
        return Finding("pyav", "fail", f"not importable: {exc}", "reinstall: scripts/setup.sh")
    missing = [name for name in ("mp3", "aac", "opus", "flac", "h264", "vp9") if name not in av.codecs_available]
    if missing:
        return Finding("pyav", "warn", f"av {av.__version__}; missing decoders: {', '.join(missing)}")
    return Finding("pyav", "ok", f"av {av.__version__} (FFmpeg {av.library_versions.get('libavcodec')})")


def check_data_dir(ctx: DoctorContext) -> Finding:
    path = ctx.config.data_dir
    if not path.exists():
        return Finding("data dir", "warn", f"{path} does not exist yet", "it is created by `phiwall run`")
    if not os.access(path, os.W_OK | os.X_OK):
        return Finding("data dir", "fail", f"{path} is not writable", "fix permissions or set PHIWALL_DATA_DIR")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return Finding(
            "data dir",
            "fail",
            f"{path} has mode {mode:o}: other users can list it",
            f"chmod 700 {path} (`phiwall run` does it at start)",
        )
    return Finding("data dir", "ok", f"{path} (mode {mode:o})")


def check_store(ctx: DoctorContext) -> Finding:
    from agent.permissions import loose_private_paths
    from agent.store import (
        check_connection,
        current_revision,
        head_revision,
        make_engine,
        parse_url,
        redact,
        sqlite_path,
    )

    shown = redact(ctx.store_url)
    try:
        path = sqlite_path(parse_url(ctx.store_url))
        if path is not None and not path.exists():
            return Finding(
                "store",
                "fail",
                f"{shown} does not exist",
                "check --db/$PHIWALL_DB; `phiwall run`, `phiwall enroll` or `phiwall db upgrade` create it",
            )
        loose = [p for p in loose_private_paths(ctx.config.data_dir, ctx.store_url) if p.wanted == 0o600]
        if loose:
            files = " ".join(str(p.path) for p in loose)
            return Finding(
                "store",
                "fail",
                "readable by other users: " + "; ".join(str(p) for p in loose),
                f"chmod 600 {files} (`phiwall run` does it at start)",
            )
        engine = make_engine(ctx.store_url)
        try:
            check_connection(engine, ctx.store_url)
            with engine.connect() as conn:
                current = current_revision(conn)
        finally:
            engine.dispose()
    except PhiWallError as err:
        return Finding("store", "fail", str(err), "fix --db / $PHIWALL_DB / store.url")
    head = head_revision()
    if current != head:
        return Finding(
            "store", "fail", f"{shown}: schema {current or '(empty)'}, need {head}", "run `phiwall db upgrade`"
        )
    return Finding("store", "ok", f"{shown} (schema {head})")


def check_ca(ctx: DoctorContext) -> Finding:
    key_file = ca_dir(ctx.config.data_dir) / "mitmproxy-ca.pem"
    if not key_file.exists():
        return Finding("proxy CA", "warn", f"{key_file} not created yet", "it is created on first `phiwall run`")
    mode = stat.S_IMODE(key_file.stat().st_mode)
    if mode & 0o077:
        return Finding(
            "proxy CA", "fail", f"{key_file} has mode {mode:o}: others can read the CA key", f"chmod 600 {key_file}"
        )
    return Finding("proxy CA", "ok", f"{key_file} (mode {mode:o})")


def check_agent_running(ctx: DoctorContext) -> Finding:
    host, port = ctx.proxy_address
    try:
        with socket.create_connection((host, port), timeout=1.0):
            pass
    except OSError:
        return Finding("agent", "warn", f"no proxy listening on {host}:{port}", "start it: `phiwall run`")
    return Finding("agent", "ok", f"proxy listening on {host}:{port}")


def check_heartbeat(ctx: DoctorContext) -> Finding:
    """The agent row's heartbeat and component health, as the console would show it."""
    import json

    from sqlmodel import col, select

    from agent.store import Agent, open_store, utcnow

    try:
        store = open_store(ctx.store_url, migrate=False)
    except PhiWallError as err:
        return Finding("heartbeat", "warn", f"store not readable: {err}")
    try:
        with store.session() as session:
            row = session.exec(select(Agent).order_by(col(Agent.last_heartbeat).desc())).first()
    finally:
        store.dispose()
    if row is None:
        return Finding("heartbeat", "warn", "no agent has run against this store", "start it: `phiwall run`")
    age = utcnow() - row.last_heartbeat
    unhealthy = [
        f"{name}: {h.get('message', '')}"
        for name, h in json.loads(row.health or "{}").items()
        if h.get("status") != "ok"
    ]
    if age > timedelta(minutes=5):
        return Finding("heartbeat", "warn", f"agent {row.id} last seen {int(age.total_seconds())} s ago")
    if unhealthy:
        return Finding("heartbeat", "warn", f"agent {row.id}: " + "; ".join(unhealthy))
    return Finding("heartbeat", "ok", f"agent {row.id}, {int(age.total_seconds())} s ago")


def run_checks(ctx: DoctorContext, checks: list[Check] | None = None) -> list[Finding]:
    findings = []
    for check in checks or load_checks():
        try:
            findings.append(check(ctx))
        except Exception as exc:  # a doctor must report, not crash
            findings.append(Finding(check.__name__.removeprefix("check_"), "fail", f"check crashed: {exc!r}"))
    return findings
