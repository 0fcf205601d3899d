"""Signature updates: bundles verified with TUF, installed atomically, hot-reloaded.

Public surface: `load_active` / `ActiveSignatures` / `SignatureSet` (agent/updates/active.py);
the update component for `phiwall run` (agent/updates/component.py).
"""

from agent.updates.active import ActiveSignatures, SignatureSet, load_active

__all__ = ["ActiveSignatures", "SignatureSet", "load_active"]
