"""The enforcement point: a mitmproxy addon that finds enrolled clinical media in uploads to AI
services and blocks them where policy says so.

Only this package imports mitmproxy. Layout, from the network inwards:
`runner` (`python -m agent.proxy`), `master` (the mitmproxy addons it keeps), `addon` (the
composite mitmproxy sees), `addons/` (one addon per job: routing, tenants, uploads, realtime,
shadow, ...; `@failsafe`),
`flows` (the typed per-flow state and its phase), `decisions` (verdicts to events),
`inspection` (an upload body to a verdict), `routing` (host -> service + status), `prepare`
(bodies -> media parts, through agent.payload), `resumable` and `realtime` (uploads split over
requests or websocket messages), `inspect` (fingerprinting off the event loop),
`agent.policy.verdict` (the decision), `answers` (the 403 the client sees), `recorder` +
`attribution` (events with the process that sent the upload).
"""
