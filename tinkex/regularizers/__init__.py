"""Regularizers for client-side custom losses: ``total = base + Σ weightᵢ · Rᵢ``.

::

    from tinkex.regularizers import L2, Entropy, RegularizerPipeline

    pipeline = RegularizerPipeline(my_nll, [L2(weight=0.01), Entropy(weight=0.1)])
    out = training.forward_backward_custom(data, pipeline, backend="numpy").result()
    report = CustomLossOutput.from_metrics(out.metrics)   # loss_total, per-term values, norms
"""

from .builtin import L1, L2, Entropy, KLDivergence, token_masks
from .pipeline import (
    CustomLossOutput,
    Regularizer,
    RegularizerOutput,
    RegularizerPipeline,
    grad_norm,
)

__all__ = ["CustomLossOutput", "Entropy", "KLDivergence", "L1", "L2", "Regularizer",
           "RegularizerOutput", "RegularizerPipeline", "grad_norm", "token_masks"]
