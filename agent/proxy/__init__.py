"""The enforcement point: a mitmproxy addon that finds enrolled clinical media in uploads to AI
services and blocks them where policy says so.

Only this package imports mitmproxy. Layout, from the network inwards:
`runner` (embedded DumpMaster, `python -m agent.proxy`), `addon` (mitmproxy hooks, glue only),
`routing` (host -> service + status), `extract` (bodies -> media parts), `resumable` and
`realtime` (uploads split over requests or websocket messages), `inspect` (fingerprinting off
the event loop), `agent.policy.verdict` (the decision), `answers` (the 403 the client sees),
`recorder` + `attribution` (events with the process that sent the upload).
"""
