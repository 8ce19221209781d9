"""torch's ``nn.utils.rnn``: ``pad_sequence``, and packed sequences, which minigrad replaces
with a ``lengths=`` argument of the recurrent layers' forward."""
from ..creation import zeros
from ..ops import cat, stack

_USE_LENGTHS = ("minigrad has no packed sequences: pad the batch (pad_sequence) and pass the "
                "real lengths to the layer instead, e.g. output, h_n = lstm(x, lengths=lengths); "
                "padded outputs come back as 0 and h_n holds each sequence's last real state")


def pad_sequence(sequences, batch_first=False, padding_value=0.0):
    """Tensors (L_i, *) -> one tensor (T, N, *) (or (N, T, *) with batch_first), padded with
    ``padding_value`` after each sequence up to the longest, T. Differentiable."""
    sequences = list(sequences)
    if not sequences:
        raise ValueError("pad_sequence: expected a non-empty list of tensors")
    T = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        pad = zeros((T - s.shape[0],) + tuple(s.shape[1:]), dtype=s.dtype, device=s.device)
        padded.append(cat([s, pad + padding_value if padding_value else pad], 0))
    return stack(padded, 1 if not batch_first else 0)


def pack_padded_sequence(*args, **kwargs):
    raise NotImplementedError(f"pack_padded_sequence: {_USE_LENGTHS}")


def pad_packed_sequence(*args, **kwargs):
    raise NotImplementedError(f"pad_packed_sequence: {_USE_LENGTHS}")


def pack_sequence(*args, **kwargs):
    raise NotImplementedError(f"pack_sequence: {_USE_LENGTHS}")


__all__ = ["pad_sequence", "pack_padded_sequence", "pad_packed_sequence", "pack_sequence"]
