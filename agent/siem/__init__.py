"""SIEM forwarding: events and triage actions, through a durable outbox, as OCSF JSON or CEF.

Modules, one job each: `outbox` (the queue and per-destination cursors in the store),
`records` (the PHI-safe view of a queued row), `ocsf` and `cef` (formats), `syslog`
(RFC 5424 lines, RFC 6587 octet-counting frames), `sender` (TCP/TLS delivery),
`jsonl` (the rotating JSON-lines file), `component` (the `phiwall run` component) and
`doctor` (the `phiwall doctor` check). See docs/siem.md.
"""
