"""`phiwall doctor` check for shadow-AI discovery: is the classifier usable, how much can we see."""

from __future__ import annotations

import os

import psutil

from agent.checkup import DoctorContext, Finding
from agent.shadow.classifier import ShadowModelError
from agent.shadow.hooks import classifier_from_models


def _hidden_processes() -> tuple[int, int]:
    """(processes whose executable this user may not read, processes seen)."""
    hidden = seen = 0
    for proc in psutil.process_iter(["exe"], ad_value=None):
        seen += 1
        if proc.info.get("exe") is None:
            hidden += 1
    return hidden, seen


def check_shadow(ctx: DoctorContext) -> Finding:
    from agent.updates.active import load_active
    from agent.updates.shadow_model import shipped_classifier

    try:
        signatures = load_active(ctx.config.data_dir, ctx.config).current()
        classifier = classifier_from_models(signatures.models) or shipped_classifier()
    except ShadowModelError as exc:
        return Finding("shadow", "fail", str(exc), "reinstall a signature bundle: `phiwall signatures install`")
    except Exception as exc:  # the catalog check reports signature problems in detail
        return Finding("shadow", "warn", f"signatures not loadable: {exc}")
    if classifier is None:
        return Finding("shadow", "warn", "no shadow-AI classifier: unknown hosts are not classified")
    hidden, seen = _hidden_processes()
    detail = f"classifier {classifier.version} ({len(classifier.vocabulary)} features)"
    if hidden and hasattr(os, "geteuid") and os.geteuid() == 0:
        # Hidden even from root: the kernel or a sandbox restricts /proc; nothing to configure.
        return Finding(
            "shadow", "ok", f"{detail}; {seen - hidden} of {seen} processes visible (rest hidden by the kernel)"
        )
    if hidden:
        return Finding(
            "shadow",
            "warn",
            f"{detail}; {hidden} of {seen} processes hide their executable and sockets from this user, "
            "so the local-AI-app inventory and bypass detection see part of the machine",
            "grant the agent service CAP_SYS_PTRACE (AmbientCapabilities= in phiwall-agent.service) or run it as root",
        )
    return Finding("shadow", "ok", f"{detail}; all {seen} processes visible")
