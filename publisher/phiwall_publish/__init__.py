"""PhiWall's publisher: what IT runs to publish signature bundles, never installed on workstations.

`keys` and `repository`: the offline TUF repository (Ed25519 keys, root/targets/snapshot/
timestamp metadata); `shadow`: the classifier's training data and trainer; `cli`: the
`phiwall-publish` command. It imports the agent's bundle code (to build and check bundles
exactly as agents will), the agent never imports it (pyproject's import-linter contract).
"""
