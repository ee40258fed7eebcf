"""Runs a StableHLO MLIR module on XLA's CPU backend through JAX.

    python xla_run.py MODULE.mlir OUT_PREFIX IN0.npy IN1.npy ...

writes OUT_PREFIX0.npy, OUT_PREFIX1.npy, ... (one file per result, full
precision). Used by tests/export_e2e.rs when ADJOINT_JAX_PYTHON is set.
x64 is enabled, or f64 inputs would arrive as f32.
"""
import sys

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
from jax.extend.backend import get_backend  # noqa: E402


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    module, prefix, inputs = argv[1], argv[2], argv[3:]
    with open(module) as f:
        text = f.read()
    backend = get_backend("cpu")
    devices = backend.local_devices()[:1]
    exe = backend.compile_and_load(text, devices)
    args = [jax.device_put(np.load(p), devices[0]) for p in inputs]
    outs = exe.execute(args)
    for i, o in enumerate(outs):
        np.save(f"{prefix}{i}.npy", np.asarray(o))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
