"""The workloads on JAX (CPU, float64 enabled, everything under jax.jit).

Every timed call ends in block_until_ready, so JAX's asynchronous dispatch
does not hide work.  Inputs are device arrays made once, before timing.
"""

from __future__ import annotations

import functools
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


def lorenz_rhs(u, theta):
    x, y, z = u[0], u[1], u[2]
    s, r, b = theta[0], theta[1], theta[2]
    return jnp.stack([s * (y - x), x * (r - z) - y, x * y - b * z])


def lorenz_loss(steps):
    dt = 1.0 / steps

    def step(u, _, theta):
        k1 = lorenz_rhs(u, theta)
        k2 = lorenz_rhs(u + 0.5 * dt * k1, theta)
        k3 = lorenz_rhs(u + 0.5 * dt * k2, theta)
        k4 = lorenz_rhs(u + dt * k3, theta)
        return u + (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4), None

    def loss(theta, x0):
        u, _ = jax.lax.scan(lambda u, t: step(u, t, theta), x0, None, length=steps)
        return jnp.sum(u * u)

    return loss


def rnn_loss(wx, wh, b, wo, x, y, checkpoint=False):
    def cell(h, xt):
        return jnp.tanh(xt @ wx + h @ wh + b), None

    if checkpoint:  # recompute the cell's intermediates in the backward pass
        cell = jax.checkpoint(cell)
    h0 = jnp.zeros((x.shape[1], wh.shape[0]), x.dtype)
    h, _ = jax.lax.scan(cell, h0, x)
    return jnp.mean((h @ wo - y) ** 2)


def newton(a):
    """x = cos(a x) by Newton's method from x = 1 until |dx| < 1e-14, at most 50 trips."""

    def cond(s):
        x, dx, k = s
        return (jnp.abs(dx) >= 1e-14) & (k < 50)

    def body(s):
        x, _, k = s
        f = x - jnp.cos(a * x)
        df = 1.0 + a * jnp.sin(a * x)
        dx = f / df
        return x - dx, dx, k + 1

    x, _, _ = jax.lax.while_loop(cond, body, (jnp.asarray(1.0, a.dtype), jnp.asarray(1.0, a.dtype), 0))
    return x


def w11_function():
    """A fresh Python function each time, so jit's caches cannot reuse anything."""

    def f(x):
        x, _ = jax.lax.scan(lambda x, _: (jnp.sin(x) * 1.01 + jnp.cos(x) * 0.5, None), x, None,
                            length=wl.W11_STEPS)
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
    elif wid in (wl.W8_SMALL, wl.W8_LARGE):
        loss = lorenz_loss(wl.W8_STEPS[wid])
        vg = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
        theta, x0 = jnp.asarray(wl.W8_THETA), jnp.asarray(wl.W8_X0)
        yield Case(wid, _ready(vg, theta, x0),
                   lambda r: (np.asarray(r[0]), np.asarray(r[1][0]), np.asarray(r[1][1])),
                   note="jit(value_and_grad) of a lax.scan")
    elif wid == wl.W8_VALUE:
        loss = jax.jit(lorenz_loss(wl.W8_STEPS[wid]))
        yield Case(wid, _ready(loss, jnp.asarray(wl.W8_THETA), jnp.asarray(wl.W8_X0)), _np,
                   note="the forward lax.scan alone")
    elif wid == wl.W9:
        inp = wl.rnn_inputs()
        args = [jnp.asarray(inp[k], jnp.float32) for k in ("wx", "wh", "b", "wo", "x", "y")]
        vg = jax.jit(jax.value_and_grad(rnn_loss, argnums=(0, 1, 2, 3)))
        yield Case(wid, _ready(vg, *args), lambda r: (np.asarray(r[0]), _np(r[1])),
                   note="jit(value_and_grad) of a lax.scan, float32")
    elif wid == wl.W12:
        inp = wl.w12_inputs()
        args = [jnp.asarray(inp[k], jnp.float32) for k in ("wx", "wh", "b", "wo", "x", "y")]
        for variant, ckpt in (("plain", False), ("checkpoint", True)):
            g = jax.jit(jax.grad(functools.partial(rnn_loss, checkpoint=ckpt), argnums=(0, 1, 2, 3)))

            def temporaries(g=g):
                return g.lower(*args).compile().memory_analysis().temp_size_in_bytes

            how = "jax.checkpoint on the cell" if ckpt else "plain"
            yield Case(wid, _ready(g, *args), _np, variant=variant, memory=temporaries,
                       note=f"jit(grad) of a lax.scan, {how}, float32; memory: the compiled program's "
                            "temp_size_in_bytes (XLA memory_analysis)")
    elif wid == wl.W10:
        f = jax.jit(lambda a: jax.jvp(newton, (a,), (jnp.ones_like(a),)))
        yield Case(wid, _ready(f, jnp.asarray(wl.W10_A)), _np, note="jit(jvp) of lax.while_loop")
    elif wid == wl.W11:
        x = jnp.asarray(wl.w7_x())

        def compile_fresh11(x=x):
            return jax.jit(jax.grad(w11_function())).lower(x).compile()

        def run_compiled11(compiled, x=x):
            return np.asarray(compiled(x))

        yield Case(wid, compile_fresh11, run_compiled11, fresh=True,
                   note="jit(grad(f)).lower(x).compile() of a 10,000-step lax.scan")
