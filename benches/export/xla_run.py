"""Runs a StableHLO MLIR module on XLA's CPU backend through JAX.

    python xla_run.py MODULE.mlir OUT_PREFIX IN0.npy IN1.npy ...
    python xla_run.py --jobs FILE

writes OUT_PREFIX0.npy, OUT_PREFIX1.npy, ... (one file per result, full
precision) and OUT_PREFIXtime.txt: the seconds of compile_and_load and of
execute (with the copy of the results to host), one line. With --jobs, FILE holds one job per line, its fields
(MODULE.mlir, OUT_PREFIX, inputs) separated by tabs; a job that fails is
reported on stderr and the others still run (exit 1 at the end). Used by tests/export_e2e.rs when ADJOINT_JAX_PYTHON is set.
x64 is enabled, or f64 inputs would arrive as f32.
"""
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
from jax.extend.backend import get_backend  # noqa: E402


def run_one(backend, module, prefix, inputs):
    with open(module) as f:
        text = f.read()
    devices = backend.local_devices()[:1]
    t0 = time.perf_counter()
    exe = backend.compile_and_load(text, devices)
    t1 = time.perf_counter()
    args = [jax.device_put(np.load(p), devices[0]) for p in inputs]
    t2 = time.perf_counter()
    outs = [np.asarray(o) for o in exe.execute(args)]
    t3 = time.perf_counter()
    for i, o in enumerate(outs):
        np.save(f"{prefix}{i}.npy", o)
    with open(f"{prefix}time.txt", "w") as f:
        f.write(f"{t1 - t0:.6f} {t3 - t2:.6f}\n")


def main(argv):
    backend = get_backend("cpu")
    if len(argv) == 3 and argv[1] == "--jobs":
        status = 0
        with open(argv[2]) as f:
            for line in f:
                fields = line.rstrip("\n").split("\t")
                if len(fields) < 2:
                    continue
                try:
                    run_one(backend, fields[0], fields[1], fields[2:])
                except Exception as e:  # report and go on with the others
                    print(f"{fields[0]}: {e}", file=sys.stderr)
                    status = 1
        return status
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    run_one(backend, argv[1], argv[2], argv[3:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
