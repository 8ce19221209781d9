"""Loss modules with torch's names and arguments, each a thin wrapper of its functional form:
``loss = criterion(output, target)``."""
from .. import functional as F
from .module import Module

_REDUCTIONS = ("mean", "sum", "none")


class _Loss(Module):
    def __init__(self, reduction="mean"):
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be 'mean', 'sum' or "
                             f"'none', got {reduction!r}")
        self.reduction = reduction

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


def _no_weight(name, weight):
    if weight is not None:
        raise NotImplementedError(f"{name}: per-class weight= is not supported in minigrad; "
                                  "leave it None (or weight the per-element losses of "
                                  "reduction='none' yourself)")


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of logits (..., C) against integer targets (...): F.cross_entropy.
    Classes are on the last axis (torch's (N, C) inputs are the same; for torch's (N, C, T)
    pass ``logits.movedim(1, -1)``)."""

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__(reduction)
        _no_weight("CrossEntropyLoss", weight)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input, target):           # noqa: A002 - torch's argument name
        return F.cross_entropy(input, target, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (..., C) (e.g. from LogSoftmax) at the
    integer targets (...): F.nll_loss."""

    def __init__(self, weight=None, ignore_index=-100, reduction="mean"):
        super().__init__(reduction)
        _no_weight("NLLLoss", weight)
        self.ignore_index = ignore_index

    def forward(self, input, target):           # noqa: A002 - torch's argument name
        return F.nll_loss(input, target, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class MSELoss(_Loss):
    """Mean squared error (input - target)^2, reduced."""

    def forward(self, input, target):           # noqa: A002 - torch's argument name
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error |input - target|, reduced."""

    def forward(self, input, target):           # noqa: A002 - torch's argument name
        return F.l1_loss(input, target, reduction=self.reduction)


__all__ = ["CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss"]
