"""Combine adjoint's criterion medians with the peers' medians into one table.

    python3 table.py --results DIR --repo ROOT [--only W1,W3] [--quick]
                     [--fresh-after EPOCH] [--markdown docs/performance.md]
                     [--command "bash benches/peers/run.sh ..."]

Reads DIR/<peer>.json (written by peers.py) and DIR/<name>.status (one line
written by run.sh: "ok", or the plain reason why that side has no figures),
prints a text table, and replaces what lies between the markers
`<!-- peers:begin -->` and `<!-- peers:end -->` in the Markdown file with the
same table (creating the file with a heading and the markers if needed; the
rest of the file is never touched).  Standard library only, so it runs even
when no peer could be installed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import criterion_results  # noqa: E402

BEGIN = "<!-- peers:begin -->"
END = "<!-- peers:end -->"

# Ids in table order (kept in sync with workloads.py, which needs numpy).
IDS = [
    "W1_seed_scalar_grad",
    "W2_sigmoid3_grad",
    "W3_rosenbrock_grad_n1000",
    "W3_rosenbrock_value_n1000",
    "W3_rosenbrock_grad_n1000000",
    "W3_rosenbrock_value_n1000000",
    "W4_mlp_step_f32",
    "W4_mlp_loss_f32",
    "W5_jacobian_hourglass",
    "W5_jacobian_diamond",
    "W5_jacobian_wide_in",
    "W6_hvp_rosenbrock_n10000",
    "W7_compile_1000op_grad",
    "W8_lorenz_rk4_grad_T1000",
    "W8_lorenz_rk4_value_T1000",
    "W8_lorenz_rk4_grad_T100000",
    "W9_rnn_step_f32",
    "W10_while_newton_jvp",
    "W11_scan_compile_10k_grad",
    "W12_rnn_long_grad_memory",
]
PEERS = [("jax", "JAX"), ("torch", "PyTorch")]


def select(only: str | None) -> list[str]:
    if not only:
        return list(IDS)
    prefixes = [p.strip() for p in only.split(",") if p.strip()]
    return [i for i in IDS if any(i == p or i.startswith(p + "_") for p in prefixes)]


def fmt_time(ns: float | None) -> str:
    """Three significant figures in ns, µs, ms or s."""
    if ns is None:
        return "—"
    for scale, unit in ((1e9, "s"), (1e6, "ms"), (1e3, "µs"), (1.0, "ns")):
        if ns >= scale or unit == "ns":
            v = ns / scale
            digits = 0 if v >= 100 else 1 if v >= 10 else 2
            return f"{v:.{digits}f} {unit}"
    return "—"


def fmt_ratio(peer_ns: float | None, adjoint_ns: float | None) -> str:
    if peer_ns is None or adjoint_ns is None or adjoint_ns <= 0:
        return "—"
    r = peer_ns / adjoint_ns
    return f"{r:.0f}×" if r >= 100 else f"{r:.1f}×" if r >= 10 else f"{r:.2f}×"


def fmt_bytes(n: float | None) -> str:
    """Three significant figures in B, KB, MB or GB (powers of 1000, as JAX's figures are quoted)."""
    if n is None:
        return "—"
    for scale, unit in ((1e9, "GB"), (1e6, "MB"), (1e3, "KB"), (1.0, "B")):
        if n >= scale or unit == "B":
            v = n / scale
            if unit == "B":
                return f"{int(n)} B"
            digits = 0 if v >= 100 else 1 if v >= 10 else 2
            return f"{v:.{digits}f} {unit}"
    return "—"


def read_status(results: str, name: str) -> str:
    try:
        with open(os.path.join(results, name + ".status")) as f:
            return f.read().strip() or "no status recorded"
    except OSError:
        return "not run"


def read_peer(results: str, name: str) -> dict | None:
    try:
        with open(os.path.join(results, name + ".json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


class PeerCell:
    """A peer's figure for one workload, and the text shown for it."""

    def __init__(self, ns: float | None, text: str, note: str | None = None, memory: str = ""):
        self.ns = ns
        self.text = text
        self.note = note
        self.memory = memory  # the working-memory figure(s), for workloads that measure it (W12)


def peer_cell(peer: dict | None, status: str, wid: str) -> PeerCell:
    """The cell of one peer (its JSON, or None) for one workload; the reasons go to the notes."""
    if peer is None or peer.get("error"):
        return PeerCell(None, "not installed" if status.startswith("not installed") else "n/a")
    skipped = [s for s in peer.get("skipped", []) if s["id"] == wid]
    if skipped:
        return PeerCell(None, "skipped", skipped[0]["reason"])
    rows = [r for r in peer.get("results", []) if r["id"] == wid]
    timed = [r for r in rows if r.get("median_ns") is not None]
    if not rows:
        return PeerCell(None, "—")
    if not timed:
        return PeerCell(None, "failed", rows[0].get("check"))
    wrong = [r for r in timed if not r.get("ok")]
    right = [r for r in timed if r.get("ok")]
    best = min(right or timed, key=lambda r: r["median_ns"])  # never a wrong answer when a right one exists
    text = fmt_time(best["median_ns"])
    if len(timed) > 1:
        others = "; ".join(f"{r['variant']} {fmt_time(r['median_ns'])}" for r in timed if r is not best)
        text += f" ({best['variant']}; {others})"
    note = None
    if wrong:
        text += " WRONG" if not right else " (some WRONG)"
        note = "; ".join(f"{r['variant'] or 'value'}: {r['check']}" for r in wrong)
    memory = ""
    if any(r.get("memory_bytes") is not None for r in timed):
        memory = fmt_bytes(best.get("memory_bytes"))
        if len(timed) > 1:
            others = "; ".join(f"{r['variant']} {fmt_bytes(r.get('memory_bytes'))}" for r in timed if r is not best)
            memory += f" ({best['variant']}; {others})"
    return PeerCell(best["median_ns"], text, note, memory)


def adjoint_cells(ids, status: str, root: str, fresh_after: float | None, results_dir: str):
    """adjoint's cell per id, plus notes."""
    notes = []
    cells = {}
    try:
        with open(os.path.join(results_dir, "adjoint.missing")) as f:
            notes.append(f"adjoint: {f.read().strip()}")
    except OSError:
        pass
    if status == "ok" or status.startswith("partial") or status.startswith("reused"):
        estimates = criterion_results.read_all(root)
        for wid in ids:
            m = criterion_results.match(wid, estimates, None if status.startswith("reused") else fresh_after)
            if m is None:
                cells[wid] = PeerCell(None, "no bench")
                continue
            text = fmt_time(m.median_ns)
            tags = []
            if m.variants:
                tags.append(m.full_id[len(wid) + 1:])
                notes.append(f"adjoint {wid}: criterion variants "
                             + ", ".join(f"{k} {fmt_time(v)}" for k, v in sorted(m.variants.items()))
                             + f"; the table shows {m.full_id[len(wid) + 1:]} (the automatic choice if there is one, "
                             "else the fastest)")
            if m.stale:
                tags.append("stale")
                when = dt.datetime.fromtimestamp(m.mtime, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
                notes.append(f"adjoint {wid}: not re-measured by this run; figure from {when}")
            if tags:
                text += " (" + ", ".join(tags) + ")"
            memory = ""
            per_variant = criterion_results.read_memory(root, wid)
            if per_variant:
                shown = m.full_id[len(wid) + 1:] if m.variants else None
                memory = fmt_bytes(per_variant.get(shown)) + (f" ({shown})" if shown else "")
                notes.append(f"adjoint {wid}: working memory per variant (engine-reported, one call) "
                             + ", ".join(f"{k} {fmt_bytes(v)}" for k, v in per_variant.items()))
            cells[wid] = PeerCell(m.median_ns, text, memory=memory)
        if not any(c.ns is not None for c in cells.values()):
            notes.append(f"adjoint: no criterion results for these ids under {root}")
        elif status.startswith("reused"):
            notes.append(f"adjoint: figures read from earlier criterion results under {root} (not re-run)")
        if status.startswith("partial"):
            notes.append(f"adjoint: {status}")
    else:
        notes.append(f"adjoint: {status}")
        for wid in ids:
            cells[wid] = PeerCell(None, "not run")
    return cells, notes


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_note(results: str) -> str | None:
    """How busy the machine was: 1-minute load average at the start and at the end."""
    try:
        with open(os.path.join(results, "loadavg.start")) as f:
            start = float(f.read().split()[0])
        end = os.getloadavg()[0]
    except (OSError, ValueError, IndexError):
        return None
    cores = os.cpu_count() or 1
    note = f"Load average (1 min) {start:.1f} at the start and {end:.1f} at the end, on {cores} cores"
    if max(start, end) > 0.5 * cores:
        note += ": other processes were competing for the CPU, so absolute times are pessimistic and noisy"
    return note + "."


def rustc_version() -> str | None:
    try:
        return subprocess.run(["rustc", "--version"], capture_output=True, text=True, timeout=30).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def build(args) -> tuple[list[str], list[list[str]], list[str], list[str]]:
    """Header, rows, notes and a versions line."""
    ids = select(args.only)
    adjoint_status = read_status(args.results, "adjoint")
    root = criterion_results.criterion_root(args.repo)
    fresh_after = float(args.fresh_after) if args.fresh_after else None
    adj, notes = adjoint_cells(ids, adjoint_status, root, fresh_after, args.results)

    peers = {}
    for key, label in PEERS:
        status = read_status(args.results, key)
        data = read_peer(args.results, key)
        peers[key] = (data, status)
        try:
            with open(os.path.join(args.results, key + ".install")) as f:
                notes.append(f"{label}: {f.read().strip()}")
        except OSError:
            pass
        if data is None:
            notes.append(f"{label}: {status}")
        elif data.get("error"):
            notes.append(f"{label}: {data['error']}")
        elif status != "ok":
            notes.append(f"{label}: {status}")

    header = ["Workload", "adjoint"] + [label for _, label in PEERS] + [f"{label} / adjoint" for _, label in PEERS]
    rows = []
    memories = []  # per row: adjoint's and each peer's working-memory text ("" when not measured)
    checked = failed = 0
    for wid in ids:
        cells = [peer_cell(peers[key][0], peers[key][1], wid) for key, _ in PEERS]
        for (key, label), cell in zip(PEERS, cells):
            if cell.note and (peers[key][0] is not None and not peers[key][0].get("error")):
                notes.append(f"{label} {wid}: {cell.text.split(' (')[0]}: {cell.note}")
        row = [wid, adj[wid].text] + [c.text for c in cells] + [fmt_ratio(c.ns, adj[wid].ns) for c in cells]
        memories.append([adj[wid].memory] + [c.memory for c in cells])
        rows.append(row)
    for key, _ in PEERS:
        data = peers[key][0]
        if data and not data.get("error"):
            for r in data.get("results", []):
                if r["id"] in ids and r.get("median_ns") is not None:
                    checked += 1
                    failed += 0 if r.get("ok") else 1
    if any(any(m) for m in memories):
        # Workloads that measure memory (W12) add these columns; the other rows leave them empty.
        header += ["adjoint memory"] + [f"{label} memory" for _, label in PEERS]
        rows = [r + m for r, m in zip(rows, memories)]
        notes.append("Memory columns: adjoint, the working memory the engine reports for one call (arena and "
                     "residual stacks; inputs and outputs excluded); JAX, the compiled program's temporaries "
                     "(`memory_analysis().temp_size_in_bytes`); PyTorch, the bytes autograd saves for the "
                     "backward pass (a saved-tensor hook; distinct storages, inputs excluded). "
                     "1 KB = 1000 bytes.")
    load = load_note(args.results)
    if load:
        notes.append(load)
    if checked:
        notes.append(
            f"Answers: {checked - failed} of {checked} peer results match the hand-derived references of "
            "benches/peers/checks.py" + ("" if not failed else f"; {failed} do NOT (marked WRONG)") + "."
        )

    versions = []
    for key, label in PEERS:
        data = peers[key][0]
        if data and data.get("versions"):
            v = data["versions"]
            if key == "jax" and "jax" in v:
                threads = v.get("threads", "default")
                threads = "" if threads == "default" else f", {threads} thread{'s' if threads != '1' else ''}"
                versions.append(f"JAX {v['jax']} (jaxlib {v.get('jaxlib', '?')}, {v.get('backend', 'cpu')}{threads})")
            elif key == "torch" and "torch" in v:
                n = v.get("threads", "?")
                versions.append(f"PyTorch {v['torch']} (CPU, {n} thread{'' if n == '1' else 's'})")
    py = next((d[0]["versions"].get("python") for d in peers.values() if d[0] and d[0].get("versions")), None)
    if py:
        versions.append(f"Python {py}")
    rc = rustc_version()
    if rc and adjoint_status == "ok":
        versions.append(rc)
    return header, rows, notes, versions


def text_table(header, rows) -> str:
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), sep] + [line(r) for r in rows])


def markdown(header, rows, notes, versions, args) -> str:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cores = os.cpu_count()
    out = [
        "## adjoint against JAX and PyTorch",
        "",
        f"Measured by `{args.command}` on {now}, {cpu_model()}, {cores} cores"
        + (", all three in one run." if read_status(args.results, "adjoint") == "ok"
           else " (adjoint's figures not from this run: see the notes)."),
        "Each figure is the median time per call: criterion's median for adjoint; warm-up, then batches of "
        "calls, median over the batches for the peers (JAX results waited for with `block_until_ready`). "
        "Ratios are peer time / adjoint time: above 1× adjoint is faster. "
        "Workloads as defined in the project's shared workloads.md; the exact inputs and the reference answers "
        "every peer result is checked against are in `benches/peers/` (see its README.md).",
    ]
    if args.quick:
        out += ["", "*Quick run (`--quick`): few repetitions, the figures are rough.*"]
    out += ["", "| " + " | ".join(header) + " |",
            "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    if versions:
        out += ["", "Versions: " + ", ".join(versions) + "."]
    if notes:
        out += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    return "\n".join(out) + "\n"


def write_section(path: str, body: str) -> None:
    """Replace only the text between the markers; create the file if needed."""
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
    else:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        text = f"# Performance\n\n{BEGIN}\n{END}\n"
    b, e = text.find(BEGIN), text.find(END)
    if b < 0 or e < 0 or e < b:
        if b >= 0 or e >= 0:
            raise SystemExit(f"{path}: the markers {BEGIN} / {END} are unbalanced; fix them by hand")
        text = text.rstrip("\n") + f"\n\n{BEGIN}\n{END}\n"
        b, e = text.find(BEGIN), text.find(END)
    new = text[: b + len(BEGIN)] + "\n" + body + text[e:]
    with open(path, "w") as f:
        f.write(new)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--select", default=None, metavar="ONLY",
                    help="print the ids ONLY selects (all if empty) and exit; status 2 if none")
    ap.add_argument("--results")
    ap.add_argument("--repo")
    ap.add_argument("--only", default=None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--fresh-after", default=None, help="epoch seconds: older criterion results are stale")
    ap.add_argument("--markdown", default=None, help="Markdown file whose peers section is replaced")
    ap.add_argument("--command", default="bash benches/peers/run.sh")
    args = ap.parse_args()
    if args.select is not None:
        ids = select(args.select)
        print("\n".join(ids))
        return 0 if ids else 2
    if not args.results or not args.repo:
        ap.error("--results and --repo are required")

    header, rows, notes, versions = build(args)
    print(text_table(header, rows))
    if versions:
        print("\nVersions: " + ", ".join(versions))
    if notes:
        print("\nNotes:")
        for n in notes:
            print(f"  - {n}")
    if args.markdown:
        write_section(args.markdown, markdown(header, rows, notes, versions, args))
        print(f"\nWrote the table into {args.markdown} (between {BEGIN} and {END}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
