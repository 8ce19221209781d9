"""Attention layers.

``Attention``: a recurrent decoder attending over the encoder's states, with the three scores
of the notes (000 二, 003 (8)(9), 004 3.4). ``MultiheadAttention``: the transformer's, with
torch's arguments, parameter names, shapes and masks, built on
``F.scaled_dot_product_attention``'s core.
"""
import math

from .. import backend, functional as F, masks
from ..creation import zeros
from ..ops import broadcast_to, cat, tanh
from . import init
from .init import empty
from .layers import Linear
from .module import Module

SCORES = ("dot", "general", "additive")


class Attention(Module):
    """Global (soft) attention of a decoder state over the encoder states.

    The notes' steps, for the decoder state h_t (the query) and encoder states h_s (the keys):
      1. the encoder has produced every h_s;
      2. score(h_t, h_s) for every source position s;
      3. a_t = softmax(scores) over s: the attention weights;
      4. c_t = sum_s a_t[s] h_s: the context (the notes' "reduce_sum" over S);
      5-6. the decoder combines c_t with its own state: that is the model's job, not this layer's.

    score='dot'       h_t . h_s                      (needs query_size == key_size)
    score='general'   h_t . (W h_s)                  W (query_size, key_size)       Luong
    score='additive'  v . tanh(W1 h_t + W2 h_s)      W1 (hidden_size, query_size),
                                                     W2 (hidden_size, key_size),
                                                     v (hidden_size,)    Bahdanau; the notes' MLP
    hidden_size: for 'additive' only (default key_size).

    forward(query (N, Dq), keys (N, S, Dk), values=None, mask=None) -> (context (N, Dv),
    weights (N, S)). ``values`` (N, S, Dv) default to the keys. ``mask`` (N, S) bool, True =
    attend: masked positions get weight exactly 0, and the weights sum to 1 over the others.
    A query of shape (N, T, Dq) attends for T decoder steps at once (teacher forcing without
    input feeding): context (N, T, Dv), weights (N, T, S), mask (N, S) or (N, T, S).
    """

    def __init__(self, query_size, key_size, score="dot", hidden_size=None, device=None,
                 dtype=None):
        super().__init__()
        if score not in SCORES:
            raise ValueError(f"Attention: score must be one of {SCORES}, got {score!r}")
        if score == "dot" and query_size != key_size:
            raise ValueError(f"Attention: score='dot' needs query_size == key_size, got "
                             f"{query_size} and {key_size} (use score='general' or 'additive')")
        if hidden_size is not None and score != "additive":
            raise ValueError(f"Attention: hidden_size is used only by score='additive', "
                             f"got hidden_size={hidden_size} with score={score!r}")
        self.query_size, self.key_size, self.score = query_size, key_size, score
        self.hidden_size = (hidden_size or key_size) if score == "additive" else None
        if score == "general":
            self.W = empty(query_size, key_size, device=device, dtype=dtype)
        elif score == "additive":
            A = self.hidden_size
            self.W1 = empty(A, query_size, device=device, dtype=dtype)
            self.W2 = empty(A, key_size, device=device, dtype=dtype)
            self.v = empty(A, device=device, dtype=dtype)
        self.reset_parameters()

    def reset_parameters(self):
        # U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as torch's Linear.
        for p in self.parameters():
            init.fan_in_uniform_(p, p.shape[-1])

    def scores(self, query, keys):
        """score(h_t, h_s) for every t and s: query (N, T, Dq), keys (N, S, Dk) -> (N, T, S)."""
        keys_T = keys.transpose(1, 2)                                   # (N, Dk, S)
        if self.score == "dot":
            return query @ keys_T
        if self.score == "general":
            return (query @ self.W) @ keys_T                            # (h_t^T W) h_s
        q = F.linear(query, self.W1)[:, :, None, :]                     # (N, T, 1, A)
        k = F.linear(keys, self.W2)[:, None, :, :]                      # (N, 1, S, A)
        return tanh(q + k) @ self.v                                     # (N, T, S)

    def forward(self, query, keys, values=None, mask=None):
        values = keys if values is None else values
        self._check_shapes(query, keys, values)
        single_step = query.ndim == 2
        q = query[:, None, :] if single_step else query                # (N, T, Dq)
        scores = self.scores(q, keys)                                   # step 2: (N, T, S)
        if mask is None:
            weights = F.softmax(scores, axis=-1)                       # step 3
        else:
            weights = F.masked_softmax(scores, self._mask(mask, q, keys, single_step), axis=-1)
        context = weights @ values                                      # step 4: (N, T, Dv)
        if single_step:
            return context[:, 0], weights[:, 0]
        return context, weights

    def _check_shapes(self, query, keys, values):
        if query.ndim not in (2, 3) or query.shape[-1] != self.query_size:
            raise ValueError(f"{self!r}: query must be (N, {self.query_size}) or "
                             f"(N, T, {self.query_size}), got {query.shape}")
        N = query.shape[0]
        if keys.ndim != 3 or keys.shape[0] != N or keys.shape[2] != self.key_size:
            raise ValueError(f"{self!r}: keys must be (N, S, {self.key_size}) with N = {N} "
                             f"as the query's, got {keys.shape}")
        if keys.shape[1] == 0:
            raise ValueError(f"{self!r}: keys have no source positions (S = 0): there is "
                             "nothing to attend to")
        if values.ndim != 3 or values.shape[:2] != keys.shape[:2]:
            raise ValueError(f"{self!r}: values must be (N, S, Dv) = {keys.shape[:2]} + (Dv,) "
                             f"like the keys, got {values.shape}")

    def _mask(self, mask, q, keys, single_step):
        """The mask as a bool array of shape (N, 1, S) or (N, T, S); every query must keep at
        least one position, else its weights would be 0/0."""
        N, T, S = q.shape[0], q.shape[1], keys.shape[1]
        m = masks.mask_array(mask, q)
        if m.dtype != bool:
            raise TypeError(f"{self!r}: mask must be bool (True = attend), got dtype {m.dtype}")
        if tuple(m.shape) == (N, S):
            m = m[:, None, :]
        elif single_step or tuple(m.shape) != (N, T, S):
            expected = f"(N, S) = {(N, S)}" + ("" if single_step else f" or (N, T, S) = {(N, T, S)}")
            raise ValueError(f"{self!r}: mask must be {expected}, got {tuple(m.shape)}")
        empty_rows = ~m.any(axis=-1)                                    # (N, T)
        if bool(empty_rows.any()):
            n, t = (int(i[0]) for i in backend.to_numpy(empty_rows).nonzero())
            row = f"{n}" if single_step else f"({n}, {t})"
            raise ValueError(f"{self!r}: mask row {row} attends to no position (all {S} "
                             "source positions are False); every query needs at least one True")
        return m

    def extra_repr(self):
        extra = f", hidden_size={self.hidden_size}" if self.score == "additive" else ""
        return f"query_size={self.query_size}, key_size={self.key_size}, score={self.score!r}{extra}"


class MultiheadAttention(Module):
    """torch.nn.MultiheadAttention: num_heads attentions side by side on E/num_heads-wide
    projections, concatenated and projected back (Vaswani et al.; notes 002 section 3).

      head_i = softmax(Q W_q,i^T (K W_k,i^T)^T / sqrt(E / heads) + mask) V W_v,i^T
      output = cat(head_1, ..., head_h) W_o^T + b_o

    Parameters as torch: ``in_proj_weight`` (3E, E) holding W_q, W_k, W_v stacked (or
    ``q_proj_weight`` (E, E), ``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim) when kdim
    or vdim differ from E), ``in_proj_bias`` (3E,), ``out_proj.weight`` (E, E),
    ``out_proj.bias`` (E,), and with add_bias_kv ``bias_k``, ``bias_v`` (1, 1, E).

    forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
            average_attn_weights=True, is_causal=False) -> (attn_output, attn_weights or None)
      query (L, N, E), key (S, N, kdim), value (S, N, vdim) -> attn_output (L, N, E)
      ((N, L, E) etc. with batch_first=True; unbatched (L, E) inputs work too).
      attn_weights (N, L, S) averaged over heads, or (N, heads, L, S).
      key_padding_mask (N, S) and attn_mask (L, S) or (N*heads, L, S): bool True = may NOT
      attend (torch's MultiheadAttention convention, the opposite of scaled_dot_product_attention),
      or float, added to the scores. is_causal=True without attn_mask builds the causal mask
      (torch raises there); with attn_mask it is a hint and attn_mask is used, as in torch.
    A query that may attend to nothing gets zero weights (torch: NaN).
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
                 add_zero_attn=False, kdim=None, vdim=None, batch_first=False, device=None,
                 dtype=None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be a positive "
                             f"multiple of num_heads ({num_heads})")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"MultiheadAttention: dropout must be in [0, 1], got {dropout}")
        E = embed_dim
        self.embed_dim, self.num_heads, self.head_dim = E, num_heads, E // num_heads
        self.kdim = E if kdim is None else kdim
        self.vdim = E if vdim is None else vdim
        self._qkv_same_embed_dim = self.kdim == E and self.vdim == E
        self.dropout, self.batch_first, self.add_zero_attn = dropout, batch_first, add_zero_attn
        kw = dict(device=device, dtype=dtype)
        if self._qkv_same_embed_dim:
            self.in_proj_weight = empty(3 * E, E, **kw)
        else:
            self.q_proj_weight = empty(E, E, **kw)
            self.k_proj_weight = empty(E, self.kdim, **kw)
            self.v_proj_weight = empty(E, self.vdim, **kw)
        self.register_parameter("in_proj_bias", empty(3 * E, **kw) if bias else None)
        if add_bias_kv:
            self.bias_k = empty(1, 1, E, **kw)
            self.bias_v = empty(1, 1, E, **kw)
        else:
            self.bias_k = self.bias_v = None
        self.out_proj = Linear(E, E, bias=bias, **kw)
        self.reset_parameters()

    def reset_parameters(self):
        # torch's: Xavier-uniform projections, zero biases, N(0, 1/E) for bias_k and bias_v.
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        for b in (self.in_proj_bias, self.out_proj.bias):
            if b is not None:
                init.zeros_(b)
        for b in (self.bias_k, self.bias_v):
            if b is not None:
                init.normal_(b, std=1.0 / math.sqrt(self.embed_dim))

    # -- forward ------------------------------------------------------------------------
    def forward(self, query, key, value, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True, is_causal=False):
        batched = self._check_inputs(query, key, value)
        self_attention = query is key and key is value
        if not batched:                                   # (L, E) -> a batch of one
            query, key, value = query[None], key[None], value[None]
        elif not self.batch_first:                        # (L, N, E) -> (N, L, E)
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        if self_attention:
            key = value = query
        N, L, S = query.shape[0], query.shape[1], key.shape[1]
        q, k, v = self._in_projection(query, key, value)  # (N, L, E), (N, S, E), (N, S, E)
        parts = self._mask_parts(attn_mask, key_padding_mask, is_causal, q, N, L, S, batched)
        if self.bias_k is not None:                       # one learned key/value more
            k = cat([k, broadcast_to(self.bias_k, (N, 1, self.embed_dim))], axis=1)
            v = cat([v, broadcast_to(self.bias_v, (N, 1, self.embed_dim))], axis=1)
            parts = _attend_extra_key(parts)
        q, k, v = (self._split_heads(t) for t in (q, k, v))   # (N, heads, length, head_dim)
        if self.add_zero_attn:                            # one all-zero key/value more
            zero = zeros(N, self.num_heads, 1, self.head_dim, dtype=q.dtype, device=q.device)
            k, v = cat([k, zero], axis=2), cat([v, zero], axis=2)
            parts = _attend_extra_key(parts)
        attend, bias = masks.merge_mask_parts(*parts)
        p = self.dropout if self.training else 0.0
        out, weights = F.masked_attention(q, k, v, attend, bias, 1.0 / math.sqrt(self.head_dim), p)
        out = out.transpose(1, 2).reshape(N, L, self.embed_dim)        # heads side by side
        out = self.out_proj(out)                                        # (N, L, E)
        if not batched:
            out = out[0]
        elif not self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = weights.mean(axis=1)                              # (N, L, S)
        return out, (weights if batched else weights[0])

    def _in_projection(self, query, key, value):
        """Q = query W_q^T + b_q, K = key W_k^T + b_k, V = value W_v^T + b_v."""
        E = self.embed_dim
        b = self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b[:E], b[E:2 * E], b[2 * E:])
        if not self._qkv_same_embed_dim:
            return (F.linear(query, self.q_proj_weight, bq), F.linear(key, self.k_proj_weight, bk),
                    F.linear(value, self.v_proj_weight, bv))
        if query is key and key is value:                 # self-attention: one matrix product
            qkv = F.linear(query, self.in_proj_weight, b)                # (N, L, 3E)
            return qkv[..., :E], qkv[..., E:2 * E], qkv[..., 2 * E:]
        W = self.in_proj_weight
        return (F.linear(query, W[:E], bq), F.linear(key, W[E:2 * E], bk),
                F.linear(value, W[2 * E:], bv))

    def _split_heads(self, x):
        """(N, length, E) -> (N, heads, length, head_dim)."""
        N, T, _ = x.shape
        return x.reshape(N, T, self.num_heads, self.head_dim).transpose(1, 2)

    def _mask_parts(self, attn_mask, key_padding_mask, is_causal, like, N, L, S, batched):
        """The masks as (attend, bias) pairs broadcastable to the scores (N, heads, L, S)."""
        H, who = self.num_heads, "MultiheadAttention"
        parts = []
        if attn_mask is not None:
            shape = tuple(attn_mask.shape) if hasattr(attn_mask, "shape") else None
            if shape == (L, S):
                m = attn_mask
            elif shape == (N * H, L, S) and batched or shape == (H, L, S) and not batched:
                m = attn_mask.reshape(N, H, L, S)
            else:
                expected = f"({L}, {S}) or ({N * H if batched else H}, {L}, {S})"
                raise ValueError(f"{who}: attn_mask must be (L, S) or "
                                 f"({'N*num_heads' if batched else 'num_heads'}, L, S) = "
                                 f"{expected}, got {shape}")
            parts.append(masks.mask_parts(who, "attn_mask", m, like, true_means="ignore"))
        elif is_causal:
            parts.append((masks.causal_mask(L, S, like), None))
        if key_padding_mask is not None:
            shape = tuple(key_padding_mask.shape) if hasattr(key_padding_mask, "shape") else None
            if shape != ((N, S) if batched else (S,)):
                raise ValueError(f"{who}: key_padding_mask must be "
                                 f"{'(N, S) = ' + str((N, S)) if batched else '(S,) = ' + str((S,))}"
                                 f", got {shape}")
            m = key_padding_mask.reshape(N, 1, 1, S)
            parts.append(masks.mask_parts(who, "key_padding_mask", m, like, true_means="ignore"))
        return parts

    def _check_inputs(self, query, key, value):
        """Shapes as torch checks them; returns whether the inputs carry a batch axis."""
        who, E = "MultiheadAttention", self.embed_dim
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(f"{who}: query, key and value must all be 3-D (batched) or all "
                             f"2-D (unbatched), got {query.shape}, {key.shape}, {value.shape}")
        for t, what, d in ((query, "query", E), (key, "key", self.kdim), (value, "value", self.vdim)):
            if t.shape[-1] != d:
                raise ValueError(f"{who}: {what} must have {d} features on its last axis, "
                                 f"got shape {t.shape}")
        if key.shape[:-1] != value.shape[:-1]:
            raise ValueError(f"{who}: key {key.shape} and value {value.shape} must agree on "
                             "every axis but the last")
        batch_axis = 0 if self.batch_first else 1
        if query.ndim == 3 and query.shape[batch_axis] != key.shape[batch_axis]:
            raise ValueError(f"{who}: query {query.shape} and key {key.shape} have different "
                             f"batch sizes (axis {batch_axis}, batch_first={self.batch_first})")
        return query.ndim == 3

    def extra_repr(self):
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
                f"dropout={self.dropout}, batch_first={self.batch_first}")


def _attend_extra_key(parts):
    """Masks widened by one key column that every query may attend (bias_k, add_zero_attn)."""
    widened = []
    for attend, bias in parts:
        if attend is not None:
            xp = backend.get_array_module(attend)
            column = xp.ones(attend.shape[:-1] + (1,), dtype=bool)
            attend = xp.concatenate([attend, column], axis=-1)
        if bias is not None:
            bias = cat([bias, zeros(*bias.shape[:-1], 1, dtype=bias.dtype,
                                    device=bias.device)], axis=-1)
        widened.append((attend, bias))
    return widened


__all__ = ["Attention", "MultiheadAttention"]
