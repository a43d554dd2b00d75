"""Uploaded custom losses: a traced torch.fx graph, rebuilt from allowed operations only.

``create_custom_loss`` sends the graph as data (nodes in execution order, see
``CustomLossNode`` in the manifest). Nothing in it is executed as code: each
node's target must be one of the operations below, each a numpy function with
its vector-Jacobian product, so the graph is evaluated per datum and
differentiated by reverse-mode accumulation with respect to ``logprobs`` (the
only input with a gradient). The loss must return ``(scalar loss, {metric:
scalar})`` with metric keys ``custom/<name>:sum`` or ``:mean``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

LOSS_NODE = "__loss__"
"""The node the loss comes from is renamed so, to start the backward pass there."""
METRIC_KEY = re.compile(r"custom/[a-z0-9_./-]{1,64}:(sum|mean)")
MAX_NODES = 2000


class GraphError(ValueError):
    """The graph uses something the emulator does not allow, or is malformed."""


def _unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a broadcast gradient back to an operand's shape."""
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(np.shape(x))


# Each op: (forward(*args, **kwargs), vjp(grad, out, *args, **kwargs) -> grads per tensor arg).
Op = tuple[Callable[..., Any], Callable[..., Sequence[Any]] | None]


def _reduce_vjp(g: Any, out: Any, x: Any, dim: Any = None, keepdim: bool = False,
                mean: bool = False) -> list[Any]:
    x = np.asarray(x, dtype=np.float64)
    g = np.asarray(g, dtype=np.float64)
    if dim is not None and not keepdim:
        g = np.expand_dims(g, dim)
    count = x.size if dim is None else x.shape[dim]
    return [np.broadcast_to(g / count if mean else g, x.shape)]


def _sum(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    return np.sum(np.asarray(x, dtype=np.float64), axis=dim, keepdims=keepdim)


def _mean(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    return np.mean(np.asarray(x, dtype=np.float64), axis=dim, keepdims=keepdim)


def _clamp(x: Any, min: Any = None, max: Any = None) -> Any:  # noqa: A002 (torch's names)
    return np.clip(x, min, max)


def _clamp_vjp(g: Any, out: Any, x: Any, min: Any = None, max: Any = None) -> list[Any]:  # noqa: A002
    x = np.asarray(x, dtype=np.float64)
    inside = np.ones_like(x, dtype=bool)
    if min is not None:
        inside &= x >= min
    if max is not None:
        inside &= x <= max
    return [np.where(inside, g, 0.0)]


def _where(cond: Any, a: Any, b: Any) -> Any:
    return np.where(cond, a, b)


def _where_vjp(g: Any, out: Any, cond: Any, a: Any, b: Any) -> list[Any]:
    return [None, _unbroadcast(np.where(cond, g, 0.0), _shape(a)),
            _unbroadcast(np.where(cond, 0.0, g), _shape(b))]


def _pow_vjp(g: Any, out: Any, a: Any, b: Any) -> list[Any]:
    a64 = np.asarray(a, dtype=np.float64)
    da = g * b * np.power(a64, np.asarray(b) - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        db = g * out * np.log(np.where(a64 > 0, a64, 1.0))
    return [_unbroadcast(da, _shape(a)), _unbroadcast(db, _shape(b))]


def _binary(f: Callable[[Any, Any], Any],
            da: Callable[[Any, Any, Any, Any], Any],
            db: Callable[[Any, Any, Any, Any], Any]) -> Op:
    def vjp(g: Any, out: Any, a: Any, b: Any) -> list[Any]:
        return [_unbroadcast(np.asarray(da(g, out, a, b)), _shape(a)),
                _unbroadcast(np.asarray(db(g, out, a, b)), _shape(b))]
    return f, vjp


def _unary(f: Callable[[Any], Any], d: Callable[[Any, Any, Any], Any]) -> Op:
    return f, lambda g, out, x: [d(g, out, np.asarray(x, dtype=np.float64))]


def _sigmoid(x: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def _passthrough(x: Any, *args: Any, **kwargs: Any) -> Any:
    return np.asarray(x, dtype=np.float64)


_ARITH: dict[str, Op] = {
    "add": _binary(np.add, lambda g, o, a, b: g, lambda g, o, a, b: g),
    "sub": _binary(np.subtract, lambda g, o, a, b: g, lambda g, o, a, b: -g),
    "mul": _binary(np.multiply, lambda g, o, a, b: g * b, lambda g, o, a, b: g * a),
    "truediv": _binary(np.divide, lambda g, o, a, b: g / b,
                       lambda g, o, a, b: -g * a / np.square(b)),
    "pow": (np.power, _pow_vjp),
    "neg": _unary(np.negative, lambda g, o, x: -g),
}
_UNARY: dict[str, Op] = {
    "exp": _unary(np.exp, lambda g, o, x: g * o),
    "log": _unary(np.log, lambda g, o, x: g / x),
    "sqrt": _unary(np.sqrt, lambda g, o, x: g / (2 * o)),
    "square": _unary(np.square, lambda g, o, x: 2 * g * x),
    "abs": _unary(np.abs, lambda g, o, x: g * np.sign(x)),
    "tanh": _unary(np.tanh, lambda g, o, x: g * (1 - o * o)),
    "sigmoid": _unary(_sigmoid, lambda g, o, x: g * o * (1 - o)),
    "relu": _unary(lambda x: np.maximum(x, 0.0), lambda g, o, x: g * (x > 0)),
    "sum": (_sum, _reduce_vjp),
    "mean": (_mean, lambda g, o, x, dim=None, keepdim=False: _reduce_vjp(g, o, x, dim, keepdim,
                                                                         True)),
    "clamp": (_clamp, _clamp_vjp),
    "clip": (_clamp, _clamp_vjp),
    "minimum": _binary(np.minimum, lambda g, o, a, b: g * (np.asarray(a) <= b),
                       lambda g, o, a, b: g * (np.asarray(a) > b)),
    "maximum": _binary(np.maximum, lambda g, o, a, b: g * (np.asarray(a) >= b),
                       lambda g, o, a, b: g * (np.asarray(a) < b)),
    "where": (_where, _where_vjp),
    "detach": (_passthrough, lambda g, o, x: [None]),
    "float": (_passthrough, lambda g, o, x, *a, **k: [g]),
    "to": (_passthrough, lambda g, o, x, *a, **k: [g]),
    "zeros_like": (lambda x, **k: np.zeros(np.shape(x)), lambda g, o, x, **k: [None]),
    "ones_like": (lambda x, **k: np.ones(np.shape(x)), lambda g, o, x, **k: [None]),
}
_COMPARE = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
            "eq": np.equal, "ne": np.not_equal}

FUNCTIONS: dict[str, Op] = {
    **{f"operator.{name}": op for name, op in _ARITH.items()},
    **{f"operator.{name}": (fn, None) for name, fn in _COMPARE.items()},
    **{f"torch.{name}": op for name, op in {**_ARITH, **_UNARY}.items()},
    "torch.div": _ARITH["truediv"],
    "torch.negative": _ARITH["neg"],
    "math.exp": _UNARY["exp"], "math.log": _UNARY["log"], "math.sqrt": _UNARY["sqrt"],
}
METHODS: dict[str, Op] = {**_ARITH, **_UNARY, "div": _ARITH["truediv"],
                          **{name: (fn, None) for name, fn in _COMPARE.items()}}


def _decode(arg: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(arg, list):
        return [_decode(a, values) for a in arg]
    if not isinstance(arg, dict):
        return arg
    if len(arg) != 1:
        raise GraphError(f"an encoded argument is a one-key object, got {sorted(arg)}")
    (kind, value), = arg.items()
    if kind == "ref":
        if value not in values:
            raise GraphError(f"argument refers to unknown node {value!r}")
        return values[value]
    if kind == "tuple":
        return tuple(_decode(a, values) for a in value)
    if kind == "dict":
        return {k: _decode(v, values) for k, v in value.items()}
    if kind == "float":
        return float(value)
    if kind in ("dtype", "device", "layout", "memory_format"):
        return None  # numpy here: float64 on the CPU, whatever was asked
    raise GraphError(f"argument kind {kind!r} is not supported")


def _refs(arg: Any) -> list[str]:
    if isinstance(arg, list):
        return [r for a in arg for r in _refs(a)]
    if isinstance(arg, dict):
        if set(arg) == {"ref"}:
            return [arg["ref"]]
        return [r for a in arg.values() for r in _refs(a)]
    return []


@dataclass(frozen=True)
class GraphLoss:
    name: str
    input_names: tuple[str, ...]
    """logprobs, then the loss_fn_inputs keys, in the order the graph takes them."""
    nodes: tuple[dict[str, Any], ...]

    def __call__(self, logprobs: np.ndarray, inputs: Mapping[str, np.ndarray]
                 ) -> tuple[float, np.ndarray, dict[str, float]]:
        """(loss, d loss / d logprobs, metrics) for one datum."""
        values: dict[str, Any] = {}
        tape: list[tuple[str, Op, list[Any], dict[str, Any], list[str | None]]] = []
        placeholders = iter(self.input_names)
        result: Any = None
        for node in self.nodes:
            op, name, target = node["op"], node["name"], node["target"]
            if op == "placeholder":
                key = next(placeholders)
                values[name] = logprobs if key == "logprobs" else np.asarray(inputs[key],
                                                                              np.float64)
                continue
            args = [_decode(a, values) for a in node.get("args", [])]
            kwargs = {k: _decode(v, values) for k, v in node.get("kwargs", {}).items()}
            if op == "output":
                result = args[0]
                break
            fn_op = FUNCTIONS[target] if op == "call_function" else METHODS[target]
            if op == "call_function" and target == "operator.getitem":
                values[name] = args[0][args[1]]
                continue
            values[name] = fn_op[0](*args, **kwargs)
            refs = [a["ref"] if isinstance(a, dict) and set(a) == {"ref"} else None
                    for a in node.get("args", [])]
            tape.append((name, fn_op, args, kwargs, refs))
        loss, metrics = _loss_and_metrics(result, self.name)
        grads: dict[str, Any] = {LOSS_NODE: np.ones(())}
        for name, (_, vjp), args, kwargs, refs in reversed(tape):
            g = grads.get(name)
            if g is None or vjp is None:
                continue
            for ref, dg in zip(refs, vjp(g, values[name], *args, **kwargs), strict=False):
                if ref is not None and dg is not None:
                    grads[ref] = grads.get(ref, 0.0) + np.asarray(dg, np.float64)
        first = next(n["name"] for n in self.nodes if n["op"] == "placeholder")
        grad = np.broadcast_to(np.asarray(grads.get(first, 0.0), np.float64), logprobs.shape)
        return loss, np.array(grad), metrics


def _loss_and_metrics(result: Any, name: str) -> tuple[float, dict[str, float]]:
    if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict)):
        raise GraphError(f"custom loss {name!r} must return (loss, metrics dict)")
    loss = np.asarray(result[0], np.float64)
    if loss.ndim != 0:
        raise GraphError(f"custom loss {name!r} must return a scalar loss, got shape "
                         f"{loss.shape}")
    metrics = {}
    for key, value in result[1].items():
        if not METRIC_KEY.fullmatch(str(key)):
            raise GraphError(f"metric key {key!r} must look like custom/<name>:sum or :mean")
        metrics[str(key)] = float(np.asarray(value, np.float64))
    return float(loss), metrics


def build(name: str, inputs: Sequence[Mapping[str, Any]], graph: Mapping[str, Any]) -> GraphLoss:
    """Check the graph against the allowed operations; GraphError says what and where."""
    nodes = list(graph.get("nodes") or [])
    if graph.get("format", 1) != 1:
        raise GraphError(f"graph format {graph.get('format')!r} is not supported (only 1)")
    if not nodes or len(nodes) > MAX_NODES:
        raise GraphError(f"a graph has 1 - {MAX_NODES} nodes, got {len(nodes)}")
    names = [str(i["name"]) for i in inputs]
    if not names or names[0] != "logprobs":
        raise GraphError("the first input of a custom loss is logprobs")
    seen: set[str] = set()
    placeholders = 0
    for i, node in enumerate(nodes):
        op, target, where = node.get("op"), node.get("target"), f"node {i} ({node.get('name')!r})"
        if op == "placeholder":
            placeholders += 1
        elif op == "call_function":
            if target not in FUNCTIONS and target != "operator.getitem":
                raise GraphError(f"{where}: function {target!r} is not allowed")
        elif op == "call_method":
            if target not in METHODS:
                raise GraphError(f"{where}: method {target!r} is not allowed")
        elif op == "output":
            if i != len(nodes) - 1:
                raise GraphError(f"{where}: the output node must be last")
        else:
            raise GraphError(f"{where}: {op!r} nodes are not allowed")
        for ref in _refs(node.get("args", [])) + _refs(node.get("kwargs", {})):
            if ref not in seen:
                raise GraphError(f"{where}: refers to {ref!r} before it is computed")
        seen.add(str(node.get("name")))
    if placeholders != len(names):
        raise GraphError(f"the graph takes {placeholders} inputs but {len(names)} are declared")
    if nodes[-1].get("op") != "output":
        raise GraphError("the graph has no output node")
    # The loss is the output tuple's first element: name it for the backward pass.
    out_args = nodes[-1].get("args") or [None]
    first = out_args[0]
    if isinstance(first, dict) and "tuple" in first and first["tuple"]:
        loss_arg = first["tuple"][0]
        if isinstance(loss_arg, dict) and set(loss_arg) == {"ref"}:
            loss_node = loss_arg["ref"]
            patched = [dict(n) for n in nodes]
            for n in patched:
                if n["name"] == loss_node:
                    n["name"] = LOSS_NODE
                n["args"] = _rename(n.get("args", []), loss_node)
                n["kwargs"] = _rename(n.get("kwargs", {}), loss_node)
            nodes = patched
    return GraphLoss(name, tuple(names), tuple(nodes))


def _rename(arg: Any, old: str) -> Any:
    if isinstance(arg, list):
        return [_rename(a, old) for a in arg]
    if isinstance(arg, dict):
        if set(arg) == {"ref"}:
            return {"ref": LOSS_NODE} if arg["ref"] == old else arg
        return {k: _rename(v, old) for k, v in arg.items()}
    return arg

