"""Shadow-AI discovery: AI traffic the catalog does not know, local AI apps, bypass attempts.

Public surface (kept stable for the proxy addon and the runtime):
- `RequestShape.from_http(...)`: the structure of a request, never its values.
- `AIShapeClassifier.from_params(params).classify(shape)` / `.score(shape)`.
- `DiscoveryRecorder.observe(host, score, ...)`: one inventory row per host, batched writes.
- `ShadowInspector` (agent.shadow.hooks): the adapter the proxy calls with plain values.
"""

from agent.shadow.classifier import AIShapeClassifier, ShadowModelError, ShapeVerdict
from agent.shadow.shape import RequestShape

__all__ = ["AIShapeClassifier", "RequestShape", "ShadowModelError", "ShapeVerdict"]
