"""Evaluation metrics: BLEU (notes 004 3.3 Bleu得分) and perplexity.

BLEU of candidate translations y_hat against human references (Papineni et al., 2002):

    P_n  = sum over candidates of count_clip(n-grams) / sum over candidates of count(n-grams)
    BP   = 1 if c > r else exp(1 - r / c)
    BLEU = BP * exp(sum_n w_n log P_n)          (w_n = 1/N by default, N = max_n)

count_clip(g) = min(count of g in the candidate, max count of g in any one of its references):
a candidate word is only credited as often as a reference uses it. c is the total candidate
length; r the sum, over candidates, of the reference length closest to the candidate's length
(the shorter one on a tie). Corpus BLEU sums the counts over the corpus before dividing; it
is not the mean of sentence BLEUs.

Tokens are any hashable values (words, characters, ids). Inputs are token lists.
"""
import math
from collections import Counter

import numpy as np

from . import backend
from .tensor import Tensor

__all__ = ["bleu", "sentence_bleu", "perplexity", "ngram_counts", "brevity_penalty"]

SMOOTHINGS = (None, "epsilon", "add1")
EPSILON = 0.1
_SEQUENCES = (list, tuple, np.ndarray)


def ngram_counts(tokens, n):
    """Counter of the n-grams (as tuples) of a token list."""
    tokens = tuple(tokens)
    return Counter(tokens[i:i + n] for i in range(len(tokens) - n + 1))


def brevity_penalty(c, r):
    """BP = 1 if c > r else exp(1 - r/c); 0 for an empty candidate (c = 0)."""
    if c > r:
        return 1.0
    if c == 0:
        return 0.0
    return math.exp(1.0 - r / c)


def _closest_ref_length(c, ref_lengths):
    # closest in length; on a tie the shorter reference (Papineni's "best match length")
    return min(ref_lengths, key=lambda r: (abs(r - c), r))


def _check_corpus(candidates, references):
    if len(candidates) != len(references):
        raise ValueError(f"bleu: got {len(candidates)} candidates but {len(references)} "
                         "reference sets (expected one list of references per candidate)")
    for i, refs in enumerate(references):
        if isinstance(refs, str) or not all(isinstance(r, _SEQUENCES) for r in refs):
            raise TypeError(f"bleu: references[{i}] must be a list of reference token lists, "
                            f"got {refs!r:.60}; for a single reference write [ref]")
        if len(refs) == 0:
            raise ValueError(f"bleu: references[{i}] is empty; each candidate needs at least "
                             "one reference")
    for i, cand in enumerate(candidates):
        if isinstance(cand, str):
            raise TypeError(f"bleu: candidates[{i}] is a string {cand!r:.40}; pass a list of "
                            "tokens (e.g. s.split() or list(s))")


def bleu(candidates, references, max_n=4, weights=None, smooth=None):
    """Corpus BLEU in [0, 1].

    candidates: list of token lists (the system outputs y_hat).
    references: list, one entry per candidate, of lists of reference token lists.
    max_n: the largest n-gram order N. weights: w_1..w_N (default 1/N each; rescaled to sum
      to 1 over the orders used).
    smooth: what to do with an order that has candidate n-grams but no match (which makes the
      unsmoothed score 0, common for short sentences):
      None      : P_n = 0, so BLEU = 0 (Papineni).
      'epsilon' : the zero numerator becomes 0.1 (Chen & Cherry 2014, method 1).
      'add1'    : for n >= 2, add 1 to numerator and denominator (Lin & Och 2004; method 2).
    An order with no candidate n-grams at all (every candidate shorter than n) has no
    precision to measure: it is left out and the other weights are rescaled to sum to 1 (as
    sacreBLEU's effective order), so a one-token candidate equal to its reference scores 1.
    An empty candidate corpus (c = 0) scores 0. Never raises on empty or short candidates.
    """
    _check_corpus(candidates, references)
    if not isinstance(max_n, int) or max_n < 1:
        raise ValueError(f"bleu: max_n must be an int >= 1, got {max_n!r}")
    if weights is None:
        weights = [1.0 / max_n] * max_n
    weights = [float(w) for w in weights]
    if len(weights) != max_n:
        raise ValueError(f"bleu: got {len(weights)} weights for max_n={max_n} (expected one "
                         "weight per n-gram order)")
    if smooth not in SMOOTHINGS:
        raise ValueError(f"bleu: unknown smooth={smooth!r}; expected one of {SMOOTHINGS}")

    matches = [0] * max_n          # sum of clipped counts per order
    totals = [0] * max_n           # sum of candidate n-gram counts per order
    c = r = 0
    for cand, refs in zip(candidates, references):
        c += len(cand)
        r += _closest_ref_length(len(cand), [len(ref) for ref in refs])
        for n in range(1, max_n + 1):
            counts = ngram_counts(cand, n)
            max_ref = Counter()
            for ref in refs:
                max_ref |= ngram_counts(ref, n)        # | keeps the max count of each n-gram
            matches[n - 1] += sum(min(k, max_ref[g]) for g, k in counts.items())
            totals[n - 1] += sum(counts.values())

    if c == 0:
        return 0.0
    log_p, used = 0.0, 0.0
    for n in range(1, max_n + 1):
        m, tot, w = matches[n - 1], totals[n - 1], weights[n - 1]
        if tot == 0 or w == 0:
            continue
        if smooth == "add1" and n >= 2:
            m, tot = m + 1, tot + 1
        elif smooth == "epsilon" and m == 0:
            m = EPSILON
        if m == 0:
            return 0.0
        log_p += w * math.log(m / tot)
        used += w
    if used == 0:
        return 0.0
    return brevity_penalty(c, r) * math.exp(log_p / used)


def sentence_bleu(candidate, references, max_n=4, weights=None, smooth=None):
    """BLEU of one candidate token list against its list of reference token lists
    (``bleu([candidate], [references], ...)``)."""
    return bleu([candidate], [references], max_n=max_n, weights=weights, smooth=smooth)


def perplexity(mean_nll):
    """exp(mean negative log-likelihood per token), e.g. of ``F.cross_entropy``'s mean loss.
    A model that guesses uniformly among V tokens has perplexity V."""
    value = mean_nll.array if isinstance(mean_nll, Tensor) else mean_nll
    value = backend.to_numpy(value) if backend.is_cupy_array(value) else np.asarray(value)
    if value.size != 1:
        raise ValueError(f"perplexity: expected a scalar mean NLL, got shape {value.shape}")
    return math.exp(float(value.reshape(-1)[0]))
