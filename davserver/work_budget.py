"""How much recurrence work one request may do (README, "Limits").

Expanding an endless series over thousands of years, or free-busy over them, would pin a
core and grow memory for as long as it runs. The REPORT handler runs each request inside
work_budget(); instances_overlapping charges every window it expands and raises
TooMuchWork when the request's instances or time are spent (answered 403 max-instances)
or its client has closed the connection.
"""

from __future__ import annotations

import contextlib
import time as clock
from collections.abc import Callable, Iterator
from contextvars import ContextVar

# Recurrence work one request may do, over every object it expands (README, "Limits").
MAX_INSTANCES = 10_000
MAX_SECONDS = 10.0
_GONE_EVERY = 0.25  # seconds between looks at the client's connection
_BUDGET: ContextVar[list | None] = ContextVar("recurrence_budget", default=None)


class TooMuchWork(Exception):
    """The request would expand more instances, or take longer, than one request may.

    Not a ValueError: the handlers that include broken data must not swallow it.
    """


@contextlib.contextmanager
def work_budget(
    instances: int = MAX_INSTANCES, seconds: float = MAX_SECONDS, gone: Callable[[], bool] = lambda: False
) -> Iterator[None]:
    """Bound the recurrence expansion of everything run inside (one request); `gone()`
    tells whether its client has left (then the work stops at the next window)."""
    now = clock.monotonic()
    token = _BUDGET.set([instances, now + seconds, gone, now + _GONE_EVERY])
    try:
        yield
    finally:
        _BUDGET.reset(token)


def remaining() -> int | None:
    """Instances the request may still expand (None: no budget, e.g. outside a REPORT)."""
    budget = _BUDGET.get()
    return None if budget is None else max(budget[0], 0)


def charge(instances: int) -> None:
    budget = _BUDGET.get()
    if budget is None:
        return
    budget[0] -= instances
    if budget[0] < 0:
        raise TooMuchWork(f"the request would expand more than {MAX_INSTANCES} instances")
    now = clock.monotonic()
    if now > budget[1]:
        raise TooMuchWork(f"the request would take longer than {MAX_SECONDS:.0f} seconds")
    if now > budget[3]:  # a system call: not for every window of a large calendar
        budget[3] = now + _GONE_EVERY
        if budget[2]():
            raise TooMuchWork("the client has gone")
