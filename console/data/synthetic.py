"""Synthetic stores for tests, benchmarks and demos: many plausible events, no PHI at all.

Rows are made inside the database with one `INSERT ... SELECT` over a generated series
(a recursive CTE on SQLite, `generate_series` on PostgreSQL), so a million events take
seconds rather than the minutes a Python loop would. Every value is a pure function of the
row number and the arguments: the same call always builds the same store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from agent.store import Store

SERVICES: tuple[tuple[str, str, str], ...] = (
    ("openai", "api.openai.com", "chat"),
    ("chatgpt", "chatgpt.com", "chat"),
    ("anthropic", "api.anthropic.com", "chat"),
    ("gemini", "generativelanguage.googleapis.com", "chat"),
    ("otter", "otter.ai", "transcription"),
    ("assemblyai", "api.assemblyai.com", "transcription"),
    ("deepgram", "api.deepgram.com", "transcription"),
    ("elevenlabs", "api.elevenlabs.io", "voice"),
    ("perplexity", "www.perplexity.ai", "search"),
    ("mistral", "api.mistral.ai", "chat"),
    ("copilot", "copilot.microsoft.com", "chat"),
)
PROCESSES: tuple[tuple[str, str], ...] = (
    ("firefox", "/usr/lib/firefox/firefox"),
    ("chrome", "/opt/google/chrome/chrome"),
    ("python3", "/usr/bin/python3"),
    ("curl", "/usr/bin/curl"),
    ("Dictation", "/opt/dictation/bin/Dictation"),
)
# Out of 20 rows: 3 blocks, 2 audits, 14 allows, 1 info.
VERDICT_CYCLE = tuple(
    "block" if i in (0, 7, 14) else "audit" if i in (3, 16) else "info" if i == 10 else "allow" for i in range(20)
)


@dataclass(frozen=True)
class SyntheticSpec:
    """What to generate: `count` events spread evenly over `span` ending at `end`."""

    count: int
    end: datetime = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    span: timedelta = timedelta(days=30)
    users: int = 200
    assets: int = 500
    agents: int = 20
    id_prefix: str = ""

    @property
    def start(self) -> datetime:
        return self.end - self.span


def _values(rows: tuple[tuple[str, ...], ...]) -> str:
    """A literal VALUES list (i, col...) for small fixed tables; values are constants above."""
    return ", ".join("(" + ", ".join([str(i), *(f"'{v}'" for v in row)]) + ")" for i, row in enumerate(rows))


def generate(store: Store, spec: SyntheticSpec) -> None:
    """Fill `store` with `spec.count` events plus the assets, agents and inventory they refer to."""
    _insert_assets(store, spec)
    _insert_agents(store, spec)
    _insert_inventory(store, spec)
    if store.is_sqlite:
        _insert_events_sqlite(store, spec)
    else:
        _insert_events_postgres(store, spec)


def asset_id(n: int) -> str:
    return f"{n:064x}"


def event_id(spec: SyntheticSpec, n: int) -> str:
    return f"{spec.id_prefix}{n:0{32 - len(spec.id_prefix)}x}"


def _insert_assets(store: Store, spec: SyntheticSpec) -> None:
    kinds = ("audio", "video", "audio", "image")
    rows = [
        {
            "id": asset_id(i),
            "kind": kinds[i % 4],
            "mime": "audio/mpeg" if kinds[i % 4] == "audio" else "video/mp4",
            "path": f"/srv/clinical/recordings/dictation-{i:05d}.{'mp3' if kinds[i % 4] == 'audio' else 'mp4'}",
            "size": 100_000 + i * 37,
            "enrolled_at": _bind_time(store, spec.start - timedelta(days=1)),
            "origin": f"ws-{i % max(spec.agents, 1):03d}",
        }
        for i in range(spec.assets)
    ]
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO media_asset (id, kind, mime, path, size, has_audio, has_video, enrolled_at, "
                "origin_agent_id) VALUES (:id, :kind, :mime, :path, :size, true, false, :enrolled_at, :origin)"
            ),
            rows,
        )


def _insert_agents(store: Store, spec: SyntheticSpec) -> None:
    rows = []
    for i in range(spec.agents):
        beat = spec.end - timedelta(seconds=30 + i * 97)
        rows.append(
            {
                "id": f"ws-{i:03d}",
                "hostname": f"ward{i % 7}-ws{i:03d}.hospital.example",
                "os": "Linux 6.1",
                "version": "0.1.0",
                "first_seen": _bind_time(store, spec.start),
                "last_heartbeat": _bind_time(store, beat),
                "catalog_version": "2026.02.1" if i % 5 else "2026.01.3",
                "health": '{"proxy": {"status": "ok", "message": ""}, "watcher": {"status": "ok", "message": ""}}'
                if i % 6
                else '{"proxy": {"status": "degraded", "message": "upstream TLS errors"}}',
            }
        )
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO agent (id, hostname, os, version, first_seen, last_heartbeat, catalog_version, health) "
                "VALUES (:id, :hostname, :os, :version, :first_seen, :last_heartbeat, :catalog_version, :health)"
            ),
            rows,
        )


UNKNOWN_AI_HOSTS = ("llm.internal-lab.example", "api.newchatbot.example", "transcribe.startup.example")
LOCAL_APPS = (
    ("ollama", "Ollama", "/usr/local/bin/ollama", "[11434]"),
    ("lmstudio", "LM Studio", "/opt/lmstudio/lms", "[1234]"),
)


def _insert_inventory(store: Store, spec: SyntheticSpec) -> None:
    """`ai_service_seen` rows per (agent, host) and a few local AI apps, consistent with the events."""
    seen: list[dict[str, object]] = []
    for a in range(spec.agents):
        for i, (sid, host, category) in enumerate(SERVICES):
            if (a + i) % 3 == 0:
                continue
            seen.append(
                {
                    "agent_id": f"ws-{a:03d}",
                    "host": host,
                    "service_id": sid,
                    "category": category,
                    "status": "approved" if sid in ("copilot", "openai") else "unapproved",
                    "confidence": None,
                    "first_seen": _bind_time(store, spec.start + timedelta(hours=a)),
                    "last_seen": _bind_time(store, spec.end - timedelta(minutes=i + a)),
                    "request_count": 40 + a * 3 + i,
                    "block_count": (a + i) % 5,
                    "users": f'["user{(a * 7) % spec.users:03d}", "user{(a * 7 + i) % spec.users:03d}"]',
                    "processes": '["chrome", "firefox"]' if i % 2 else '["python3"]',
                }
            )
        host = UNKNOWN_AI_HOSTS[a % len(UNKNOWN_AI_HOSTS)]
        seen.append(
            {
                "agent_id": f"ws-{a:03d}",
                "host": host,
                "service_id": None,
                "category": None,
                "status": "unknown",
                "confidence": 0.7 + (a % 3) / 10,
                "first_seen": _bind_time(store, spec.end - timedelta(days=2, hours=a)),
                "last_seen": _bind_time(store, spec.end - timedelta(hours=a)),
                "request_count": 3 + a,
                "block_count": 1 if a % 4 == 0 else 0,
                "users": f'["user{a:03d}"]',
                "processes": '["python3"]',
            }
        )
    apps = [
        {
            "agent_id": f"ws-{a:03d}",
            "signature_id": sig,
            "name": name,
            "exe": exe,
            "user": f"user{a:03d}",
            "ports": ports,
            "first_seen": _bind_time(store, spec.start),
            "last_seen": _bind_time(store, spec.end - timedelta(hours=a)),
        }
        for a in range(0, spec.agents, 4)
        for sig, name, exe, ports in LOCAL_APPS[: 1 + a % 2]
    ]
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO ai_service_seen (agent_id, host, service_id, category, status, confidence, first_seen, "
                "last_seen, request_count, block_count, users, processes) VALUES (:agent_id, :host, :service_id, "
                ":category, :status, :confidence, :first_seen, :last_seen, :request_count, :block_count, :users, "
                ":processes)"
            ),
            seen,
        )
        if apps:
            conn.execute(
                text(
                    'INSERT INTO local_ai_app (agent_id, signature_id, name, exe, "user", ports, first_seen, '
                    "last_seen) VALUES (:agent_id, :signature_id, :name, :exe, :user, :ports, :first_seen, :last_seen)"
                ),
                apps,
            )


def _bind_time(store: Store, when: datetime) -> datetime | str:
    if store.is_sqlite:
        return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return when


_COLUMNS = (
    "id, time, agent_id, kind, user, pid, process_name, process_exe, host, path, method, service_id, "
    "service_category, verdict, reason, asset_id, match_score, match_kind, match_offset_s, payload_size, "
    "sniffed_types, catalog_version, details, triage_state"
)


def _checked_prefix(spec: SyntheticSpec) -> str:
    if not all(ch in "0123456789abcdef" for ch in spec.id_prefix) or len(spec.id_prefix) > 8:
        raise ValueError("id_prefix must be at most 8 lowercase hex digits")
    return spec.id_prefix


def _insert_events_sqlite(store: Store, spec: SyntheticSpec) -> None:
    step = spec.span.total_seconds() / max(spec.count, 1)
    start = spec.start.timestamp()
    prefix = _checked_prefix(spec)
    width = 32 - len(prefix)
    # Only constants of this module and numbers are formatted in; counts are bound.
    sql = f"""
    WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n < :count - 1),
    services(i, sid, host, cat) AS (VALUES {_values(SERVICES)}),
    procs(i, name, exe) AS (VALUES {_values(PROCESSES)}),
    verdicts(i, verdict) AS (VALUES {_values(tuple((v,) for v in VERDICT_CYCLE))})
    INSERT INTO event ({_COLUMNS.replace("user", '"user"')})
    SELECT
      '{prefix}' || printf('%0{width}x', n),
      strftime('%Y-%m-%d %H:%M:%f', {start} + n * {step}, 'unixepoch') || '000',
      printf('ws-%03d', n % :agents),
      CASE WHEN n % 97 = 0 THEN 'discovery' ELSE 'upload' END,
      printf('user%03d', (n * 7) % :users),
      1000 + n % 30000,
      procs.name, procs.exe, services.host,
      '/v1/upload', 'POST', services.sid, services.cat, verdicts.verdict,
      CASE verdicts.verdict WHEN 'block' THEN 'clinical recording matched an enrolled asset'
        WHEN 'audit' THEN 'upload to an unapproved service (audit mode)'
        WHEN 'info' THEN 'new AI host discovered' ELSE 'no clinical media' END,
      CASE WHEN verdicts.verdict IN ('block', 'audit') THEN printf('%064x', n % :assets) END,
      CASE WHEN verdicts.verdict IN ('block', 'audit') THEN 0.80 + (n % 20) / 100.0 END,
      CASE WHEN verdicts.verdict IN ('block', 'audit') THEN 'audio' END,
      CASE WHEN verdicts.verdict IN ('block', 'audit') THEN (n % 600) * 1.5 END,
      20000 + (n * 131) % 5000000,
      'audio/mpeg',
      '2026.02.1',
      CASE WHEN verdicts.verdict IN ('block', 'audit') THEN json_object(
        'status', 'unapproved', 'media_parts', 1, 'matched_part', 'multipart:file',
        'payload_sha256', printf('%064x', n % :assets), 'parent_pid', 900 + n % 50,
        'parent_name', CASE procs.name WHEN 'Dictation' THEN 'systemd' ELSE 'gnome-shell' END,
        'cmdline', procs.exe || ' --upload /home/' || printf('user%03d', (n * 7) % :users)
          || '/Recordings/dictation-' || printf('%05d', n % :assets) || '.mp3')
      ELSE '{{"parts": 1}}' END,
      CASE WHEN n % 50 = 0 THEN 'closed' WHEN n % 23 = 0 THEN 'acknowledged' ELSE 'new' END
    FROM seq CROSS JOIN services CROSS JOIN procs CROSS JOIN verdicts
    WHERE services.i = n % {len(SERVICES)} AND procs.i = (n / 3) % {len(PROCESSES)}
      AND verdicts.i = n % {len(VERDICT_CYCLE)}
    """  # noqa: S608
    with store.engine.begin() as conn:
        # A big page cache keeps the event indexes in memory while a million rows go in.
        conn.exec_driver_sql("PRAGMA cache_size = -262144")
        # Synthetic history counts as already forwarded: the outbox triggers (agent stores
        # only) are lifted for the bulk insert and put back unchanged, in the same transaction.
        # The text index's triggers stay: its rows are made as the events go in.
        triggers = conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'event' AND name LIKE '%outbox%'"
        ).all()
        for name, _ in triggers:
            conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
        conn.execute(
            text(sql), {"count": spec.count, "agents": spec.agents, "users": spec.users, "assets": spec.assets}
        )
        for _, trigger_sql in triggers:
            conn.exec_driver_sql(str(trigger_sql))
        conn.exec_driver_sql("PRAGMA cache_size = -2000")


def _insert_events_postgres(store: Store, spec: SyntheticSpec) -> None:
    step = spec.span.total_seconds() / max(spec.count, 1)
    start = spec.start.timestamp()
    prefix = _checked_prefix(spec)
    width = 32 - len(prefix)
    # Only constants of this module and numbers are formatted in; counts are bound.
    sql = f"""
    WITH services(i, sid, host, cat) AS (VALUES {_values(SERVICES)}),
    procs(i, name, exe) AS (VALUES {_values(PROCESSES)}),
    verdicts(i, verdict) AS (VALUES {_values(tuple((v,) for v in VERDICT_CYCLE))})
    INSERT INTO event ({_COLUMNS.replace("user", '"user"')})
    SELECT
      '{prefix}' || lpad(to_hex(n), {width}, '0'),
      to_timestamp({start} + n * {step}),
      'ws-' || lpad((n % :agents)::text, 3, '0'),
      CASE WHEN n % 97 = 0 THEN 'discovery' ELSE 'upload' END,
      'user' || lpad(((n * 7) % :users)::text, 3, '0'),
      1000 + n % 30000,
      procs.name, procs.exe, services.host,
      '/v1/upload', 'POST', services.sid, services.cat, verdicts.verdict,
      CASE verdicts.verdict WHEN 'block' THEN 'clinical recording matched an enrolled asset'
        WHEN 'audit' THEN 'upload to an unapproved service (audit mode)'
        WHEN 'info' THEN 'new AI host discovered' ELSE 'no clinical media' END,
      CASE WHEN verdicts.verdict IN ('block', 'audit') THEN lpad(to_hex(n % :assets), 64, '0') END,
      CASE WHEN verdicts.verdict IN ('block', 'audit') THEN 0.80 + (n % 20) / 100.0 END,
      CASE WHEN verdicts.verdict IN ('block', 'audit') THEN 'audio' END,
      CASE WHEN verdicts.verdict IN ('block', 'audit') THEN (n % 600) * 1.5 END,
      20000 + (n * 131) % 5000000,
      'audio/mpeg',
      '2026.02.1',
      CASE WHEN verdicts.verdict IN ('block', 'audit') THEN json_build_object(
        'status', 'unapproved', 'media_parts', 1, 'matched_part', 'multipart:file',
        'payload_sha256', lpad(to_hex(n % :assets), 64, '0'), 'parent_pid', 900 + n % 50,
        'parent_name', CASE procs.name WHEN 'Dictation' THEN 'systemd' ELSE 'gnome-shell' END,
        'cmdline', procs.exe || ' --upload /home/user' || lpad(((n * 7) % :users)::text, 3, '0')
          || '/Recordings/dictation-' || lpad((n % :assets)::text, 5, '0') || '.mp3')::text
      ELSE '{{"parts": 1}}' END,
      CASE WHEN n % 50 = 0 THEN 'closed' WHEN n % 23 = 0 THEN 'acknowledged' ELSE 'new' END
    FROM generate_series(0, :count - 1) AS n
    JOIN services ON services.i = n % {len(SERVICES)}
    JOIN procs ON procs.i = (n / 3) % {len(PROCESSES)}
    JOIN verdicts ON verdicts.i = n % {len(VERDICT_CYCLE)}
    """  # noqa: S608
    with store.engine.begin() as conn:
        conn.execute(
            text(sql), {"count": spec.count, "agents": spec.agents, "users": spec.users, "assets": spec.assets}
        )
        conn.exec_driver_sql("ANALYZE event")
