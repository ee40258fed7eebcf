"""The workloads on JAX (CPU, float64 enabled, everything under jax.jit).

Every timed call ends in block_until_ready, so JAX's asynchronous dispatch
does not hide work.  Inputs are device arrays made once, before timing.
"""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
THREADS = os.environ.get("PEER_THREADS", "").strip()
if THREADS:  # must reach XLA before jax is imported
    _eigen = "false" if int(THREADS) == 1 else "true"
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + f" --xla_cpu_multi_thread_eigen={_eigen} intra_op_parallelism_threads={int(THREADS)}").strip()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)
try:  # never let a persistent cache shorten W7's compile times
    jax.config.update("jax_enable_compilation_cache", False)
except Exception:  # option absent in this jax version
    pass

import workloads as wl  # noqa: E402
from case import Case  # noqa: E402


def versions() -> dict:
    import jaxlib

    return {"jax": jax.__version__, "jaxlib": jaxlib.__version__, "numpy": np.__version__,
            "backend": jax.default_backend(), "threads": THREADS or "default"}


def _ready(fn, *args):
    """A blocking zero-argument call of fn(*args)."""

    def call():
        return jax.block_until_ready(fn(*args))

    return call


def _np(tree):
    return jax.tree_util.tree_map(np.asarray, tree)


def sigmoid(x):
    return 1.0 / (1.0 + jnp.exp(-x))


def rosenbrock(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def mlp_loss(params, x, labels):
    h = x
    n_layers = len(params) // 2
    for i in range(n_layers):
        h = h @ params[2 * i] + params[2 * i + 1]
        if i + 1 < n_layers:
            h = jnp.tanh(h)
    logp = jax.nn.log_softmax(h, axis=1)
    return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=1))


def chain(weights):
    def f(x):
        h = x
        for w in weights:
            h = jnp.tanh(w @ h)
        return h

    return f


def w7_function():
    """A fresh Python function each time, so jit's caches cannot reuse anything."""

    def f(x):
        for _ in range(wl.W7_STEPS):
            x = jnp.sin(x) * 1.01 + jnp.cos(x) * 0.5
        return jnp.sum(x)

    return f


def cases(wid):
    """The timed cases (or the skip) of one workload id."""
    if wid == wl.W1:
        f = lambda x1, x2: x1 * x2 + jnp.sin(x1)  # noqa: E731
        g = jax.jit(jax.grad(f, argnums=(0, 1)))
        x1, x2 = jnp.asarray(2.0, jnp.float64), jnp.asarray(7.0, jnp.float64)
        yield Case(wid, _ready(g, x1, x2), _np)
    elif wid == wl.W2:
        g = jax.jit(jax.grad(lambda x: sigmoid(sigmoid(sigmoid(x)))))
        yield Case(wid, _ready(g, jnp.asarray(wl.W2_X, jnp.float64)), _np,
                   note="sigmoid from primitives 1/(1+exp(-x))")
    elif wid in wl.W3_SIZES:
        x = jnp.asarray(wl.rosenbrock_x(wl.W3_SIZES[wid]))
        yield Case(wid, _ready(jax.jit(jax.grad(rosenbrock)), x), _np)
    elif wid in wl.W3_VALUE_SIZES:
        x = jnp.asarray(wl.rosenbrock_x(wl.W3_VALUE_SIZES[wid]))
        yield Case(wid, _ready(jax.jit(rosenbrock), x), _np, note="the function alone")
    elif wid == wl.W4_LOSS:
        inp = wl.mlp_inputs()
        params = [jnp.asarray(p) for p in inp["params"]]
        x, labels = jnp.asarray(inp["x"]), jnp.asarray(inp["labels"])
        yield Case(wid, _ready(jax.jit(mlp_loss), params, x, labels), _np, note="the loss alone")
    elif wid == wl.W4:
        inp = wl.mlp_inputs()
        params = [jnp.asarray(p) for p in inp["params"]]
        x, labels = jnp.asarray(inp["x"]), jnp.asarray(inp["labels"])
        step = jax.jit(jax.value_and_grad(mlp_loss))
        yield Case(wid, _ready(step, params, x, labels), lambda r: (np.asarray(r[0]), _np(r[1])),
                   note="jit(value_and_grad)")
    elif wid in wl.W5_CHAINS:
        inp = wl.chain_inputs(wl.W5_CHAINS[wid])
        f = chain([jnp.asarray(w) for w in inp["weights"]])
        x = jnp.asarray(inp["x"])
        yield Case(wid, _ready(jax.jit(jax.jacfwd(f)), x), _np, variant="jacfwd")
        yield Case(wid, _ready(jax.jit(jax.jacrev(f)), x), _np, variant="jacrev")
    elif wid == wl.W6:
        x = jnp.asarray(wl.rosenbrock_x(wl.W6_SIZE))
        v = jnp.ones_like(x)
        hvp = jax.jit(lambda x, v: jax.jvp(jax.grad(rosenbrock), (x,), (v,))[1])
        yield Case(wid, _ready(hvp, x, v), _np, note="forward-over-reverse jvp(grad(f))")
    elif wid == wl.W7:
        x = jnp.asarray(wl.w7_x())

        def compile_fresh(x=x):
            return jax.jit(jax.grad(w7_function())).lower(x).compile()

        def run_compiled(compiled, x=x):
            return np.asarray(compiled(x))

        yield Case(wid, compile_fresh, run_compiled, fresh=True,
                   note="jit(grad(f)).lower(x).compile(), a fresh function each time")
