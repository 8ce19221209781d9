"""Pieces every reference model shares: token ids as arrays, the recurrent layer picked by
name, the batch-first state that ``minigrad.decoding`` carries, and log P(y|x).

Shapes: N batch, T time, L layers, H hidden, V vocabulary.
"""
from .. import backend, functional as F, nn
from ..creation import zeros
from ..tensor import Tensor

RECURRENT_LAYERS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}      # names in minigrad.nn


def token_ids(tokens, like, who, ndim=2):
    """``tokens`` (Tensor, NumPy/CuPy array or nested list of ints) as an integer backend
    array on the device of the parameter ``like``, checked to have ``ndim`` axes."""
    ids = backend.array_on(tokens.array if isinstance(tokens, Tensor) else tokens, like.device)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"{who}: token ids must be integers, got dtype {ids.dtype}")
    if ids.ndim != ndim:
        expected = "(N, T)" if ndim == 2 else "(K,)"
        raise ValueError(f"{who}: expected token ids of shape {expected}, got shape "
                         f"{tuple(ids.shape)}")
    return ids


def make_rnn(who, cell, input_size, hidden_size, num_layers=1, dropout=0.0,
             bidirectional=False):
    """nn.RNN / nn.LSTM / nn.GRU by name, batch-first. ``dropout`` acts between stacked
    layers, so it is passed only when there are several."""
    if cell not in RECURRENT_LAYERS:
        raise ValueError(f"{who}: cell must be one of {sorted(RECURRENT_LAYERS)}, "
                         f"got {cell!r}")
    layer = getattr(nn, RECURRENT_LAYERS[cell])
    return layer(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                 bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)


def swap_batch_and_layer(state):
    """(L, N, H) <-> (N, L, H), for a hidden state or an LSTM (h, c) pair.

    The recurrent layers keep the layer axis first (as torch); minigrad.decoding needs the
    batch (or beam) axis first to reorder beams, so the models hand out states batch-first.
    """
    if isinstance(state, tuple):
        return tuple(swap_batch_and_layer(s) for s in state)
    return state.transpose(0, 1)


def detach_state(state):
    """The state cut from the graph (truncated BPTT): a Tensor or a tuple of them."""
    if isinstance(state, tuple):
        return tuple(detach_state(s) for s in state)
    return state.detach()


def zero_state(cell, num_layers, hidden_size, batch_size, like):
    """The all-zero batch-first state (N, L, H) (LSTM: a pair of them) on ``like``'s device."""
    def zero():
        return zeros(batch_size, num_layers, hidden_size, dtype=like.dtype, device=like.device)
    return (zero(), zero()) if cell == "lstm" else zero()


def sequence_log_prob(log_probs, targets, ignore_index):
    """log P(y|x) = sum_t log p(y_t | y_<t, x), over the targets that are not ``ignore_index``.

    log_probs (N, T, V), targets (N, T) int -> (N,). The quantity beam-search error analysis
    compares (notes 004 3.2): P(y*|x) against P(y_hat|x).
    """
    nll = F.nll_loss(log_probs, targets, ignore_index=ignore_index, reduction="none")
    return -nll.sum(axis=1)


def ignore_index_of(pad_id):
    """The target id a loss skips: the padding id, or torch's default -100 when none."""
    return -100 if pad_id is None else pad_id
