"""Padding and batching: variable-length id lists -> rectangular arrays with masks.

Everything here returns NumPy arrays on the host; put a batch on the model's device with
``mg.tensor(ids)``. Shapes use N (batch) and T (time, the longest sequence in the batch).

    ids, mask, lengths = pad_batch([[5, 6, 7], [8]], pad_id=0)
    # ids  [[5 6 7]     mask [[ True  True  True]     lengths [3 1]
    #       [8 0 0]]         [ True False False]]
"""
import numpy as np

from .. import backend

__all__ = ["pad_batch", "decoder_io", "minibatches", "lm_batches"]


def pad_batch(seqs, pad_id=0, length=None):
    """Right-pad id lists to one length.

    seqs: N sequences of ints. length: T (default: the longest); a longer sequence raises.
    Returns ids (N, T) int64, mask (N, T) bool (True at real tokens), lengths (N,) int64.
    """
    seqs = [list(s) for s in seqs]
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    T = int(lengths.max(initial=0)) if length is None else int(length)
    if len(seqs) and lengths.max() > T:
        i = int(lengths.argmax())
        raise ValueError(f"pad_batch: sequence {i} has {lengths[i]} tokens, more than "
                         f"length={T}")
    ids = np.full((len(seqs), T), pad_id, dtype=np.int64)
    mask = np.arange(T)[None, :] < lengths[:, None]
    if len(seqs):
        ids[mask] = np.concatenate([np.asarray(s, dtype=np.int64) for s in seqs])
    return ids, mask, lengths


def decoder_io(targets, bos_id, eos_id, pad_id=0, length=None):
    """Teacher-forcing pairs for a decoder (notes 000 四: the target, shifted, is the input).

    For a target y_1..y_m the decoder reads <bos> y_1 .. y_m and must predict
    y_1 .. y_m <eos>. Returns dec_in (N, T), dec_out (N, T) and mask (N, T) (True where
    dec_out is a real token), with T = longest m + 1 (or ``length``).
    """
    dec_in, mask, _ = pad_batch([[bos_id] + list(y) for y in targets], pad_id, length)
    dec_out, _, _ = pad_batch([list(y) + [eos_id] for y in targets], pad_id, length)
    return dec_in, dec_out, mask


def minibatches(arrays, batch_size, shuffle=False, seed=None, drop_last=False):
    """Yield tuples of row slices of ``arrays`` (equal first dimension N), ``batch_size``
    rows at a time. ``shuffle`` draws the order from ``np.random.default_rng(seed)``, or from
    minigrad's generator (``mg.manual_seed``) when ``seed`` is None. Host arrays or lists."""
    arrays = [np.asarray(a) if isinstance(a, list) else a for a in arrays]
    sizes = {len(a) for a in arrays}
    if len(sizes) != 1:
        raise ValueError(f"minibatches: arrays disagree on the number of rows: {sorted(sizes)}")
    if batch_size < 1:
        raise ValueError(f"minibatches: batch_size must be >= 1, got {batch_size}")
    N = sizes.pop()
    order = np.arange(N)
    if shuffle:
        rng = backend.host_rng() if seed is None else np.random.default_rng(seed)
        order = rng.permutation(N)
    stop = N - N % batch_size if drop_last else N
    for start in range(0, stop, batch_size):
        rows = order[start:start + batch_size]
        yield tuple(a[rows] for a in arrays)


def lm_batches(ids, batch_size, seq_len):
    """Language-model batches for truncated BPTT over one long id stream.

    The stream is cut into N = ``batch_size`` equal lanes read side by side, so the hidden
    state at the end of one batch is the right start for the next. Yields (x, y), both
    (N, seq_len) int64, y = x shifted one token ahead. The tail that does not fill a batch is
    dropped.
    """
    ids = np.asarray(ids, dtype=np.int64)
    lane = (len(ids) - 1) // batch_size
    if lane < seq_len:
        raise ValueError(f"lm_batches: {len(ids)} tokens are too few for batch_size="
                         f"{batch_size} lanes of at least seq_len={seq_len} + 1 tokens")
    x = ids[:lane * batch_size].reshape(batch_size, lane)
    y = ids[1:lane * batch_size + 1].reshape(batch_size, lane)
    for start in range(0, lane - seq_len + 1, seq_len):
        yield x[:, start:start + seq_len], y[:, start:start + seq_len]
