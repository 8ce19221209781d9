"""The notes' prior-knowledge output layer (先验知识; notes 000 训练拔高点, 001 Seq2Seq训练).

A summary mostly reuses words of the text it summarizes, so whether a word occurs in the
source is worth telling the output layer directly:

    X = (x_1, ..., x_|V|),  x_i = 1 if word i occurs in the source, else 0     (a 0/1 vector)
    y_hat = S ⊗ X + t = (s_1 x_1 + t_1, ..., s_|V| x_|V| + t_|V|)            S, t: (|V|,)
    y_prior = softmax(y_hat)
    prediction = (y_prior + y) / 2,    y = softmax(the decoder's logits)

The prior depends only on the source, not on the step: it raises every source word a little
at every step, and the decoder's own softmax does the rest. Shapes: N batch, T time,
S source length, V vocabulary.
"""
import math

from .. import backend, functional as F, nn
from ..ops import exp, log, where
from ..tensor import Tensor


def source_word_vector(src, vocab_size, ignore_ids=(), dtype=None):
    """X (N, V): X[n, i] = 1 if token i occurs in ``src[n]`` (N, S), else 0.

    ``ignore_ids`` (padding, say) are never marked. A backend array on ``src``'s device;
    ``dtype`` defaults to the default float dtype.
    """
    xp = backend.get_array_module(src)
    N = src.shape[0]
    X = xp.zeros((N, vocab_size), dtype=dtype or backend.get_default_dtype())
    X[xp.arange(N)[:, None], src] = 1          # a word seen twice is still just 1
    for i in ignore_ids:
        X[:, i] = 0
    return X


def log_mean_of_distributions(log_p, log_q):
    """log((p + q) / 2) from log p and log q, computed as
    max + log(1 + exp(min - max)) - log 2, so it stays finite where one of p, q underflows."""
    hi = where(log_p > log_q, log_p, log_q)
    lo = log_p + log_q - hi
    return hi + log(1 + exp(lo - hi)) - math.log(2.0)


class PriorKnowledge(nn.Module):
    """prediction = (softmax(S ⊗ X + t) + softmax(logits)) / 2, returned as log-probabilities.

    Parameters ``S`` and ``t`` (V,), named as in the notes. Both start at 0, so the prior
    starts uniform and learns which source words to favour.

    forward(logits (N, ..., V), X (N, V)) -> log-probabilities (N, ..., V)
    """

    def __init__(self, vocab_size, device=None, dtype=None):
        super().__init__()
        self.vocab_size = vocab_size
        self.S = nn.init.empty(vocab_size, device=device, dtype=dtype)
        self.t = nn.init.empty(vocab_size, device=device, dtype=dtype)

    def prior(self, X):
        """y_prior = softmax(S ⊗ X + t): X (N, V) -> (N, V), as log-probabilities."""
        return F.log_softmax(X * self.S + self.t)

    def forward(self, logits, X):
        V = self.vocab_size
        if logits.shape[-1] != V or tuple(X.shape) != (logits.shape[0], V):
            raise ValueError(f"PriorKnowledge: expected logits (N, ..., {V}) and X (N, {V}), "
                             f"got logits {logits.shape} and X {tuple(X.shape)}")
        X = X if isinstance(X, Tensor) else Tensor._wrap(X)
        log_prior = self.prior(X)                                  # (N, V)
        # one prior per source, the same at every step: broadcast it over the middle axes
        log_prior = log_prior.reshape((X.shape[0],) + (1,) * (logits.ndim - 2) + (V,))
        return log_mean_of_distributions(log_prior, F.log_softmax(logits))

    def extra_repr(self):
        return f"{self.vocab_size}"
