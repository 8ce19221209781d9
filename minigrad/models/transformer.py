"""A small transformer encoder-decoder (Vaswani et al. 2017; notes 002 section 3, 003
Attention Is All You Need).

    source:  x = Embed(src) * sqrt(d_model) + PE         -> encoder layers -> memory (N, S, D)
    target:  y = Embed(<START> y_1 .. y_{T-1}) * sqrt(d_model) + PE
             -> decoder layers (masked self-attention: step t sees steps <= t only;
                attention over the memory; feed-forward), each in residual + LayerNorm
             -> Linear -> p(y_t | y_<t, x)

The causal mask makes one teacher-forced pass compute every step's distribution at once,
exactly as decoding one token at a time would. Shapes: N batch, S source length, T target
length, D = d_model, V vocabulary. Targets carry <START> as in seq2seq.py: tgt (N, T+1).
"""
import math

from .. import backend, functional as F, nn
from ..tensor import no_grad
from ._common import ignore_index_of, sequence_log_prob, token_ids


class TransformerSeq2Seq(nn.Module):
    """Transformer encoder-decoder with sinusoidal positional encoding.

    Arguments: vocab_size (source, and target unless tgt_vocab_size is given), d_model,
    nhead, num_encoder_layers, num_decoder_layers, dim_feedforward, dropout, max_len (the
    longest sequence the positional table covers), pad_id, norm_first (pre-norm layers).

    forward(src (N, S), tgt_in (N, T)) -> log-probs (N, T, V)
    loss(src, tgt (N, T+1)) -> mean NLL per target token;  score(src, tgt) -> (N,)
    initial_state(src) + step_fn(prev_tokens, state): for minigrad.decoding
    """

    def __init__(self, vocab_size, d_model=64, nhead=4, num_encoder_layers=2,
                 num_decoder_layers=2, dim_feedforward=256, dropout=0.1, max_len=512,
                 pad_id=None, tgt_vocab_size=None, norm_first=False):
        super().__init__()
        tgt_vocab_size = vocab_size if tgt_vocab_size is None else tgt_vocab_size
        self.d_model, self.pad_id = d_model, pad_id
        self.src_embedding = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        self.tgt_embedding = nn.Embedding(tgt_vocab_size, d_model, padding_idx=pad_id)
        for emb in (self.src_embedding, self.tgt_embedding):
            # N(0, 1/D), scaled by sqrt(D) in forward: unit-sized vectors, the size of PE's
            nn.init.normal_(emb.weight, std=d_model ** -0.5)
            if pad_id is not None:
                emb.weight.array[pad_id] = 0
        self.positional = nn.PositionalEncoding(d_model, dropout, max_len, batch_first=True)
        layer = dict(d_model=d_model, nhead=nhead, dim_feedforward=dim_feedforward,
                     dropout=dropout, batch_first=True, norm_first=norm_first)
        # pre-norm stacks end in a LayerNorm of their own, as torch's nn.Transformer
        self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(**layer),
                                             num_encoder_layers,
                                             nn.LayerNorm(d_model) if norm_first else None)
        self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(**layer),
                                             num_decoder_layers,
                                             nn.LayerNorm(d_model) if norm_first else None)
        self.output = nn.Linear(d_model, tgt_vocab_size)

    def _embed(self, embedding, ids, offset=0):
        return self.positional(embedding(ids) * math.sqrt(self.d_model), offset)

    def encode(self, src):
        """src (N, S) -> (memory (N, S, D), padding (N, S) bool True at padding, or None)."""
        src = token_ids(src, self.output.weight, "TransformerSeq2Seq")
        padding = None
        if self.pad_id is not None and bool((src == self.pad_id).any()):
            padding = src == self.pad_id
        memory = self.encoder(self._embed(self.src_embedding, src),
                              src_key_padding_mask=padding)
        return memory, padding

    def decode(self, tgt_in, memory, padding):
        """tgt_in (N, T) = <START> y_1 .. y_{T-1} -> logits (N, T, V); step t attends to
        target steps <= t and to the unpadded source positions."""
        T = tgt_in.shape[1]
        causal = nn.generate_square_subsequent_mask(T, device=memory.device, dtype=memory.dtype)
        h = self.decoder(self._embed(self.tgt_embedding, tgt_in), memory, tgt_mask=causal,
                         memory_key_padding_mask=padding, tgt_is_causal=True)
        return self.output(h)

    def forward(self, src, tgt_in):
        tgt_in = token_ids(tgt_in, self.output.weight, "TransformerSeq2Seq")
        memory, padding = self.encode(src)
        return F.log_softmax(self.decode(tgt_in, memory, padding))

    def loss(self, src, tgt):
        """Mean cross-entropy of tgt[:, 1:] given src and tgt[:, :-1] (padding skipped)."""
        tgt = token_ids(tgt, self.output.weight, "TransformerSeq2Seq.loss")
        memory, padding = self.encode(src)
        logits = self.decode(tgt[:, :-1], memory, padding)
        return F.cross_entropy(logits, tgt[:, 1:], ignore_index=ignore_index_of(self.pad_id))

    def score(self, src, tgt):
        """log P(y|x) (N,) for tgt (N, T+1) = <START> y (padding skipped); notes 004 3.2."""
        tgt = token_ids(tgt, self.output.weight, "TransformerSeq2Seq.score")
        return sequence_log_prob(self(src, tgt[:, :-1]), tgt[:, 1:],
                                 ignore_index_of(self.pad_id))

    def initial_state(self, src):
        """The decoding state for ``src`` (N, S): the memory, the source padding mask, and
        the tokens fed so far ("prefix", (N, 0) at the start). Call under ``mg.no_grad()``."""
        memory, padding = self.encode(src)
        xp = backend.get_array_module(memory.array)
        prefix = xp.zeros((memory.shape[0], 0), dtype=xp.int64)
        return {"memory": memory, "padding": padding, "prefix": prefix}

    def step_fn(self, prev_tokens, state):
        """prev_tokens (K,), state (leading K) -> (log_probs (K, V), state). The decoder has
        no recurrent state: each step appends the token to the prefix and reruns the decoder
        over it (a key/value cache would avoid the rerun; this keeps it one code path)."""
        ids = token_ids(prev_tokens, self.output.weight, "TransformerSeq2Seq.step_fn", ndim=1)
        xp = backend.get_array_module(ids)
        prefix = xp.concatenate([state["prefix"], ids[:, None]], axis=1)     # (K, t)
        with no_grad():
            logits = self.decode(prefix, state["memory"], state["padding"])[:, -1]   # (K, V)
            return F.log_softmax(logits), dict(state, prefix=prefix)


__all__ = ["TransformerSeq2Seq"]
