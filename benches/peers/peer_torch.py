"""The workloads on PyTorch, eager mode (no torch.compile), CPU, float64 where asked.

Gradients come from torch.autograd.grad on a freshly recorded graph each call
(forward and backward are both timed, as JAX's jit(grad) does both).  Jacobians
and the Hessian-vector product use torch.func (eager function transforms, the
counterpart of jax.jacfwd / jax.jacrev / jvp(grad)).  W7 measures a compiler
and eager PyTorch compiles nothing, so it is skipped with that reason.
"""

from __future__ import annotations

import os
import warnings

warnings.filterwarnings("ignore", category=FutureWarning)  # torch.func's internal torch.jit notices

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import workloads as wl  # noqa: E402
from case import Case, Skip  # noqa: E402

torch.set_grad_enabled(True)
if os.environ.get("PEER_THREADS", "").strip():
    torch.set_num_threads(int(os.environ["PEER_THREADS"]))


def versions() -> dict:
    return {"torch": torch.__version__, "numpy": np.__version__,
            "threads": str(torch.get_num_threads())}


def _np(value):
    if isinstance(value, (tuple, list)):
        return type(value)(_np(v) for v in value)
    return value.detach().cpu().numpy()


def _leaf(a: np.ndarray | float) -> torch.Tensor:
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=True)


def sigmoid(x):
    return 1.0 / (1.0 + torch.exp(-x))


def rosenbrock(x):
    return torch.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def lorenz_loss(theta, x0, steps):
    dt = 1.0 / steps

    def rhs(u):
        x, y, z = u[0], u[1], u[2]
        return torch.stack([theta[0] * (y - x), x * (theta[1] - z) - y, x * y - theta[2] * z])

    u = x0
    for _ in range(steps):
        k1 = rhs(u)
        k2 = rhs(u + 0.5 * dt * k1)
        k3 = rhs(u + 0.5 * dt * k2)
        k4 = rhs(u + dt * k3)
        u = u + (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return torch.sum(u * u)


def mlp_loss(params, x, labels):
    h = x
    n_layers = len(params) // 2
    for i in range(n_layers):
        h = h @ params[2 * i] + params[2 * i + 1]
        if i + 1 < n_layers:
            h = torch.tanh(h)
    return F.cross_entropy(h, labels)  # mean over the batch


def chain(weights):
    def f(x):
        h = x
        for w in weights:
            h = torch.tanh(w @ h)
        return h

    return f


class SavedBytes:
    """Bytes that autograd keeps for the backward pass, counted per storage.

    A saved-tensor hook (`torch.autograd.graph.saved_tensors_hooks`) sees
    every tensor an op saves; each distinct storage is counted once, and
    storages of the program's inputs (weights, the sequence; also views of
    them such as x[t]) are not counted.  `torch.utils.checkpoint` installs
    its own hooks inside the checkpointed cell (they store nothing and
    recompute), and keeps the cell's inputs alive itself: those are added with
    `hold`, under the same rules.
    """

    def __init__(self, inputs):
        self.skip = {t.untyped_storage().data_ptr() for t in inputs}
        self.seen: dict[int, int] = {}

    def hold(self, t: torch.Tensor) -> torch.Tensor:
        st = t.untyped_storage()
        if st.data_ptr() not in self.skip:
            self.seen[st.data_ptr()] = st.nbytes()
        return t

    def total(self) -> int:
        return sum(self.seen.values())


def rnn_long_loss(ws, x, y, ckpt: bool, meter: SavedBytes | None = None):
    """W12: the W9 cell over the sequence, optionally checkpointed per step."""
    wx, wh, b, wo = ws

    def cell(h, xt, wx, wh, b):
        return torch.tanh(xt @ wx + h @ wh + b)

    h = torch.zeros(x.shape[1], wh.shape[0])
    for t in range(x.shape[0]):
        if ckpt:
            if meter is not None:
                meter.hold(h)
            h = torch.utils.checkpoint.checkpoint(cell, h, x[t], wx, wh, b, use_reentrant=False)
        else:
            h = cell(h, x[t], wx, wh, b)
    return torch.mean((h @ wo - y) ** 2)


def cases(wid):
    """The timed cases (or the skip) of one workload id."""
    if wid == wl.W1:
        x1, x2 = _leaf(2.0), _leaf(7.0)

        def w1(x1=x1, x2=x2):
            y = x1 * x2 + torch.sin(x1)
            return torch.autograd.grad(y, (x1, x2))

        yield Case(wid, w1, _np)
    elif wid == wl.W2:
        x = _leaf(wl.W2_X)

        def w2(x=x):
            (g,) = torch.autograd.grad(sigmoid(sigmoid(sigmoid(x))), x)
            return g

        yield Case(wid, w2, _np, note="sigmoid from primitives 1/(1+exp(-x))")
    elif wid in wl.W3_SIZES:
        x = _leaf(wl.rosenbrock_x(wl.W3_SIZES[wid]))

        def w3(x=x):
            (g,) = torch.autograd.grad(rosenbrock(x), x)
            return g

        yield Case(wid, w3, _np)
    elif wid in wl.W3_VALUE_SIZES:
        x = torch.tensor(wl.rosenbrock_x(wl.W3_VALUE_SIZES[wid]))

        def w3v(x=x):
            with torch.no_grad():
                return rosenbrock(x)

        yield Case(wid, w3v, _np, note="the function alone, under no_grad")
    elif wid == wl.W4_LOSS:
        inp = wl.mlp_inputs()
        params = [torch.tensor(p) for p in inp["params"]]
        x = torch.tensor(inp["x"])
        labels = torch.tensor(inp["labels"], dtype=torch.long)

        def w4l(params=params, x=x, labels=labels):
            with torch.no_grad():
                return mlp_loss(params, x, labels)

        yield Case(wid, w4l, _np, note="the loss alone, under no_grad")
    elif wid == wl.W4:
        inp = wl.mlp_inputs()
        params = [torch.tensor(p, requires_grad=True) for p in inp["params"]]
        x = torch.tensor(inp["x"])
        labels = torch.tensor(inp["labels"], dtype=torch.long)

        def w4(params=params, x=x, labels=labels):
            loss = mlp_loss(params, x, labels)
            grads = torch.autograd.grad(loss, params)
            return loss, grads

        yield Case(wid, w4, lambda r: (_np(r[0]), _np(r[1])), note="autograd.grad of F.cross_entropy")
    elif wid in wl.W5_CHAINS:
        inp = wl.chain_inputs(wl.W5_CHAINS[wid])
        f = chain([torch.tensor(w) for w in inp["weights"]])
        x = torch.tensor(inp["x"])
        jf, jr = torch.func.jacfwd(f), torch.func.jacrev(f)
        yield Case(wid, lambda jf=jf, x=x: jf(x), _np, variant="jacfwd", note="torch.func.jacfwd (eager)")
        yield Case(wid, lambda jr=jr, x=x: jr(x), _np, variant="jacrev", note="torch.func.jacrev (eager)")
    elif wid == wl.W6:
        x = torch.tensor(wl.rosenbrock_x(wl.W6_SIZE))
        v = torch.ones_like(x)
        grad_f = torch.func.grad(rosenbrock)

        def w6(x=x, v=v):
            return torch.func.jvp(grad_f, (x,), (v,))[1]

        yield Case(wid, w6, _np, note="forward-over-reverse torch.func.jvp(grad(f)) (eager)")
    elif wid == wl.W8_SMALL:
        steps = wl.W8_STEPS[wid]
        theta = _leaf(np.array(wl.W8_THETA))
        x0 = _leaf(np.array(wl.W8_X0))

        def w8(theta=theta, x0=x0, steps=steps):
            loss = lorenz_loss(theta, x0, steps)
            g = torch.autograd.grad(loss, (theta, x0))
            return loss, g[0], g[1]

        yield Case(wid, w8, lambda r: tuple(_np(v) for v in r), note="a Python loop of RK4 steps, eager autograd")
    elif wid == wl.W8_VALUE:
        theta = torch.tensor(wl.W8_THETA, dtype=torch.float64)
        x0 = torch.tensor(wl.W8_X0, dtype=torch.float64)

        def w8v(theta=theta, x0=x0):
            with torch.no_grad():
                return lorenz_loss(theta, x0, wl.W8_STEPS[wl.W8_VALUE])

        yield Case(wid, w8v, _np, note="the forward loop alone, under no_grad")
    elif wid == wl.W8_LARGE:
        yield Skip(wid, "eager Python loop: about 100x the T=1000 time (minutes per call); "
                        "the T=1000 row measures the same per-step cost")
    elif wid == wl.W9:
        inp = wl.rnn_inputs()
        ws = [torch.tensor(inp[k], dtype=torch.float32, requires_grad=True) for k in ("wx", "wh", "b", "wo")]
        x, y = torch.tensor(inp["x"], dtype=torch.float32), torch.tensor(inp["y"], dtype=torch.float32)

        def w9(ws=ws, x=x, y=y):
            wx, wh, b, wo = ws
            h = torch.zeros(x.shape[1], wh.shape[0])
            for t in range(x.shape[0]):
                h = torch.tanh(x[t] @ wx + h @ wh + b)
            loss = torch.mean((h @ wo - y) ** 2)
            return loss, torch.autograd.grad(loss, ws)

        yield Case(wid, w9, lambda r: (_np(r[0]), _np(r[1])), note="a Python loop over time steps, eager autograd")
    elif wid == wl.W12:
        inp = wl.w12_inputs()
        ws = [torch.tensor(inp[k], dtype=torch.float32, requires_grad=True) for k in ("wx", "wh", "b", "wo")]
        x, y = torch.tensor(inp["x"], dtype=torch.float32), torch.tensor(inp["y"], dtype=torch.float32)
        for variant, ckpt in (("plain", False), ("checkpoint", True)):
            def w12(ckpt=ckpt):
                return torch.autograd.grad(rnn_long_loss(ws, x, y, ckpt), ws)

            def saved(ckpt=ckpt):
                meter = SavedBytes([*ws, x, y])
                with torch.autograd.graph.saved_tensors_hooks(meter.hold, lambda t: t):
                    loss = rnn_long_loss(ws, x, y, ckpt, meter)
                del loss
                return meter.total()

            how = "torch.utils.checkpoint (non-reentrant) on the cell" if ckpt else "plain"
            yield Case(wid, w12, _np, variant=variant, memory=saved,
                       note=f"a Python loop over the time steps, eager autograd, {how}; memory: the bytes "
                            "autograd saves for backward (saved-tensor hook, distinct storages, inputs "
                            "excluded; with checkpoint, the cell inputs it keeps)")
    elif wid == wl.W10:
        yield Skip(wid, "forward mode through a data-dependent Python while loop has no eager autograd "
                        "counterpart of jax.jvp(lax.while_loop)")
    elif wid == wl.W11:
        yield Skip(wid, "compile time: eager PyTorch has no compile step to measure")
    elif wid == wl.W7:
        yield Skip(wid, "compile time: eager PyTorch has no compile step to measure "
                        "(torch.compile needs a C++ toolchain at run time and is not the eager peer)")
