"""The analyst console (Textual). Reads and triages the store; never imported by the agent.

`console.data` is the Textual-free layer (queries, triage, exports); `console.app` the app.
"""
