"""Timing harness: warm-up, many repetitions, median.

A call is timed in batches: each sample runs the call `inner` times back to
back and records the mean of that batch; `inner` is chosen so that a batch
lasts about `target_sample_s`, which keeps timer overhead negligible for
microsecond calls.  The reported figure is the median over the samples, the
statistic that criterion also reports for adjoint.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field


@dataclass
class Plan:
    """How hard to measure.  `quick` trades precision for speed."""

    warmup_s: float
    target_sample_s: float
    samples: int
    min_samples: int
    budget_s: float
    fresh_samples: int

    @staticmethod
    def make(quick: bool) -> "Plan":
        if quick:
            return Plan(warmup_s=0.05, target_sample_s=0.002, samples=11, min_samples=3, budget_s=1.0, fresh_samples=3)
        return Plan(warmup_s=0.3, target_sample_s=0.02, samples=51, min_samples=5, budget_s=6.0, fresh_samples=7)


@dataclass
class Timing:
    """Result of one measurement; times in nanoseconds per call."""

    median_ns: float
    min_ns: float
    max_ns: float
    samples: int
    inner: int
    first_call_ns: float
    extra: dict = field(default_factory=dict)


def measure(call, plan: Plan) -> Timing:
    """Time `call()` (which must block until its result is ready)."""
    t0 = time.perf_counter_ns()
    call()  # first call: compilation / caches / lazy initialisation
    first = time.perf_counter_ns() - t0

    # Warm-up, also estimating the cost of one call.
    n = 0
    start = time.perf_counter()
    while n < 3 or (time.perf_counter() - start) < plan.warmup_s:
        call()
        n += 1
        if n >= 3 and (time.perf_counter() - start) > plan.budget_s / 4:
            break
    per_call = (time.perf_counter() - start) / n

    inner = max(1, int(plan.target_sample_s / per_call)) if per_call > 0 else 1000
    samples = plan.samples
    if per_call * inner * samples > plan.budget_s:
        samples = max(plan.min_samples, int(plan.budget_s / (per_call * inner)))

    times = []
    for _ in range(samples):
        t = time.perf_counter_ns()
        for _ in range(inner):
            call()
        times.append((time.perf_counter_ns() - t) / inner)
    return Timing(
        median_ns=statistics.median(times),
        min_ns=min(times),
        max_ns=max(times),
        samples=samples,
        inner=inner,
        first_call_ns=float(first),
    )


def measure_fresh(call, plan: Plan) -> Timing:
    """Time a call that is expensive and must not be cached (e.g. compilation).

    One untimed call first warms the library itself (imports, backends); then
    every sample is a single fresh call.
    """
    t0 = time.perf_counter_ns()
    call()
    first = time.perf_counter_ns() - t0
    samples = plan.fresh_samples
    times = []
    for _ in range(samples):
        t = time.perf_counter_ns()
        call()
        times.append(float(time.perf_counter_ns() - t))
    return Timing(
        median_ns=statistics.median(times),
        min_ns=min(times),
        max_ns=max(times),
        samples=samples,
        inner=1,
        first_call_ns=float(first),
    )
