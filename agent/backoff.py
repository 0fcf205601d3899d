"""One back-off rule for every retry loop: exponential from a first delay, capped, with jitter.

The loops differ in what they retry (the proxy child, a fleet cycle, a SIEM batch, a signature
poll, the notification socket) and each owns its scheduling (an interruptible wait on its stop
event) and its count of consecutive failures, which health reports show. What they share is the
delay after the n-th failure in a row: tenacity's exponential wait computes it, so there is one
formula, not five hand-written ones.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from tenacity import RetryCallState, Retrying, wait_exponential

MAX_EXPONENT = 62
"""Beyond this many failures in a row the delay is at its cap anyway (and 2**n stays a float)."""


@dataclass(frozen=True)
class Backoff:
    """`delay(n)`: seconds to wait after the n-th consecutive failure: first, 2*first, ... cap."""

    first: float
    cap: float
    jitter: tuple[float, float] = (1.0, 1.0)
    """The delay is scaled by a uniform factor in this range, so a fleet does not retry in step."""

    def delay(self, failures: int) -> float:
        state = RetryCallState(Retrying(), None, (), {})
        state.attempt_number = min(max(failures, 1), MAX_EXPONENT)
        base = wait_exponential(multiplier=self.first, max=self.cap)(state)
        low, high = self.jitter
        return base if low == high == 1.0 else base * random.uniform(low, high)
