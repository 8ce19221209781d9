"""Decoding a sequence model: greedy search, beam search and sampling (notes 003 Beam-search,
004 3.2 集束搜索 and 长度标准化).

Every decoder drives the model through one function, the same for all three:

    step_fn(prev_tokens, state) -> (log_probs, state)

- ``prev_tokens``: int64 array (K,), the token each of the K running sequences emitted last
  (``bos_id`` at the first step). It lives on the device of ``state`` (NumPy when the state
  holds no arrays).
- ``log_probs``: (K, V) Tensor or array, log P(next token | x, tokens so far) for each row:
  log-probabilities (``F.log_softmax``), not logits and not probabilities.
- ``state``: whatever the model carries between steps (hidden state, LSTM ``(h, c)``, encoder
  outputs for attention, ...): a Tensor or array, or a tuple / list / dict of them (nested is
  fine, ``None`` leaves pass through), each with leading dimension K. When beams are reordered
  or dropped the decoder gathers every leaf along dimension 0, so row k of the state always
  belongs to row k of ``prev_tokens``.

The state given to a decoder has leading dimension 1 (one source sentence); beam search
widens it to the beam by gathering row 0 several times.

What comes back, the same for every decoder: ``tokens`` is a list of Python ints that does
**not** start with ``bos_id`` and **does** end with ``eos_id`` when the sequence stopped by
emitting it (a sequence cut at ``max_len`` has no ``eos_id``); ``score`` is a float, the sum
of the model's log-probabilities of those tokens (beam search divides it by len**alpha).
Decoders run under ``mg.no_grad()``: nothing is recorded for backward.
"""
import numpy as np

from . import backend
from .tensor import Tensor, no_grad

__all__ = ["greedy_decode", "greedy_decode_batch", "beam_search", "sample", "sequence_score"]


# ----------------------------------------------------------------------------- state handling

def _leaves(state):
    """The Tensor/array leaves of a (nested) state, in a fixed order."""
    if state is None:
        return []
    if isinstance(state, dict):
        return [leaf for v in state.values() for leaf in _leaves(v)]
    if isinstance(state, (tuple, list)):
        return [leaf for v in state for leaf in _leaves(v)]
    return [state]


def _raw(x):
    return x.array if isinstance(x, Tensor) else x


def _state_rows(state, who):
    """K, the common leading dimension of every leaf (1 when the state has no leaves)."""
    sizes = set()
    for leaf in _leaves(state):
        arr = _raw(leaf)
        if not hasattr(arr, "shape") or len(arr.shape) == 0:
            raise TypeError(f"{who}: every state leaf must be a Tensor or array with a leading "
                            f"dimension K, got {type(leaf).__name__} "
                            f"{getattr(arr, 'shape', '')}".rstrip())
        sizes.add(arr.shape[0])
    if len(sizes) > 1:
        raise ValueError(f"{who}: state leaves disagree on the leading dimension K: "
                         f"{sorted(sizes)} (expected one K for all)")
    return sizes.pop() if sizes else 1


def _xp_of(state):
    leaves = _leaves(state)
    return backend.get_array_module(*[_raw(leaf) for leaf in leaves]) if leaves else np


def _gather(state, rows):
    """Row ``rows[k]`` of every leaf becomes row k: ``rows`` int array (K',) on the host.
    Containers keep their type; Tensors stay Tensors; ``None`` stays ``None``."""
    if state is None:
        return None
    if isinstance(state, dict):
        return type(state)((key, _gather(v, rows)) for key, v in state.items())
    if isinstance(state, (tuple, list)):
        gathered = [_gather(v, rows) for v in state]
        # namedtuples rebuild from positional fields, plain tuples and lists from one iterable
        return type(state)(*gathered) if hasattr(state, "_fields") else type(state)(gathered)
    arr = _raw(state)
    xp = backend.get_array_module(arr)
    picked = arr[xp.asarray(rows)]
    return Tensor._wrap(picked) if isinstance(state, Tensor) else picked


def _call_step(step_fn, tokens, state, xp, who):
    """One call of the model on K rows; returns host float64 log-probs (K, V) and the state."""
    out = step_fn(xp.asarray(tokens, dtype=np.int64), state)
    if not isinstance(out, tuple) or len(out) != 2:
        raise TypeError(f"{who}: step_fn must return (log_probs, state), got "
                        f"{type(out).__name__}")
    log_probs, state = out
    lp = backend.to_numpy(_raw(log_probs)).astype(np.float64)
    K = len(tokens)
    if lp.ndim != 2 or lp.shape[0] != K:
        raise ValueError(f"{who}: step_fn returned log_probs of shape {lp.shape}; expected "
                         f"(K, V) = ({K}, V) for the {K} running sequences")
    if lp.size and np.nanmax(lp) > 1e-3:
        raise ValueError(f"{who}: step_fn returned a log-probability of {np.nanmax(lp):.4g} > 0; "
                         "it must return log-probabilities (F.log_softmax of the logits)")
    return lp, state


def _check_common(who, bos_id, eos_id, max_len):
    for name, v in (("bos_id", bos_id), ("eos_id", eos_id), ("max_len", max_len)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
            raise TypeError(f"{who}: {name} must be an int, got {v!r}")
    if max_len < 1:
        raise ValueError(f"{who}: max_len must be >= 1, got {max_len}")


# ----------------------------------------------------------------------------- one token per row

def _decode_rows(step_fn, state, bos_id, eos_id, max_len, pick, who):
    """Run K independent sequences, choosing each row's next token with
    ``pick(log_probs (K', V)) -> int array (K',)``. Rows that finish are dropped from the
    batch (their state rows gathered away), so step_fn only sees running rows.
    Returns a list of K (tokens, summed log-prob)."""
    _check_common(who, bos_id, eos_id, max_len)
    K = _state_rows(state, who)
    xp = _xp_of(state)
    tokens = [[] for _ in range(K)]
    scores = np.zeros(K)
    alive = np.arange(K)                    # which original row each running row is
    prev = np.full(K, bos_id, dtype=np.int64)
    with no_grad():
        for _ in range(max_len):
            lp, state = _call_step(step_fn, prev, state, xp, who)
            nxt = np.asarray(pick(lp), dtype=np.int64)
            scores[alive] += lp[np.arange(len(alive)), nxt]
            for row, tok in zip(alive, nxt):
                tokens[row].append(int(tok))
            running = nxt != eos_id
            if not running.all():
                keep = np.flatnonzero(running)
                alive, nxt = alive[keep], nxt[keep]
                if len(alive) == 0:
                    break
                state = _gather(state, keep)
            prev = nxt
    return [(tokens[k], float(scores[k])) for k in range(K)]


def _single(state, who):
    K = _state_rows(state, who)
    if K != 1:
        raise ValueError(f"{who}: state has leading dimension {K}; decode one sequence at a "
                         "time (leading dimension 1), or use greedy_decode_batch for a batch")


def greedy_decode_batch(step_fn, state, bos_id, eos_id, max_len):
    """Greedy decoding of N sequences at once (state leading dimension N): at every step each
    row takes its most probable token. A row stops at ``eos_id`` or after ``max_len`` tokens;
    the others go on. Returns a list of N ``(tokens, score)`` as ``greedy_decode``."""
    return _decode_rows(step_fn, state, bos_id, eos_id, max_len,
                        lambda lp: lp.argmax(axis=1), "greedy_decode_batch")


def greedy_decode(step_fn, state, bos_id, eos_id, max_len):
    """Greedy search (贪心): y_t = argmax_y P(y | x, y_<t), one token at a time.

    ``state``: leading dimension 1. Returns ``(tokens, score)``: tokens without ``bos_id``,
    ending with ``eos_id`` unless ``max_len`` cut it; score = sum of their log-probabilities.
    Equal to ``beam_search(..., beam_size=1, alpha=0.0)[0]``.
    """
    _single(state, "greedy_decode")
    return _decode_rows(step_fn, state, bos_id, eos_id, max_len,
                        lambda lp: lp.argmax(axis=1), "greedy_decode")[0]


def sample(step_fn, state, bos_id, eos_id, max_len, temperature=1.0, top_k=None):
    """Ancestral sampling: y_t ~ softmax(log P(. | x, y_<t) / temperature), optionally from
    the ``top_k`` most probable tokens only. Draws from minigrad's seeded generator, so
    ``mg.manual_seed(n)`` makes it repeatable (on the host, so CPU and GPU models that give the
    same probabilities draw the same sequence).

    temperature < 1 sharpens the distribution (towards greedy), > 1 flattens it.
    Returns ``(tokens, score)`` as ``greedy_decode``; score is the model's own (untempered)
    summed log-probability of the drawn tokens.
    """
    who = "sample"
    if not temperature > 0:
        raise ValueError(f"{who}: temperature must be > 0, got {temperature}")
    if top_k is not None and (not isinstance(top_k, (int, np.integer)) or top_k < 1):
        raise ValueError(f"{who}: top_k must be None or an int >= 1, got {top_k!r}")
    _single(state, who)
    rng = backend.host_rng()

    def pick(lp):
        z = lp / temperature
        if top_k is not None and top_k < z.shape[1]:
            # the k-th largest value per row; everything below it is removed
            kth = np.partition(z, -top_k, axis=1)[:, -top_k][:, None]
            z = np.where(z >= kth, z, -np.inf)
        w = np.exp(z - z.max(axis=1, keepdims=True))          # unnormalized probabilities
        cdf = w.cumsum(axis=1)
        u = rng.random((len(w), 1)) * cdf[:, -1:]
        # inverse-CDF draw: the first token whose cumulative weight exceeds u (never one of
        # weight 0); the minimum guards against u rounding up to the total
        last = w.shape[1] - 1 - np.argmax(w[:, ::-1] > 0, axis=1)
        return np.minimum((cdf <= u).sum(axis=1), last)

    return _decode_rows(step_fn, state, bos_id, eos_id, max_len, pick, who)[0]


# ----------------------------------------------------------------------------- beam search

def beam_search(step_fn, state, bos_id, eos_id, beam_size, max_len, alpha=0.0):
    """Beam search (集束搜索) with length normalization (长度标准化).

    Keeps the ``beam_size`` best prefixes by summed log-probability. At each step every live
    prefix is extended by every token in ONE call of ``step_fn`` on all live beams; the best
    ``B`` extensions survive, where B = beam_size minus the hypotheses already finished. An
    extension that emits ``eos_id``, or reaches ``max_len`` tokens, is finished and kept; so
    ``beam_size=1`` is exactly greedy search, and a beam as wide as the number of prefixes
    never prunes and is exhaustive search. (All live prefixes have the same length, so
    pruning by the summed log-probability is the same as pruning by the normalized score.)

    Finished hypotheses are ranked by

        score = (1 / T^alpha) * sum_t log P(y_t | x, y_<t)

    with T the hypothesis length counting ``eos_id``. alpha = 0: plain log-probability (which
    favours short outputs); alpha = 1: mean log-probability per token; about 0.7 is common.

    ``state``: leading dimension 1. Returns a list of at most ``beam_size`` ``(tokens, score)``,
    best first; tokens as in ``greedy_decode``. Extensions of log-probability -inf (tokens
    the model forbids) are never kept.
    """
    who = "beam_search"
    _check_common(who, bos_id, eos_id, max_len)
    if not isinstance(beam_size, (int, np.integer)) or beam_size < 1:
        raise ValueError(f"{who}: beam_size must be an int >= 1, got {beam_size!r}")
    _single(state, who)
    xp = _xp_of(state)

    prefixes = [[]]                        # live hypotheses, row k <-> state row k
    sums = np.zeros(1)                     # their summed log-probs
    finished = []                          # (tokens, summed log-prob)
    with no_grad():
        for t in range(1, max_len + 1):
            width = beam_size - len(finished)
            if width <= 0 or not prefixes:
                break
            prev = np.array([p[-1] if p else bos_id for p in prefixes], dtype=np.int64)
            lp, state = _call_step(step_fn, prev, state, xp, who)
            V = lp.shape[1]
            total = (sums[:, None] + lp).reshape(-1)           # (K*V,) candidate sums
            # best `width` candidates; a stable sort keeps ties in (beam, token) order
            order = np.argsort(-total, kind="stable")[:width]
            order = order[np.isfinite(total[order])]
            beams, toks = order // V, order % V
            live = []
            for b, tok, s in zip(beams, toks, total[order]):
                hyp = prefixes[b] + [int(tok)]
                if tok == eos_id or t == max_len:
                    finished.append((hyp, float(s)))
                else:
                    live.append((b, hyp, s))
            prefixes = [hyp for _, hyp, _ in live]
            sums = np.array([s for _, _, s in live])
            if live:
                state = _gather(state, np.array([b for b, _, _ in live], dtype=np.int64))

    ranked = [(tokens, s / len(tokens) ** alpha) for tokens, s in finished]
    ranked.sort(key=lambda h: -h[1])       # stable: equal scores keep the order they finished
    return ranked


# ----------------------------------------------------------------------------- error analysis

def sequence_score(step_fn, state, bos_id, tokens, alpha=0.0):
    """The model's score of a GIVEN output, on the same scale as ``beam_search``:
    sum_t log P(y_t | x, y_<t) / T^alpha, feeding ``tokens`` one by one (teacher forcing).

    Error analysis (notes 004 3.2 误差分析): with y* a human answer and y_hat the beam's,
    sequence_score(y*) > score(y_hat) means the search missed a better output (widen the
    beam); otherwise the model itself prefers the wrong answer (improve the model).
    ``tokens`` as decoders return them: no ``bos_id``, ``eos_id`` included if it ended so.
    """
    who = "sequence_score"
    tokens = [int(t) for t in tokens]
    if not tokens:
        raise ValueError(f"{who}: tokens is empty; a scored output has at least one token")
    _single(state, who)
    xp = _xp_of(state)
    total = 0.0
    with no_grad():
        for prev, tok in zip([bos_id] + tokens[:-1], tokens):
            lp, state = _call_step(step_fn, np.array([prev]), state, xp, who)
            if not 0 <= tok < lp.shape[1]:
                raise IndexError(f"{who}: token {tok} is out of range for {lp.shape[1]} "
                                 "log-probabilities")
            total += lp[0, tok]
    return float(total) / len(tokens) ** alpha
