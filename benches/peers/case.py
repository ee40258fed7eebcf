"""What a peer module hands the harness: a timed `Case` or a `Skip` with its reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass
class Case:
    """One timed workload (or one variant of it, e.g. jacfwd / jacrev)."""

    id: str
    call: Callable[[], Any]  # runs the workload once and blocks until done
    result: Callable[[Any], Any]  # converts call()'s return value to numpy for checks
    variant: str | None = None
    fresh: bool = False  # expensive and never cached: each sample is one fresh call
    note: str = ""
    # Working memory in bytes, measured once after the check (W12): what it
    # counts is the peer's own measure, described in `note`.
    memory: Callable[[], int] | None = None


@dataclass
class Skip:
    """A workload the peer does not run, and why."""

    id: str
    reason: str
