"""How long to wait before trying again: exponential with jitter, capped, and reset once
things have proved healthy, so a fleet of clients does not retry in lockstep.

The one backoff of tether's Python side: the client's reconnects, the runner's and the
publisher's retries, and the gateway's upstream retries all use it. A leaf module.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    base: float = 1.0
    cap: float = 60.0
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def next_delay(self) -> float:
        """The next wait: the exponential step (base, 2·base, 4·base… up to cap), of which
        a random half is jittered ("equal jitter": never zero, never over the step)."""
        step = min(self.cap, self.base * (2 ** min(self.attempt, 32)))
        self.attempt += 1
        return step / 2 + self.rng.uniform(0, step / 2)

    def reset(self) -> None:
        self.attempt = 0
