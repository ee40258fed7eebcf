"""Run the workloads on one peer (JAX or PyTorch) and write the medians as JSON.

    python peers.py jax   --out results/jax.json   [--only W1,W3] [--quick]
    python peers.py torch --out results/torch.json [--only W1,W3] [--quick]

One process per peer.  Each peer module (peer_jax.py, peer_torch.py) yields
case.py's `Case`s (a blocking call plus how to read its result) and `Skip`s (a workload
that has no meaning for that peer, with the reason).  This file times each
case, checks its answer against checks.py, and writes:

    {"peer": ..., "versions": {...}, "quick": bool,
     "results": [{"id", "variant", "median_ns", "min_ns", "max_ns", "samples",
                  "inner", "first_call_ns", "ok", "check", "note"}],
     "skipped": [{"id", "reason"}], "error": null | "..."}

W1 is the setup check: if its value is wrong (for example float32 where
float64 was meant), the peer is reported as misconfigured and nothing else is
timed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import checks  # noqa: E402
from case import Skip  # noqa: E402
import timing  # noqa: E402
import workloads as wl  # noqa: E402


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def save(out: dict, path: str) -> None:
    """Write the results so far (so a crash later keeps what was measured)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1)
    os.replace(tmp, path)


def run_peer(name: str, ids: list[str], quick: bool, path: str) -> dict:
    out: dict = {
        "peer": name,
        "quick": quick,
        "versions": {"python": platform.python_version()},
        "results": [],
        "skipped": [],
        "error": None,
    }
    try:
        if name == "jax":
            import peer_jax as peer
        elif name == "torch":
            import peer_torch as peer
        else:
            raise SystemExit(f"unknown peer {name!r} (expected jax or torch)")
        out["versions"].update(peer.versions())
    except Exception as exc:  # import failure: the peer is not usable
        out["error"] = f"cannot import {name}: {type(exc).__name__}: {exc}"
        return out

    plan = timing.Plan.make(quick)
    # W1 first, always: it validates the setup.
    order = [wl.W1] + [i for i in ids if i != wl.W1]
    for wid in order:
        try:
            items = list(peer.cases(wid))
        except Exception as exc:
            traceback.print_exc()
            items = []
            failure = f"failed to prepare: {type(exc).__name__}: {exc}"
            if wid == wl.W1:
                out["error"] = f"W1 {failure}; the {name} setup is broken"
                return out
            out["results"].append({"id": wid, "variant": None, "median_ns": None, "ok": False,
                                   "check": failure, "note": ""})
            save(out, path)
            log(f"[{name}] {wid}: {failure}")
        for item in items:
            if isinstance(item, Skip):
                if item.id in ids:
                    log(f"[{name}] {item.id}: skipped: {item.reason}")
                    out["skipped"].append(dataclasses.asdict(item))
                    save(out, path)
                continue
            if not run_case(name, item, ids, plan, out, path):
                return out
    return out


def run_case(name: str, item, ids: list[str], plan: timing.Plan, out: dict, path: str) -> bool:
    """Check and time one case into `out`; False when the setup check (W1) failed."""
    label = item.id + (f" ({item.variant})" if item.variant else "")
    try:
        ok, msg = checks.check(item.id, item.result(item.call()))
        if item.id == wl.W1 and not ok:
            out["error"] = f"W1 check failed, the {name} setup is wrong: {msg}"
            return False
        if item.id not in ids:
            return True  # W1 was only run as the setup check
        memory = item.memory() if item.memory is not None else None
        t = timing.measure_fresh(item.call, plan) if item.fresh else timing.measure(item.call, plan)
    except Exception as exc:
        traceback.print_exc()
        failure = f"failed to run: {type(exc).__name__}: {exc}"
        if item.id == wl.W1:
            out["error"] = f"W1 {failure}; the {name} setup is broken"
            return False
        out["results"].append({"id": item.id, "variant": item.variant, "median_ns": None, "ok": False,
                               "check": failure, "note": item.note})
        save(out, path)
        log(f"[{name}] {label}: {failure}")
        return True
    row = {"id": item.id, "variant": item.variant, **dataclasses.asdict(t), "ok": ok,
           "check": msg, "note": item.note}
    if memory is not None:
        row["memory_bytes"] = int(memory)
    out["results"].append(row)
    save(out, path)
    status = "ok" if ok else "WRONG ANSWER"
    mem = "" if memory is None else f", memory {memory} bytes"
    log(f"[{name}] {label}: median {t.median_ns / 1e3:.2f} us "
        f"({t.samples} samples x {t.inner}){mem}; check {status}: {msg}")
    return True
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("peer", choices=["jax", "torch"])
    ap.add_argument("--out", required=True, help="JSON file to write")
    ap.add_argument("--only", default=None, help="comma-separated workload prefixes, e.g. W1,W3")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = ap.parse_args()

    ids = wl.select(args.only)
    if not ids:
        log(f"--only {args.only!r} selects no workload (ids: {', '.join(wl.ALL_IDS)})")
        return 2
    out = run_peer(args.peer, ids, args.quick, args.out)
    save(out, args.out)
    if out["error"]:
        log(f"[{args.peer}] {out['error']}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
