"""Read adjoint's criterion results (criterion 0.7 layout), standard library only.

Where criterion writes: $CRITERION_HOME if set, else $CARGO_TARGET_DIR/criterion,
else `<cargo metadata target_directory>/criterion`, else ./target/criterion.

Each benchmark id becomes a directory: criterion splits the id into group,
function and parameter, makes each part filename-safe (`/`, `\\`, `?`, `*`,
`:`, ... become `_`) and joins them with `/`.  So

    c.bench_function("W1_seed_scalar_grad", ..)             -> W1_seed_scalar_grad/
    group "W3_rosenbrock_grad", function "n1000"            -> W3_rosenbrock_grad/n1000/
    c.bench_function("W3_rosenbrock_grad/n1000", ..)        -> W3_rosenbrock_grad_n1000/

and each holds new/estimates.json (statistics in nanoseconds; we take
median.point_estimate) and new/benchmark.json (the full id).  A workload id
such as W3_rosenbrock_grad_n1000 matches a benchmark whose full id equals it
once every `/` is read as `_` (failing that, once all `/` and `_` are dropped,
so BenchmarkId::new("n", 1000000) still meets W3_rosenbrock_grad_n1000000).  Benchmarks that only extend a workload id
(W5_jacobian_hourglass/auto, .../fwd, .../rev) are kept as its variants; the
figure shown is the "auto" variant (what a user gets without choosing) when
there is one (for W12, "none": no memory budget), else the fastest.  An id inside a group of another name
("w7/W7_compile_1000op_grad") matches too.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass


@dataclass
class Estimate:
    """One criterion benchmark's median."""

    full_id: str  # criterion's id, e.g. "W3_rosenbrock_grad/n1000"
    key: str  # the same with every "/" read as "_"
    median_ns: float
    mtime: float  # when estimates.json was written (seconds since the epoch)
    path: str


def criterion_root(repo_root: str) -> str:
    """The directory criterion writes to, following criterion's own order."""
    home = os.environ.get("CRITERION_HOME")
    if home:
        return home
    target = os.environ.get("CARGO_TARGET_DIR")
    if target:
        return os.path.join(target if os.path.isabs(target) else os.path.join(repo_root, target), "criterion")
    try:
        out = subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--no-deps"],
            cwd=repo_root, capture_output=True, text=True, timeout=120, check=True,
        ).stdout
        return os.path.join(json.loads(out)["target_directory"], "criterion")
    except (OSError, subprocess.SubprocessError, ValueError, KeyError):
        return os.path.join(repo_root, "target", "criterion")


def _full_id(new_dir: str, rel_dir: str) -> str:
    try:
        with open(os.path.join(new_dir, "benchmark.json")) as f:
            meta = json.load(f)
        if isinstance(meta.get("full_id"), str):
            return meta["full_id"]
    except (OSError, ValueError):
        pass
    return rel_dir.replace(os.sep, "/")


def read_all(root: str) -> list[Estimate]:
    """Every `*/new/estimates.json` under root (baselines and reports ignored)."""
    found: list[Estimate] = []
    if not os.path.isdir(root):
        return found
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "report"]
        if os.path.basename(dirpath) != "new" or "estimates.json" not in filenames:
            continue
        path = os.path.join(dirpath, "estimates.json")
        try:
            with open(path) as f:
                median = float(json.load(f)["median"]["point_estimate"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        rel = os.path.relpath(os.path.dirname(dirpath), root)
        full = _full_id(dirpath, rel)
        found.append(Estimate(full, full.replace("/", "_"), median, os.path.getmtime(path), path))
    return found


PREFERRED_VARIANTS = ("auto", "dp", "default", "none")


def _suffix_is(full_id: str, workload_id: str) -> bool:
    """Whether the id's trailing parts (after a group name) spell the workload id."""
    parts = full_id.split("/")
    return any("_".join(parts[k:]) == workload_id for k in range(1, len(parts)))


def _loose(key: str) -> str:
    """A key with its separators dropped, so "n/1000000" and "n1000000" meet."""
    return key.replace("/", "").replace("_", "")


@dataclass
class Match:
    """adjoint's figure for one workload id."""

    median_ns: float
    full_id: str
    variants: dict  # variant key -> median_ns, when matched by prefix
    stale: bool
    mtime: float


def match(workload_id: str, estimates: list[Estimate], fresh_after: float | None) -> Match | None:
    """adjoint's figure for a workload id: the exact benchmark, else the best of its variants.

    `fresh_after`: results written before this time (a run start) are marked stale.
    """
    exact = [e for e in estimates if e.key == workload_id]
    if not exact:  # e.g. BenchmarkId::new("n", 1000000) -> "W3_rosenbrock_grad/n/1000000"
        exact = [e for e in estimates if _loose(e.key) == _loose(workload_id)]
    if not exact:  # inside a group of another name: "w7/W7_compile_1000op_grad"
        exact = [e for e in estimates if _suffix_is(e.full_id, workload_id)]
    if exact:
        e = max(exact, key=lambda e: e.mtime)
        return Match(e.median_ns, e.full_id, {}, fresh_after is not None and e.mtime < fresh_after, e.mtime)
    variants = [e for e in estimates if e.key.startswith(workload_id + "_")]
    if not variants:
        return None
    # The variant a user gets without choosing ("auto": the Jacobian-chain DP's
    # bracketing; "none": no memory budget) when there is one; otherwise the fastest.
    preferred = [e for e in variants if e.full_id[len(workload_id) + 1:] in PREFERRED_VARIANTS]
    best = preferred[0] if preferred else min(variants, key=lambda e: e.median_ns)
    stale = fresh_after is not None and any(e.mtime < fresh_after for e in variants)
    return Match(best.median_ns, best.full_id,
                 {e.full_id[len(workload_id) + 1:]: e.median_ns for e in variants},
                 stale, max(e.mtime for e in variants))


def read_memory(root: str, workload_id: str) -> dict:
    """Working memory per variant, from `<root>/<workload id>/memory.json` when a bench wrote one.

    benches/workloads.rs writes it for W12: {"none": {"working_bytes": N, "body_evals": {...}}, ...},
    the bytes the engine reported for one call under each budget.  Returns {variant: bytes}.
    """
    try:
        with open(os.path.join(root, workload_id, "memory.json")) as f:
            data = json.load(f)
        return {k: int(v["working_bytes"]) for k, v in data.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
