"""Regularizers: gradients against finite differences, the pipeline's rules, and training."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest

import tinkex
from tinkex import types
from tinkex.emulator.run.inprocess import InProcessEmulator
from tinkex.regularizers import (
    L1,
    L2,
    CustomLossOutput,
    Entropy,
    KLDivergence,
    RegularizerPipeline,
    grad_norm,
)


def datum(n: int, weights: list[float] | None = None) -> types.Datum:
    inputs: dict[str, object] = {"target_tokens": list(range(1, n + 1))}
    if weights is not None:
        inputs["weights"] = weights
    return types.Datum(model_input=types.ModelInput.from_ints(list(range(n))),
                       loss_fn_inputs=inputs)


RNG = np.random.default_rng(0)
DATA = [datum(5, [0, 0, 1, 1, 1]), datum(3)]
LOGPROBS = [-RNG.uniform(0.05, 4.0, 5), -RNG.uniform(0.05, 4.0, 3)]
REFERENCE = [lp + RNG.normal(0, 0.3, len(lp)) for lp in LOGPROBS]


def nll(data, logprobs):
    """Mean NLL over the counted tokens (a base loss with its own gradient)."""
    masks = [np.asarray(d.loss_fn_inputs["weights"].to_numpy()) if "weights" in d.loss_fn_inputs
             else np.ones(len(lp)) for d, lp in zip(data, logprobs, strict=True)]
    n = sum(m.sum() for m in masks)
    loss = -sum(float((m * lp).sum()) for m, lp in zip(masks, logprobs, strict=True)) / n
    return loss, {"nll:mean": loss}, [-m / n for m in masks]


def finite_difference(fn, logprobs, eps=1e-6):
    grads = []
    for i, lp in enumerate(logprobs):
        g = np.zeros_like(lp)
        for t in range(len(lp)):
            up = [x.astype(np.float64).copy() for x in logprobs]
            down = [x.astype(np.float64).copy() for x in logprobs]
            up[i][t] += eps
            down[i][t] -= eps
            g[t] = (fn(up) - fn(down)) / (2 * eps)
        grads.append(g)
    return grads


@pytest.mark.parametrize("reg", [L1(), L2(), Entropy(), Entropy(mode="minimize"),
                                 KLDivergence(REFERENCE)], ids=lambda r: repr(r)[:30])
def test_gradients_match_finite_differences(reg):
    value, grads = reg.numpy(DATA, LOGPROBS)
    numeric = finite_difference(lambda lps: reg.numpy(DATA, lps)[0], LOGPROBS)
    for analytic, approx in zip(grads, numeric, strict=True):
        np.testing.assert_allclose(analytic, approx, atol=1e-6)
    assert grads[0][:2].tolist() == [0.0, 0.0]  # weight-0 (prompt) tokens are left alone
    assert np.isfinite(value)


def test_values_mean_what_they_say():
    lp = [np.log(np.array([0.5, 0.5]))]
    data = [datum(2)]
    assert L1().numpy(data, lp)[0] == pytest.approx(np.log(2))
    assert L2().numpy(data, lp)[0] == pytest.approx(np.log(2) ** 2)
    assert Entropy().numpy(data, lp)[0] == pytest.approx(-np.log(2))  # maximal binary entropy
    assert KLDivergence([lp[0]]).numpy(data, lp)[0] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="one logprob per target token"):
        KLDivergence([np.zeros(3)]).numpy(data, lp)
    with pytest.raises(ValueError, match="maximize"):
        Entropy(mode="sideways")


def test_the_pipeline_sums_weighted_terms_and_reports_each():
    pipeline = RegularizerPipeline(nll, [L2(weight=0.5), Entropy(weight=0.1, name="ent")])
    output, grads = pipeline.compute_numpy(DATA, LOGPROBS)
    base = nll(DATA, LOGPROBS)[0]
    l2 = L2().numpy(DATA, LOGPROBS)[0]
    ent = Entropy().numpy(DATA, LOGPROBS)[0]
    assert output.base_loss == pytest.approx(base)
    assert output.loss_total == pytest.approx(base + 0.5 * l2 + 0.1 * ent)
    assert output.regularizers["l2"].contribution == pytest.approx(0.5 * l2)
    assert output.regularizer_total == pytest.approx(0.5 * l2 + 0.1 * ent)
    numeric = finite_difference(lambda lps: pipeline.compute_numpy(DATA, lps)[0].loss_total,
                                LOGPROBS)
    for analytic, approx in zip(grads, numeric, strict=True):
        np.testing.assert_allclose(analytic, approx, atol=1e-6)
    assert output.total_grad_norm == pytest.approx(grad_norm(grads))
    reg = output.regularizers["ent"]
    assert reg.grad_norm == pytest.approx(grad_norm(Entropy().numpy(DATA, LOGPROBS)[1]))
    assert reg.grad_norm_weighted == pytest.approx(0.1 * reg.grad_norm)
    # flat metrics and back
    loss, metrics, flat_grads = pipeline(DATA, LOGPROBS)
    assert loss == pytest.approx(output.loss_total) and metrics["nll:mean"] == pytest.approx(base)
    again = CustomLossOutput.from_metrics(metrics)
    assert again.loss_total == pytest.approx(output.loss_total)
    assert set(again.regularizers) == {"l2", "ent"} and again.metrics == {"nll:mean": base}


def test_sequential_and_parallel_agree_and_parallel_really_overlaps():
    started = threading.Barrier(2, timeout=5)

    class Waits(L1):
        def numpy(self, data, logprobs):
            started.wait()  # both terms must be running at once to get past this
            return super().numpy(data, logprobs)

    parallel = RegularizerPipeline(nll, [Waits(name="a"), Waits(name="b")], parallel=True)
    out_p, _ = parallel.compute_numpy(DATA, LOGPROBS)
    sequential = RegularizerPipeline(nll, [L1(name="a"), L1(name="b")], parallel=False)
    out_s, _ = sequential.compute_numpy(DATA, LOGPROBS)
    assert out_p.loss_total == pytest.approx(out_s.loss_total)


def test_rules_duplicates_weights_timeouts_and_bad_gradients():
    with pytest.raises(ValueError, match="duplicate regularizer name 'l2'"):
        RegularizerPipeline(nll, [L2(), L2(weight=2)])
    with pytest.raises(ValueError, match="weight must be >= 0"):
        RegularizerPipeline(nll, [L1(weight=-1)])
    release = threading.Event()

    class Slow(L1):
        def numpy(self, data, logprobs):
            release.wait(5)
            return super().numpy(data, logprobs)

    pipeline = RegularizerPipeline(nll, [Slow(name="slow"), L2()], timeout=0.05)
    try:
        with pytest.raises(TimeoutError, match="'slow' did not finish within 0.05 s"):
            pipeline.compute_numpy(DATA, LOGPROBS)
    finally:
        release.set()

    class Wrong(L1):
        def numpy(self, data, logprobs):
            return 0.0, [np.zeros(1)]

    with pytest.raises(ValueError, match="'l1' must return one gradient per datum"):
        RegularizerPipeline(nll, [Wrong()]).compute_numpy(DATA, LOGPROBS)


def test_torch_backend_agrees_with_numpy():
    torch = pytest.importorskip("torch")

    def torch_nll(data, logprobs):
        masks = [torch.tensor(np.asarray(d.loss_fn_inputs["weights"].to_numpy()), dtype=lp.dtype)
                 if "weights" in d.loss_fn_inputs else torch.ones_like(lp)
                 for d, lp in zip(data, logprobs, strict=True)]
        n = sum(m.sum() for m in masks)
        return -sum((m * lp).sum() for m, lp in zip(masks, logprobs, strict=True)) / n, {}

    regs = [L1(weight=0.2), L2(weight=0.3), Entropy(weight=0.1), KLDivergence(REFERENCE, 0.4)]
    out_np, grads_np = RegularizerPipeline(nll, regs).compute_numpy(DATA, LOGPROBS)
    tensors = [torch.tensor(lp, dtype=torch.float64, requires_grad=True) for lp in LOGPROBS]
    out_t, total = RegularizerPipeline(torch_nll, regs).compute_torch(DATA, tensors)
    total.backward()
    assert out_t.loss_total == pytest.approx(out_np.loss_total)
    for t, g in zip(tensors, grads_np, strict=True):
        np.testing.assert_allclose(t.grad.numpy(), g, atol=1e-9)
    for name in out_np.regularizers:
        assert out_t.regularizers[name].grad_norm == pytest.approx(
            out_np.regularizers[name].grad_norm)


# ---- against the emulator ---------------------------------------------------------------


@pytest.fixture(scope="module")
def training(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tinkex.TrainingClient]:
    """A training client of the emulator in this process (through its ASGI application)."""
    with InProcessEmulator(data_dir=tmp_path_factory.mktemp("emu")) as emu, \
            tinkex.ServiceClient(base_url=emu.base_url, api_key="tml-regularizers",
                                 transport=emu.transport()) as service:
        yield service.create_lora_training_client(base_model="tinkex/micro-lm", rank=4, seed=2)


def test_training_with_a_regularized_custom_loss(training):
    tokens = [256, *b"regularize me", 257]
    data = [types.Datum(model_input=types.ModelInput.from_ints(tokens[:-1]),
                        loss_fn_inputs={"target_tokens": tokens[1:],
                                        "weights": [1.0] * (len(tokens) - 1)})]
    pipeline = RegularizerPipeline(nll, [L2(weight=0.01), Entropy(weight=0.01)])
    reports = []
    for _ in range(4):
        out = training.forward_backward_custom(data, pipeline, backend="numpy").result()
        training.optim_step(types.AdamParams(learning_rate=2e-2)).result()
        reports.append(CustomLossOutput.from_metrics(out.metrics))
        assert out.metrics["loss:sum"] == pytest.approx(reports[-1].loss_total)
    first, last = reports[0], reports[-1]
    assert last.base_loss < first.base_loss
    assert set(first.regularizers) == {"l2", "entropy"}
    assert first.total_grad_norm and first.total_grad_norm > 0
    assert first.loss_total == pytest.approx(first.base_loss + first.regularizer_total)
