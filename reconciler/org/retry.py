"""When and how long to retry a call to the org: one policy, built on tenacity.

Reads (list, read, query) are retried on TransientOrgError with exponential backoff and full
jitter, bounded both in attempts and in total time, so a flapping org cannot stall a pipeline
for longer than the operator allowed. Nothing else is retried here: a daily API limit
(RequestLimitExceeded), a refused call, or a malformed reply would fail again the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ..errors import TransientOrgError

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_ATTEMPTS = 4
DEFAULT_MAX_SECONDS = 60.0
DEFAULT_BASE_DELAY = 0.5


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts include the first try; `max_seconds` caps the whole sequence, waits included."""

    attempts: int = DEFAULT_ATTEMPTS
    max_seconds: float = DEFAULT_MAX_SECONDS
    base_delay: float = DEFAULT_BASE_DELAY
    max_delay: float = 8.0

    def run(self, what: str, call: Callable[[], T]) -> T:
        """`call()` until it succeeds or the policy is spent; then its last error is raised."""
        import tenacity  # here, not at the top: `validate` and `--help` never retry anything

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(TransientOrgError),
            stop=tenacity.stop_after_attempt(max(1, self.attempts))
            | tenacity.stop_after_delay(self.max_seconds),
            wait=tenacity.wait_random_exponential(multiplier=self.base_delay, max=self.max_delay),
            before_sleep=lambda state: log.warning(
                "%s: %s; retrying (attempt %d of %d)",
                what,
                state.outcome.exception() if state.outcome else "failed",
                state.attempt_number + 1,
                self.attempts,
            ),
            reraise=True,
        )
        return retrying(call)
