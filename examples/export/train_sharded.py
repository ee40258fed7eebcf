"""Scale out: the W4 training step, exported by adjoint, run data-parallel
on 4 XLA devices through JAX, and checked against `adjoint run`.

    XLA_FLAGS=--xla_force_host_platform_device_count=4 \\
        python examples/export/train_sharded.py [--adjoint BIN] [--steps N]

1. `adjoint export` writes the StableHLO of `@shard_step` of
   examples/export/w4_mlp.adj (W4: MLP 784-256-256-10, f32) after
   `grad{wrt=w1,b1,w2,b2,w3,b3},simplify,cse,dce`: one device's share of the
   batch (32 rows) in, the mean loss and the gradients of all six
   parameters out.
2. The module is loaded into JAX as a `jax.export.Exported` and called
   inside `jax.shard_map` over a 4-device `Mesh`: the batch of 128 is
   sharded over the devices (32 rows each), the parameters are replicated,
   each device runs the exported step on its rows, and `lax.pmean` (an XLA
   all-reduce) averages the losses and gradients. One jitted SPMD program.
3. `adjoint run` computes `@step`, the same program on the whole batch of
   128, with the same inputs. Since the loss is a mean over the batch, the
   mean of the 4 shard gradients is the full-batch gradient; the script
   prints the largest relative error per output and exits 1 if any exceeds
   1e-5 (f32: the engines sum in another order and contract to FMA; the
   error of an element is |a - b| / max(|a|, |b|, max|output|)).
4. With --steps N (default 3) it then trains N plain SGD steps on the 4
   devices with the exported step, printing the loss.

The `adjoint` binary: --adjoint BIN, else $ADJOINT_BIN, else
`cargo run --release -p adjoint-cli --` from the repository root. The
4 host devices: XLA_FLAGS is set here if it does not already ask for them.
Needs jax 0.10.2 (benches/export/setup.sh with ADJOINT_WITH_JAX=1).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

DEVICES = 4
FLAG = f"--xla_force_host_platform_device_count={DEVICES}"
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + FLAG).strip()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import NamedSharding, PartitionSpec as P  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "examples/export/w4_mlp.adj"
PARAMS = ["w1", "b1", "w2", "b2", "w3", "b3"]
PASSES = "grad{wrt=" + ",".join(PARAMS) + "},simplify,cse,dce"
BATCH = 128
TOL = 1e-5


def adjoint_cmd(arg):
    if arg:
        return [arg]
    if os.environ.get("ADJOINT_BIN"):
        return [os.environ["ADJOINT_BIN"]]
    return ["cargo", "run", "--quiet", "--release", "-p", "adjoint-cli", "--"]


def run(cmd):
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd[:4])} ... failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def w4_inputs():
    """The deterministic W4 inputs of `adjoint::workloads::mlp_inputs`, except
    that the biases are small and non-zero, so that their gradients are
    exercised through the forward pass too."""
    n = np.arange(BATCH * 784, dtype=np.float64)
    x = ((n * 37 % 101) / 50.0 - 1.0).reshape(BATCH, 784)
    labels = np.zeros((BATCH, 10))
    labels[np.arange(BATCH), np.arange(BATCH) % 10] = 1.0
    out = {"x": x, "labels": labels}
    for name, (fan_in, fan_out) in {"w1": (784, 256), "w2": (256, 256), "w3": (256, 10)}.items():
        i = np.arange(fan_in * fan_out, dtype=np.float64)
        out[name] = (np.sin(i * 7 + 3) / np.sqrt(fan_in)).reshape(fan_in, fan_out)
        b = "b" + name[1:]
        out[b] = 0.1 * np.cos(np.arange(fan_out, dtype=np.float64) + int(name[1]))
    return {k: v.astype(np.float32) for k, v in out.items()}


def exported_from_mlir(text, in_avals, out_avals):
    """A `jax.export.Exported` around a StableHLO module that JAX did not
    write. JAX 0.10.2 has no public constructor for this; the fields below
    are those `jax.export.export` fills for a single-platform (cpu),
    single-device module without effects, shape polymorphism or
    shardings. `Exported.call` then inlines the module into any jitted or
    shard_mapped JAX program."""
    from jax._src.export import _export
    from jax._src.interpreters import mlir

    with mlir.make_ir_context():
        module = mlir.ir.Module.parse(text)
        serialized = _export._module_to_bytecode(module)
    leaves = lambda n: jax.tree_util.tree_structure(((0,) * n, {}))  # noqa: E731
    return jax.export.Exported(
        fun_name="adjoint_w4_shard_step",
        in_tree=leaves(len(in_avals)),
        in_avals=tuple(in_avals),
        out_tree=jax.tree_util.tree_structure((0,) * len(out_avals)),
        out_avals=tuple(out_avals),
        _has_named_shardings=False,
        _in_named_shardings=(None,) * len(in_avals),
        _out_named_shardings=(None,) * len(out_avals),
        in_shardings_hlo=(None,) * len(in_avals),
        out_shardings_hlo=(None,) * len(out_avals),
        nr_devices=1,
        platforms=("cpu",),
        ordered_effects=(),
        unordered_effects=(),
        disabled_safety_checks=(),
        mlir_module_serialized=serialized,
        calling_convention_version=10,
        module_kept_var_idx=tuple(range(len(in_avals))),
        uses_global_constants=False,
        _get_vjp=None,
    )


def rel_error(want, got):
    want = np.asarray(want, np.float64)
    got = np.asarray(got, np.float64)
    if want.shape != got.shape:
        return np.inf
    if not (np.all(np.isfinite(want)) and np.all(np.isfinite(got))):
        return np.inf
    floor = np.max(np.abs(want)) if want.size else 0.0
    den = np.maximum(np.maximum(np.abs(want), np.abs(got)), floor)
    d = np.abs(want - got)
    return float(np.max(np.where(d == 0, 0.0, d / np.where(den == 0, 1.0, den))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--adjoint", help="the adjoint binary (default: $ADJOINT_BIN or cargo run)")
    ap.add_argument("--steps", type=int, default=3, help="SGD steps to train after the check")
    args = ap.parse_args()
    adjoint = adjoint_cmd(args.adjoint)

    devices = jax.devices("cpu")
    if len(devices) < DEVICES:
        sys.exit(f"need {DEVICES} devices, JAX sees {len(devices)} (XLA_FLAGS={FLAG})")
    mesh = jax.make_mesh((DEVICES,), ("batch",), devices=devices[:DEVICES])
    shard = BATCH // DEVICES
    inputs = w4_inputs()
    names = ["x", "labels"] + PARAMS

    with tempfile.TemporaryDirectory(prefix="adjoint-sharded-") as tmp:
        tmp = Path(tmp)
        # 1. Export the per-device step.
        mlir_path = tmp / "shard_step.mlir"
        run(adjoint + ["export", str(PROGRAM), "--func", "shard_step",
                       "--passes", PASSES, "-o", str(mlir_path)])
        text = mlir_path.read_text()
        # 3. The reference: adjoint run on the whole batch, same inputs.
        arg_flags = []
        for k in names:
            p = tmp / f"{k}.json"
            p.write_text(json.dumps(inputs[k].ravel().tolist()))
            arg_flags.append(f"--arg={k}=@{p}")
        ref = json.loads(run(adjoint + ["run", str(PROGRAM), "--func", "step",
                                        "--passes", PASSES, "--engine", "interp"] + arg_flags))
        want = [np.array([float(v) for v in o["data"]]).reshape(o["shape"]) for o in ref["outputs"]]

    # 2. The exported step inside one SPMD program over the mesh.
    f32 = jnp.float32
    in_avals = [jax.core.ShapedArray((shard,) + inputs[k].shape[1:] if k in ("x", "labels")
                                     else inputs[k].shape, f32) for k in names]
    out_avals = [jax.core.ShapedArray((), f32)] + [jax.core.ShapedArray(inputs[k].shape, f32)
                                                  for k in PARAMS]
    exp = exported_from_mlir(text, in_avals, out_avals)

    def per_device(x, labels, *params):
        loss, *grads = exp.call(x, labels, *params)
        return jax.lax.pmean(loss, "batch"), [jax.lax.pmean(g, "batch") for g in grads]

    step = jax.jit(jax.shard_map(per_device, mesh=mesh,
                                 in_specs=(P("batch"), P("batch")) + (P(),) * len(PARAMS),
                                 out_specs=(P(), [P()] * len(PARAMS))))
    batch_sharding = NamedSharding(mesh, P("batch"))
    replicated = NamedSharding(mesh, P())
    data = [jax.device_put(inputs[k], batch_sharding) for k in ("x", "labels")]
    params = [jax.device_put(inputs[k], replicated) for k in PARAMS]
    hlo = step.lower(*data, *params).compile().as_text()
    rows = sorted({len(s.data) for s in data[0].addressable_shards})
    print(f"JAX {jax.__version__}: W4 step exported by adjoint, batch {BATCH} sharded over "
          f"{DEVICES} devices ({rows[0]} rows each), gradients averaged with an all-reduce: "
          f"{'yes' if 'all-reduce' in hlo else 'NO'}")
    if "all-reduce" not in hlo or rows != [shard]:
        sys.exit("FAIL: the compiled program is not the sharded data-parallel step")
    loss, grads = step(*data, *params)
    got = [loss] + list(grads)

    worst = 0.0
    for name, w, g in zip(["loss"] + [p + "_grad" for p in PARAMS], want, got):
        err = rel_error(w, g)
        worst = max(worst, err)
        print(f"  {name:8} {str(tuple(w.shape)):12} max relative error {err:.2e}")
    if not worst <= TOL:
        print(f"FAIL: the sharded gradients disagree with adjoint run: max relative error "
              f"{worst:.2e} > {TOL:.0e}")
        return 1
    print(f"OK: the sharded gradients agree with adjoint run on the full batch: "
          f"max relative error {worst:.2e} <= {TOL:.0e} (f32)")

    # 4. Train: plain SGD on the 4 devices with the exported step.
    lr = 0.5
    update = jax.jit(lambda ps, gs: [p - lr * g for p, g in zip(ps, gs)])
    for i in range(args.steps):
        params = update(params, grads)
        loss, grads = step(*data, *params)
        print(f"  SGD step {i + 1}: loss {float(loss):.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
