"""The shadow-AI classifier shipped with PhiWall, for signature sets that carry none.

Owned here, beside the signature set it stands in for: agent.shadow does not import the
updates package; whoever builds a `ClassifierSource` hands this in as its fallback.
"""

from __future__ import annotations

import logging

from agent.shadow.classifier import AIShapeClassifier
from agent.shadow.hooks import classifier_from_models

log = logging.getLogger(__name__)


def shipped_classifier() -> AIShapeClassifier | None:
    """The classifier in the shipped bundle (trusted like the code); None when it is unusable."""
    from agent.updates.source import shipped_bundle

    try:
        return classifier_from_models(shipped_bundle().models)
    except Exception as exc:  # a broken checkout must not take the proxy down
        log.error("the shipped shadow classifier is unusable: %s", exc)
        return None
