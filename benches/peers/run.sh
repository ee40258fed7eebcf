#!/usr/bin/env bash
# Side-by-side comparison of adjoint with JAX (jit) and PyTorch (eager) on the
# workloads of shared/workloads.md, in one run on this machine.
#
#   bash benches/peers/run.sh [--skip-install] [--only W1,W3] [--no-adjoint]
#                             [--reuse-adjoint] [--quick] [--no-markdown]
#
#   --skip-install   use benches/peers/.venv as it is (no pip)
#   --only LIST      comma-separated workload prefixes: W1,W3 or W5_jacobian_diamond
#   --no-adjoint     do not run adjoint's criterion benchmarks
#   --reuse-adjoint  do not run them, but read the criterion results already on disk
#   --quick          fewer repetitions everywhere (rough figures, fast)
#   --no-markdown    print the table only; leave docs/performance.md alone
#
# Environment: NICE (default 10; 0 on a quiet machine), PEER_THREADS (the
# peers' intra-op threads; default: theirs, all cores; 1 helps on a loaded
# machine), ADJOINT_BENCHES (default "workloads jacobian"), PEERS_VENV (default
# benches/peers/.venv), PEERS_RESULTS (default benches/peers/results).
#
# Steps: (1) a virtual environment benches/peers/.venv with the machine's
# python3, and the peers installed into it from PyPI with pip, pinned by
# benches/peers/requirements.txt; (2) one process per peer runs and checks
# every workload (benches/peers/peers.py); (3) `cargo bench --bench workloads`
# and `--bench jacobian` (W5) for adjoint, read back from criterion's
# estimates.json; (4) the table,
# printed and written into docs/performance.md between
# <!-- peers:begin --> and <!-- peers:end -->.
#
# A peer that cannot be installed or run is reported as such; the others and
# adjoint's side are still measured.  Exit status is 0 when the table was
# produced.
set -u

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
VENV="${PEERS_VENV:-$HERE/.venv}"
RESULTS="${PEERS_RESULTS:-$HERE/results}"
REQS="$HERE/requirements.txt"

SKIP_INSTALL=0
ONLY=""
ADJOINT=run
QUICK=0
MARKDOWN=1
ARGS="$*"

usage() { sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --skip-install) SKIP_INSTALL=1 ;;
        --only) shift; ONLY="${1:-}"; [ -n "$ONLY" ] || { echo "--only needs a list, e.g. --only W1,W3" >&2; exit 2; } ;;
        --only=*) ONLY="${1#--only=}" ;;
        --no-adjoint) ADJOINT=skip ;;
        --reuse-adjoint) ADJOINT=reuse ;;
        --quick) QUICK=1 ;;
        --no-markdown) MARKDOWN=0 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

say() { printf '\n== %s\n' "$*"; }

if [ -n "$ONLY" ] && command -v python3 >/dev/null 2>&1 && ! python3 "$HERE/table.py" --select "$ONLY" >/dev/null; then
    echo "--only $ONLY selects no workload; ids:" >&2
    python3 "$HERE/table.py" --select "" >&2
    exit 2
fi
START_EPOCH="$(date +%s)"

mkdir -p "$RESULTS"
rm -f "$RESULTS"/*.json "$RESULTS"/*.json.tmp "$RESULTS"/*.status "$RESULTS"/*.install "$RESULTS"/*.missing "$RESULTS"/*.log "$RESULTS"/loadavg.*
cut -d' ' -f1 /proc/loadavg > "$RESULTS/loadavg.start" 2>/dev/null || true
# Heavy steps run at this niceness so that they yield to other work on the
# machine; NICE=0 for a quiet machine's final figures.
NICE="${NICE:-10}"

# --- 1. virtual environment and peers ---------------------------------------
PY=""
if ! command -v python3 >/dev/null 2>&1; then
    say "python3 not found: no peer can run (adjoint's side is still measured)"
    for p in jax torch; do echo "not installed: python3 is not on this machine" > "$RESULTS/$p.status"; done
else
    if [ ! -x "$VENV/bin/python" ]; then
        if [ "$SKIP_INSTALL" = 1 ]; then
            say "--skip-install given but $VENV does not exist: creating it anyway"
        fi
        say "creating the virtual environment $VENV"
        if ! python3 -m venv "$VENV"; then
            why="python3 -m venv $VENV failed (on Debian or Ubuntu: apt-get install python3-venv)"
            echo "$why" >&2
            for p in jax torch; do echo "not installed: $why" > "$RESULTS/$p.status"; done
        fi
        SKIP_INSTALL=0
    fi
    if [ -x "$VENV/bin/python" ]; then
        PY="$VENV/bin/python"
    fi
fi

# install_peer NAME PIP-ARGS...: pip-install one peer at the pinned versions;
# if the pins cannot be met (another Python, another platform), try the
# latest release instead and say so; record why not on failure.
install_peer() {
    local name="$1"; shift
    local log="$RESULTS/install-$name.log"
    say "installing $name into $VENV: pip install $* (pinned by requirements.txt)"
    if nice -n "$NICE" "$PY" -m pip install --disable-pip-version-check --progress-bar off \
            -c "$REQS" "$@" >"$log" 2>&1; then
        echo "   done ($(grep -c . "$log") lines of pip output in $log)"
        return 0
    fi
    local why
    why="$(grep -E '^(ERROR|error):' "$log" | head -n 3 | tr '\n' ' ')"
    [ -n "$why" ] || why="$(tail -n 3 "$log" | tr '\n' ' ')"
    echo "   the pinned versions do not install here: $why" >&2
    echo "   retrying without the pins: pip install $*" >&2
    if nice -n "$NICE" "$PY" -m pip install --disable-pip-version-check --progress-bar off \
            "$@" >>"$log" 2>&1; then
        echo "installed without the pins of requirements.txt (they failed: $why); versions differ from the recorded ones" > "$RESULTS/$name.install"
        echo "   done, unpinned (log: $log)"
        return 0
    fi
    why="$(grep -E '^(ERROR|error):' "$log" | tail -n 3 | tr '\n' ' ')"
    [ -n "$why" ] || why="$(tail -n 3 "$log" | tr '\n' ' ')"
    echo "not installed: pip install $* failed: $why (full log: $log)" > "$RESULTS/$name.status"
    echo "   could not install $name: $why" >&2
    echo "   carrying on without it; full pip log in $log" >&2
    return 1
}

# The PyPI torch wheel for Linux x86_64 is the CUDA build: PyPI has no
# CPU-only torch for this platform, and that wheel does not import without
# the nvidia-* runtime wheels it depends on (tried with --no-deps: "ValueError:
# libcublasLt.so.*[0-9] not found").  So torch comes with its CUDA libraries
# (about 4.5 GB on disk); they are loaded but unused, every workload runs on
# the CPU.
if [ -n "$PY" ] && [ "$SKIP_INSTALL" = 0 ]; then
    install_peer jax "jax[cpu]" || true
    install_peer torch torch || true
fi

# check_peer NAME MODULE: is the peer importable? (also after --skip-install)
check_peer() {
    local name="$1" module="$2"
    [ -f "$RESULTS/$name.status" ] && return 1
    if [ -z "$PY" ]; then
        echo "not installed: no virtual environment at $VENV" > "$RESULTS/$name.status"
        return 1
    fi
    local err
    if ! err="$("$PY" -c "import $module" 2>&1)"; then
        echo "not installed: 'import $module' fails in $VENV: $(echo "$err" | tail -n 1)" > "$RESULTS/$name.status"
        echo "   $name is not usable: $(echo "$err" | tail -n 1)" >&2
        return 1
    fi
    return 0
}

# --- 2. the peers, one process each ----------------------------------------
PEER_ARGS=()
[ -n "$ONLY" ] && PEER_ARGS+=(--only "$ONLY")
[ "$QUICK" = 1 ] && PEER_ARGS+=(--quick)
for spec in jax:jax torch:torch; do
    name="${spec%%:*}"; module="${spec#*:}"
    if check_peer "$name" "$module"; then
        say "running the workloads on $name"
        if (cd "$HERE" && nice -n "$NICE" "$PY" peers.py "$name" --out "$RESULTS/$name.json" "${PEER_ARGS[@]}"); then
            echo ok > "$RESULTS/$name.status"
        else
            rc=$?
            if [ -f "$RESULTS/$name.json" ]; then
                echo "stopped with exit status $rc; the figures it wrote before that are shown" > "$RESULTS/$name.status"
            else
                rm -f "$RESULTS/$name.json"
                echo "crashed (exit $rc) before writing results" > "$RESULTS/$name.status"
            fi
        fi
    else
        say "$name: $(cat "$RESULTS/$name.status")"
    fi
done

# --- 3. adjoint's criterion benchmarks ---------------------------------------
# Criterion bench targets that hold the workload ids: "workloads" (W1-W4,
# W6, W7) and "jacobian" (the W5 chains).  ADJOINT_BENCHES overrides the list.
BENCHES="${ADJOINT_BENCHES:-workloads jacobian}"

bench_targets() {
    # The bench targets of the workspace, one a line.
    (cd "$REPO" && cargo metadata --format-version 1 --no-deps 2>/dev/null) | python3 -c '
import json, sys
try:
    meta = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
for p in meta["packages"]:
    for t in p["targets"]:
        if "bench" in t["kind"]:
            print(t["name"])'
}

case "$ADJOINT" in
    skip) echo "not run (--no-adjoint)" > "$RESULTS/adjoint.status" ;;
    reuse) echo "reused: criterion results already on disk" > "$RESULTS/adjoint.status" ;;
    run)
        if ! command -v cargo >/dev/null 2>&1; then
            echo "not run: cargo is not on PATH" > "$RESULTS/adjoint.status"
            say "cargo not found: adjoint's side is not measured"
        else
            AVAILABLE="$(bench_targets)"
            FOUND=(); MISSING=()
            for b in $BENCHES; do
                if printf '%s\n' "$AVAILABLE" | grep -qx "$b"; then FOUND+=("$b"); else MISSING+=("$b"); fi
            done
            FILTER=""
            if [ -n "$ONLY" ]; then
                # criterion filters by regex on its full ids (group/function/value).
                FILTER="(^|/)($(echo "$ONLY" | sed 's/,/|/g; s/_/[_\/]/g'))([_/]|$)"
            fi
            # No plots: they are not read, and criterion's plotters backend
            # fails (FontUnavailable) when the workspace enables plotters'
            # ab_glyph feature (the examples' labelled plots).
            CRIT_ARGS=(--noplot)
            [ "$QUICK" = 1 ] && CRIT_ARGS+=(--quick)
            [ -n "$FILTER" ] && CRIT_ARGS+=("$FILTER")
            FAILED=()
            for b in "${FOUND[@]}"; do
                say "running adjoint: cargo bench --bench $b -- ${CRIT_ARGS[*]:-}"
                if ! (cd "$REPO" && nice -n "$NICE" cargo bench --bench "$b" -- "${CRIT_ARGS[@]}" 2>&1 \
                        | tee "$RESULTS/adjoint-$b.log"; exit "${PIPESTATUS[0]}"); then
                    FAILED+=("$b")
                fi
            done
            if [ "${#FOUND[@]}" = 0 ]; then
                echo "not run: the repository has no criterion bench target named $(echo "$BENCHES" | sed 's/ / or /g') yet (benches/workloads.rs with [[bench]] name = \"workloads\", harness = false)" > "$RESULTS/adjoint.status"
                say "adjoint: no bench target named $BENCHES in this checkout; adjoint's column stays empty"
            elif [ "${#FAILED[@]}" -gt 0 ]; then
                # Still read whatever they managed to write in this run.
                echo "partial: cargo bench --bench ${FAILED[*]} failed (logs: $RESULTS/adjoint-*.log); only the benchmarks that finished are shown" > "$RESULTS/adjoint.status"
            else
                echo ok > "$RESULTS/adjoint.status"
            fi
            if [ "${#MISSING[@]}" -gt 0 ] && [ "${#FOUND[@]}" -gt 0 ]; then
                echo "bench target(s) ${MISSING[*]} not in this checkout: their workloads have no adjoint figure" > "$RESULTS/adjoint.missing"
            fi
        fi
        ;;
esac

# --- 4. the table ---------------------------------------------------------------
TABLE_ARGS=(--results "$RESULTS" --repo "$REPO" --fresh-after "$START_EPOCH"
            --command "bash benches/peers/run.sh${ARGS:+ $ARGS}")
[ -n "$ONLY" ] && TABLE_ARGS+=(--only "$ONLY")
[ "$QUICK" = 1 ] && TABLE_ARGS+=(--quick)
[ "$MARKDOWN" = 1 ] && TABLE_ARGS+=(--markdown "$REPO/docs/performance.md")
say "results"
TABLE_PY="${PY:-python3}"
command -v "$TABLE_PY" >/dev/null 2>&1 || TABLE_PY=python3
"$TABLE_PY" "$HERE/table.py" "${TABLE_ARGS[@]}"
