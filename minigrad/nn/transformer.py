"""Transformer layers (Vaswani et al.; notes 002 section 3) with torch's arguments, parameter
names and forward signatures, and the sinusoidal positional encoding.

Each sub-layer is wrapped as the notes describe: a residual connection around it and layer
normalization, either after the sum (norm_first=False, the paper's "post-norm") or applied to
the sub-layer's input (norm_first=True, "pre-norm", easier to train deep):
    post-norm:  x = LayerNorm(x + Sublayer(x))
    pre-norm:   x = x + Sublayer(LayerNorm(x))
"""
import copy

import numpy as np

from .. import backend
from ..ops import gelu, relu
from ..tensor import Tensor
from .attention import MultiheadAttention
from .init import xavier_uniform_
from .layers import Dropout, LayerNorm, Linear
from .module import Module, ModuleList


def _activation(activation):
    if callable(activation):
        return activation
    if activation == "relu":
        return relu
    if activation == "gelu":
        return gelu
    raise ValueError(f"Transformer layer: activation must be 'relu', 'gelu' or a callable, "
                     f"got {activation!r}")


class _Sublayers:
    """The sub-layers the encoder and decoder layers share: self-attention, and the
    position-wise feed-forward network FFN(x) = linear2(dropout(activation(linear1(x)))),
    applied to every position alike. Each ends in its own dropout, as torch's."""

    def _build(self, d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
               batch_first, norm_first, bias, kw, cross_attention):
        """Create the sub-layers in torch's registration order (its state_dict order):
        self_attn, [multihead_attn], linear1, linear2, norm1, norm2, [norm3]."""
        def attention():
            return MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                      batch_first=batch_first, **kw)
        self.self_attn = attention()
        if cross_attention:
            self.multihead_attn = attention()
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        for i in range(1, 4 if cross_attention else 3):
            setattr(self, f"norm{i}", LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
            setattr(self, f"dropout{i}", Dropout(dropout))
        self.activation = _activation(activation)

    def _feed_forward(self, x):
        return self.linear2(self.dropout(self.activation(self.linear1(x))))

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)


class TransformerEncoderLayer(_Sublayers, Module):
    """Self-attention, then the feed-forward network, each inside residual + LayerNorm.

    torch's arguments and parameter names: ``self_attn.*`` (nn.MultiheadAttention),
    ``linear1`` (dim_feedforward, d_model), ``linear2`` (d_model, dim_feedforward),
    ``norm1``, ``norm2``.
    forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False):
      src (T, N, D) or (N, T, D) with batch_first, or unbatched (T, D) -> the same shape.
      Masks as nn.MultiheadAttention's: src_mask (T, T), src_key_padding_mask (N, T),
      bool True = may not attend, or float added to the scores.
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True,
                 device=None, dtype=None):
        super().__init__()
        self._build(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                    batch_first, norm_first, bias, dict(device=device, dtype=dtype),
                    cross_attention=False)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self.dropout2(self._feed_forward(self.norm2(x)))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self.dropout2(self._feed_forward(x)))
        return x


class TransformerDecoderLayer(_Sublayers, Module):
    """Masked self-attention over the target, attention over the encoder's output (memory),
    then the feed-forward network, each inside residual + LayerNorm.

    torch's parameter names: ``self_attn.*``, ``multihead_attn.*``, ``linear1``, ``linear2``,
    ``norm1``, ``norm2``, ``norm3``.
    forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
            memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
      tgt (T, N, D), memory (S, N, D) (batch first with batch_first=True) -> (T, N, D).
      tgt_mask (T, T) (causal while training: ``generate_square_subsequent_mask(T)`` or
      tgt_is_causal=True), memory_mask (T, S), key padding masks (N, T) and (N, S).
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True,
                 device=None, dtype=None):
        super().__init__()
        self._build(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                    batch_first, norm_first, bias, dict(device=device, dtype=dtype),
                    cross_attention=True)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask,
                                    memory_key_padding_mask, memory_is_causal)
            x = x + self.dropout3(self._feed_forward(self.norm3(x)))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask,
                                               memory_is_causal))
            x = self.norm3(x + self.dropout3(self._feed_forward(x)))
        return x

    def _mha_block(self, x, memory, attn_mask, key_padding_mask, is_causal):
        x = self.multihead_attn(x, memory, memory, attn_mask=attn_mask,
                                key_padding_mask=key_padding_mask, need_weights=False,
                                is_causal=is_causal)[0]
        return self.dropout2(x)


class TransformerEncoder(Module):
    """``num_layers`` copies of ``encoder_layer`` (each with its own weights: ``layers.0.*``,
    ``layers.1.*``, ...), then ``norm`` if given. forward(src, mask=None,
    src_key_padding_mask=None, is_causal=False) as the layer's."""

    def __init__(self, encoder_layer, num_layers, norm=None):
        super().__init__()
        self.layers = ModuleList(copy.deepcopy(encoder_layer) for _ in range(num_layers))
        self.num_layers, self.norm = num_layers, norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                      is_causal=is_causal)
        return x if self.norm is None else self.norm(x)


class TransformerDecoder(Module):
    """``num_layers`` copies of ``decoder_layer`` (``layers.0.*``, ...), then ``norm`` if given;
    forward as the layer's, with every layer attending to the same ``memory``."""

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        self.layers = ModuleList(copy.deepcopy(decoder_layer) for _ in range(num_layers))
        self.num_layers, self.norm = num_layers, norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask,
                      memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)
        return x if self.norm is None else self.norm(x)


class Transformer(Module):
    """The encoder-decoder Transformer with torch's constructor, forward and state_dict names
    (``encoder.layers.0.*``, ``encoder.norm.*``, ``decoder.layers.0.*``, ``decoder.norm.*``):
    a stack of ``num_encoder_layers`` TransformerEncoderLayers and one of
    ``num_decoder_layers`` TransformerDecoderLayers, each ending in a LayerNorm.

    forward(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
            src_key_padding_mask=None, tgt_key_padding_mask=None,
            memory_key_padding_mask=None, src_is_causal=False, tgt_is_causal=False,
            memory_is_causal=False):
      src (S, N, D), tgt (T, N, D) (batch first with batch_first=True) -> (T, N, D).
      tgt_mask: ``Transformer.generate_square_subsequent_mask(T)`` while training.
    Matrices start Xavier-uniform, as torch's. There are no embeddings and no output layer:
    the model around it supplies them.
    """

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
                 dim_feedforward=2048, dropout=0.1, activation="relu", custom_encoder=None,
                 custom_decoder=None, layer_norm_eps=1e-5, batch_first=False, norm_first=False,
                 bias=True, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        layer_args = dict(dim_feedforward=dim_feedforward, dropout=dropout,
                          activation=activation, layer_norm_eps=layer_norm_eps,
                          batch_first=batch_first, norm_first=norm_first, bias=bias, **kw)
        self.encoder = custom_encoder if custom_encoder is not None else TransformerEncoder(
            TransformerEncoderLayer(d_model, nhead, **layer_args), num_encoder_layers,
            LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        self.decoder = custom_decoder if custom_decoder is not None else TransformerDecoder(
            TransformerDecoderLayer(d_model, nhead, **layer_args), num_decoder_layers,
            LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first
        for p in self.parameters():
            if p.ndim > 1:
                xavier_uniform_(p)

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
                src_key_padding_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, src_is_causal=False, tgt_is_causal=False,
                memory_is_causal=False):
        batch_axis = 0 if self.batch_first else 1
        if src.ndim == 3 and tgt.ndim == 3 and src.shape[batch_axis] != tgt.shape[batch_axis]:
            raise ValueError(f"Transformer: src {src.shape} and tgt {tgt.shape} have different "
                             f"batch sizes (axis {batch_axis})")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise ValueError(f"Transformer: src and tgt need d_model={self.d_model} features, "
                             f"got {src.shape} and {tgt.shape}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=bool(src_is_causal))
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=bool(tgt_is_causal), memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz, device=None, dtype=None):
        """The causal mask: 0 on and below the diagonal, -inf above (see the module's
        ``generate_square_subsequent_mask``)."""
        return generate_square_subsequent_mask(sz, device=device, dtype=dtype)


def generate_square_subsequent_mask(sz, device=None, dtype=None):
    """torch's causal mask for a sequence of ``sz``: a float (sz, sz) Tensor, 0 where key
    j <= query i and -inf above the diagonal (position i must not see the future)."""
    xp = backend.xp_for(device)
    dtype = backend.get_default_dtype() if dtype is None else np.dtype(dtype)
    future = xp.triu(xp.ones((sz, sz), dtype=bool), k=1)
    return Tensor._wrap(xp.where(future, -xp.inf, 0.0).astype(dtype))


def sinusoidal_positional_encoding(max_len, d_model, device=None, dtype=None):
    """The table of sinusoidal position codes, a Tensor (max_len, d_model):
        PE[pos, 2i]   = sin(pos / 10000^(2i / d_model))
        PE[pos, 2i+1] = cos(pos / 10000^(2i / d_model))
    Each pair of columns is a clock of its own wavelength (2 pi up to 10000 * 2 pi), so
    PE[pos + k] is a fixed linear function (a rotation) of PE[pos]: relative positions are
    easy to read off. Computed in float64 on the host, then cast and moved.
    """
    pos = np.arange(max_len, dtype=np.float64)[:, None]                   # (max_len, 1)
    rate = 10000.0 ** (-np.arange(0, d_model, 2, dtype=np.float64) / d_model)
    pe = np.zeros((max_len, d_model))
    pe[:, 0::2] = np.sin(pos * rate)
    pe[:, 1::2] = np.cos(pos * rate[: d_model // 2])                      # odd d_model: one fewer
    dtype = backend.get_default_dtype() if dtype is None else np.dtype(dtype)
    return Tensor._wrap(backend.to_device(pe.astype(dtype), backend.check_device(device)))


class PositionalEncoding(Module):
    """Adds the sinusoidal position codes to a sequence of embeddings, then dropout:
        x (T, N, D), or (N, T, D) with batch_first, or unbatched (T, D)  ->  x + PE[offset:offset+T]
    ``pe`` (max_len, d_model) is a buffer, not a parameter: it moves with ``to(device)`` but is
    never trained, and it is left out of ``state_dict`` (it is a fixed function of max_len and
    d_model). ``offset``: the position of the first step (decoding one token at a time).
    """

    def __init__(self, d_model, dropout=0.1, max_len=5000, batch_first=False, device=None,
                 dtype=None):
        super().__init__()
        self.d_model, self.max_len, self.batch_first = d_model, max_len, batch_first
        self.dropout = Dropout(dropout)
        self.register_buffer("pe", sinusoidal_positional_encoding(max_len, d_model, device, dtype),
                             persistent=False)

    def forward(self, x, offset=0):
        if x.ndim not in (2, 3) or x.shape[-1] != self.d_model:
            raise ValueError(f"{self!r}: expected (T, N, {self.d_model}), (N, T, {self.d_model}) "
                             f"with batch_first, or (T, {self.d_model}); got {x.shape}")
        T = x.shape[1] if x.ndim == 3 and self.batch_first else x.shape[0]
        if offset < 0 or offset + T > self.max_len:
            raise ValueError(f"{self!r}: positions {offset}..{offset + T - 1} do not fit "
                             f"max_len={self.max_len}")
        pe = self.pe[offset:offset + T]                                   # (T, D)
        if x.ndim == 3 and not self.batch_first:
            pe = pe[:, None, :]                                           # (T, 1, D)
        return self.dropout(x + pe)

    def extra_repr(self):
        return f"d_model={self.d_model}, max_len={self.max_len}, batch_first={self.batch_first}"


__all__ = ["Transformer", "TransformerEncoderLayer", "TransformerDecoderLayer", "TransformerEncoder",
           "TransformerDecoder", "PositionalEncoding", "sinusoidal_positional_encoding",
           "generate_square_subsequent_mask"]
