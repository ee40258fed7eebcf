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
    elif wid == wl.W7:
        yield Skip(wid, "compile time: eager PyTorch has no compile step to measure "
                        "(torch.compile needs a C++ toolchain at run time and is not the eager peer)")
