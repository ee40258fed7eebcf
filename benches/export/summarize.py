"""Per-engine figures of the StableHLO end-to-end suite (tests/export_e2e.rs):

    ADJOINT_IREE_BIN=... ADJOINT_JAX_PYTHON=... \\
        cargo test --test export_e2e -- --nocapture --test-threads=1 2>&1 \\
        | python3 benches/export/summarize.py

reads the suite's agreement lines and prints, per engine (IREE, XLA), the
number of programs, the worst relative error against the interpreter for
f64 and for f32 outputs, and the medians of the export, compile and run
wall times. Standard library only.
"""
import re
import statistics
import sys

EXPORTED = re.compile(r"^export_e2e (\S+): exported in ([0-9.eE+-]+)s$")
AGREES = re.compile(
    r"^export_e2e (\S+): (IREE|XLA) agrees, worst relative error f64 (\S+) f32 (\S+) "
    r"\(compile ([0-9.eE+-]+)s, run ([0-9.eE+-]+)s\)$"
)


def main(lines):
    export = {}
    engines = {}
    for line in lines:
        # libtest may print "test NAME ... " in front of a test's first line.
        line = line.strip()
        at = line.find("export_e2e ")
        if at < 0:
            continue
        line = line[at:]
        m = EXPORTED.match(line)
        if m:
            export[m.group(1)] = float(m.group(2))
            continue
        m = AGREES.match(line)
        if m:
            name, eng, e64, e32, c, r = m.groups()
            e = engines.setdefault(eng, {"names": [], "f64": [], "f32": [], "compile": [], "run": []})
            e["names"].append(name)
            if e64 != "-":
                e["f64"].append((float(e64), name))
            if e32 != "-":
                e["f32"].append((float(e32), name))
            e["compile"].append(float(c))
            e["run"].append(float(r))
    if not engines:
        print("no agreement lines found (run the suite with --nocapture)", file=sys.stderr)
        return 1
    med = lambda v: statistics.median(v) if v else float("nan")  # noqa: E731

    def secs(v):
        return f"{v * 1e3:.0f} ms" if v >= 0.01 else f"{v * 1e6:.0f} µs"

    def worst(v):
        if not v:
            return "-"
        err, name = max(v)
        return f"{err:.1e} ({name})"
    print("| engine | programs | worst f64 | worst f32 | export (median) | compile (median) | run (median) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for eng in sorted(engines):
        e = engines[eng]
        ex = [export[n] for n in e["names"] if n in export]
        print(
            f"| {eng} | {len(e['names'])} | {worst(e['f64'])} | {worst(e['f32'])} "
            f"| {secs(med(ex))} | {secs(med(e['compile']))} | {secs(med(e['run']))} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.stdin))
