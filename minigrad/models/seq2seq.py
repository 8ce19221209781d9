"""Seq2seq: a recurrent encoder and a recurrent decoder, with or without attention (notes
000 一 4 and 二, 001, 002, 003 Seq2Seq/Attention, 004 3.1 and 3.4).

The notes' Layer / Model split (000 三): ``Encoder`` and ``Decoder`` are layers, ``Seq2Seq``
is the model that wires them, trains them and decodes with them.

    Encoder   embed the source, run a (bi)directional RNN: every state h̄_s and the last one
              (bidirectional: forward and backward side by side, 2 * hidden_size wide)
    Decoder   starts at <START> from the encoder's last state, one-directional, and at
              each step t:
                  h_t = RNN(embed(y_{t-1}) [; h̃_{t-1} if input feeding] [; summary if peeky])
                  with attention (Luong):
                      a_t = softmax_s(score(h_t, h̄_s)),  c_t = sum_s a_t[s] h̄_s
                      h̃_t = tanh(W_c [c_t; h_t])                        notes 003 (8)
                  p(y_t | y_<t, x) = softmax(W_s [h̃_t or h_t] [; summary if peeky] + b_s)
                  optionally averaged with the prior-knowledge softmax (prior.py)
              until it emits <END>.

The variants are parts the decoder is given (``DecoderPart``s), each bringing its layers, its
entries of the decoder state, and its piece of the step: ``LuongAttention`` (attention, with or
without input feeding: Luong et al. 2015 3.3, h̃_{t-1} joins the next input, the notes' 二 ⑥),
``PeekySummary`` (the encoder's summary joins every decoder input and the output layer, as in
the DLS2 book's PeekyDecoder), ``PriorOutput`` (the notes' 先验知识 output layer). ``Seq2Seq``
picks them from its options: ``attention`` None | 'dot' | 'general' | 'additive' (nn.Attention's
scores; the notes' MLP score is 'additive'), ``input_feeding``, ``peeky``, ``prior``. The
state holds only the entries of the parts a model has.

Targets carry <START>: ``tgt`` (N, T+1) = <START> y_1 .. y_T, where y ends with <END> and may
be followed by padding. The decoder reads tgt[:, :-1] and is scored on tgt[:, 1:].
Batches are right-padded with ``pad_id``: padded source positions are skipped by the encoder
and masked out of attention, padded targets are skipped by the loss.

Shapes: N batch, S source length, T target length, D embedding, H hidden (the decoder's;
equal to the encoder's output width Hm), L layers, V vocabulary.
"""
from types import SimpleNamespace

from .. import backend, functional as F, nn
from ..creation import zeros
from ..decoding import greedy_decode_batch
from ..ops import cat, tanh
from ..tensor import no_grad
from ._common import (ignore_index_of, make_rnn, sequence_log_prob, swap_batch_and_layer,
                      token_ids)
from .prior import PriorKnowledge, source_word_vector


class Encoder(nn.Module):
    """Embedding -> (bi)directional RNN over the source (notes 000 4.1).

    forward(src (N, S), lengths=None) -> (memory (N, S, Hm), final (L, N, Hm)), where
    Hm = output_size = hidden_size * (2 if bidirectional else 1): a bidirectional encoder puts
    the forward and backward states side by side, in every h̄_s and in the final state
    (forward's last step, backward's first). LSTM: final is a pair (h, c).
    """

    def __init__(self, vocab_size, embed_size, hidden_size, cell="lstm", num_layers=1,
                 bidirectional=False, dropout=0.0, pad_id=None):
        super().__init__()
        self.num_layers, self.bidirectional = num_layers, bidirectional
        self.output_size = hidden_size * (2 if bidirectional else 1)
        self.embedding = nn.Embedding(vocab_size, embed_size, padding_idx=pad_id)
        self.dropout = nn.Dropout(dropout)
        self.rnn = make_rnn("Encoder", cell, embed_size, hidden_size, num_layers, dropout,
                            bidirectional)

    def forward(self, src, lengths=None):
        x = self.dropout(self.embedding(src))                 # (N, S, D)
        memory, final = self.rnn(x, lengths=lengths)          # (N, S, Hm), (L*dirs, N, H)
        return memory, self._join_directions(final)

    def _join_directions(self, final):
        """(L*2, N, H) -> (L, N, 2H): each layer's forward and backward states side by side."""
        if isinstance(final, tuple):
            return tuple(self._join_directions(f) for f in final)
        if not self.bidirectional:
            return final
        L, N, H = self.num_layers, final.shape[1], final.shape[2]
        both = final.reshape(L, 2, N, H)                      # torch's order: layer, direction
        return cat([both[:, 0], both[:, 1]], axis=-1)


class DecoderPart:
    """A piece a variant adds to the ``Decoder``. The decoder asks each of its parts, in turn,
    for the layers it brings, what it adds to the starting state, to every step's input and to
    the output layer's features; a part that adds nothing leaves the default."""
    input_size = 0          # extra features it puts beside the embedded word
    output_size = 0         # extra features it puts beside h (or h̃) before the output layer

    def build(self):
        """Make this part's layers: name -> layer, registered on the decoder under these names
        (the checkpoint keys). Called once by the decoder, after its RNN, so that a seeded
        model draws its initial weights in the same order whichever parts it has."""
        return {}

    def start(self, state, encoded):
        """Add this part's entries to the starting state; ``encoded`` has src (N, S) ids,
        memory (N, S, Hm), mask (N, S) bool or None, top (N, Hm): the encoder's last state."""

    def inputs(self, state, N, T):
        return []

    def features(self, state, N, T):
        return []


class LuongAttention(DecoderPart):
    """The attention combiner (Luong et al. 2015; notes 003 (8)(9)): after the RNN,
        a_t = softmax_s(score(h_t, h̄_s)),  c_t = sum_s a_t[s] h̄_s,  h̃_t = tanh(W_c [c_t; h_t])
    and h̃_t replaces h_t. ``input_feeding``: h̃_{t-1} joins the next step's input, so each
    step knows what the last one attended to (the notes' 二 ⑥); the steps then run one by one.
    State: memory (N, S, Hm), mask (N, S) when the source is padded, feed (N, H) with input
    feeding. Layers: ``attention`` (nn.Attention), ``combine`` (W_c)."""

    def __init__(self, hidden_size, score="dot", attention_hidden_size=None, input_feeding=False):
        self.H, self.score, self.attention_hidden_size = hidden_size, score, attention_hidden_size
        self.input_feeding = input_feeding
        self.input_size = hidden_size if input_feeding else 0

    def build(self):
        H = self.H
        self.attention = nn.Attention(H, H, score=self.score, hidden_size=self.attention_hidden_size)
        self.combine = nn.Linear(2 * H, H, bias=False)    # W_c of h̃_t = tanh(W_c [c_t; h_t])
        return {"attention": self.attention, "combine": self.combine}

    def start(self, state, encoded):
        state["memory"] = encoded.memory
        if encoded.mask is not None:
            state["mask"] = encoded.mask
        if self.input_feeding:
            state["feed"] = zeros(*encoded.top.shape, dtype=encoded.top.dtype,
                                  device=encoded.top.device)

    def inputs(self, state, N, T):
        return [state["feed"][:, None]] if self.input_feeding else []      # h̃_{t-1}: (N, 1, H)

    def __call__(self, h, state):
        """h (N, T, H) -> (h̃ (N, T, H), weights (N, T, S)); records h̃ for input feeding."""
        context, weights = self.attention(h, state["memory"], mask=state.get("mask"))
        h = tanh(self.combine(cat([context, h], axis=-1)))
        if self.input_feeding:
            state["feed"] = h[:, -1]
        return h, weights


class PeekySummary(DecoderPart):
    """Peeky decoding (the DLS2 book's PeekyDecoder): the encoder's summary, its top layer's
    last state (N, Hm), joins every decoder input and the output layer's features."""

    def __init__(self, hidden_size):
        self.input_size = self.output_size = hidden_size

    def start(self, state, encoded):
        state["summary"] = encoded.top

    def inputs(self, state, N, T):
        return [state["summary"][:, None].broadcast_to(N, T, self.input_size)]   # (N, T, H)

    features = inputs


class PriorOutput(DecoderPart):
    """The notes' 先验知识 output layer (prior.py): log p averages the decoder's softmax with
    softmax(S ⊗ X + t), X the 0/1 vector of the source's words. State: source_words (N, V).
    Layer: ``prior``."""

    def __init__(self, vocab_size, pad_id=None):
        self.vocab_size = vocab_size
        self.ignore = () if pad_id is None else (pad_id,)

    def build(self):
        self.prior = PriorKnowledge(self.vocab_size)
        return {"prior": self.prior}

    def start(self, state, encoded):
        state["source_words"] = source_word_vector(encoded.src, self.vocab_size,
                                                   self.ignore, dtype=encoded.memory.dtype)

    def log_probs(self, logits, state):
        return self.prior(logits, state["source_words"])


class Decoder(nn.Module):
    """The one-directional recurrent decoder (notes 000 4.2); see the module docstring.

    Parts (``DecoderPart``s, each optional): ``attention`` a ``LuongAttention``, ``peeky`` a
    ``PeekySummary``, ``prior`` a ``PriorOutput``.

    forward(tokens (N, T), state) -> (logits (N, T, V), state, weights (N, T, S) or None)

    ``state`` is the dict ``Seq2Seq.initial_state`` builds, every entry batch-first: hidden
    (N, L, H) (LSTM: (h, c)) and the entries of the parts. With input feeding each step needs
    the previous one's h̃, so T must be 1.
    """

    def __init__(self, vocab_size, embed_size, hidden_size, cell="lstm", num_layers=1,
                 attention=None, peeky=None, prior=None, dropout=0.0, pad_id=None):
        super().__init__()
        H = hidden_size
        self.attention_part, self.prior_part = attention, prior
        self.parts = [p for p in (attention, peeky, prior) if p is not None]
        self.one_step = attention is not None and attention.input_feeding
        self.embedding = nn.Embedding(vocab_size, embed_size, padding_idx=pad_id)
        self.dropout = nn.Dropout(dropout)
        rnn_input = embed_size + sum(p.input_size for p in self.parts)
        self.rnn = make_rnn("Decoder", cell, rnn_input, H, num_layers, dropout)
        for part in self.parts:
            for name, layer in part.build().items():
                setattr(self, name, layer)
        self.output = nn.Linear(H + sum(p.output_size for p in self.parts), vocab_size)

    def forward(self, tokens, state):
        N, T = tokens.shape
        if self.one_step and T != 1:
            raise ValueError(f"Decoder: with input_feeding the decoder runs one step at a time "
                             f"(tokens (N, 1)), got tokens of shape {(N, T)}")
        inputs = [self.dropout(self.embedding(tokens))]       # (N, T, D)
        for part in self.parts:
            inputs += part.inputs(state, N, T)
        x = inputs[0] if len(inputs) == 1 else cat(inputs, axis=-1)
        h, hidden = self.rnn(x, swap_batch_and_layer(state["hidden"]))   # (N, T, H)
        state = dict(state, hidden=swap_batch_and_layer(hidden))
        weights = None
        if self.attention_part is not None:
            h, weights = self.attention_part(h, state)                   # h̃_t (N, T, H)
        features = [self.dropout(h)]
        for part in self.parts:
            features += part.features(state, N, T)
        x = features[0] if len(features) == 1 else cat(features, axis=-1)
        return self.output(x), state, weights

    def log_probs(self, logits, state):
        """log p(y_t | y_<t, x) from the logits (N, ..., V): log-softmax, or with the prior
        layer log((softmax(S ⊗ X + t) + softmax(logits)) / 2)."""
        if self.prior_part is None:
            return F.log_softmax(logits)
        return self.prior_part.log_probs(logits, state)


class Seq2Seq(nn.Module):
    """Encoder + Decoder, trained by teacher forcing, decoded with minigrad.decoding.

    Arguments: vocab_size (source, and target unless tgt_vocab_size is given), embed_size,
    hidden_size (the encoder's per direction; the decoder's is the encoder's output width,
    2 * hidden_size when bidirectional, so that the encoder's last state can start it),
    cell 'rnn' | 'lstm' | 'gru', num_layers (both), bidirectional (the encoder),
    attention None | 'dot' | 'general' | 'additive', attention_hidden_size ('additive'),
    input_feeding, peeky, prior (needs one vocabulary for source and target), dropout,
    pad_id.

    forward(src (N, S), tgt_in (N, T), teacher_forcing_ratio=1.0) -> log-probs (N, T, V)
    loss(src, tgt (N, T+1), teacher_forcing_ratio=1.0) -> mean NLL per target token
    score(src, tgt (N, T+1)) -> log P(y|x) (N,)
    initial_state(src) + step_fn(prev_tokens, state): for minigrad.decoding
    """

    def __init__(self, vocab_size, embed_size, hidden_size, cell="lstm", num_layers=1,
                 bidirectional=False, attention=None, attention_hidden_size=None,
                 input_feeding=False, peeky=False, prior=False, dropout=0.0, pad_id=None,
                 tgt_vocab_size=None):
        super().__init__()
        tgt_vocab_size = vocab_size if tgt_vocab_size is None else tgt_vocab_size
        if prior and tgt_vocab_size != vocab_size:
            raise ValueError(f"Seq2Seq: prior marks source words in the target vocabulary, so "
                             f"both need one vocabulary; got vocab_size={vocab_size}, "
                             f"tgt_vocab_size={tgt_vocab_size}")
        if input_feeding and attention is None:
            raise ValueError("Seq2Seq: input_feeding feeds the attentional vector h̃_{t-1} "
                             "to the next step, so it needs attention (got attention=None)")
        self.pad_id = pad_id
        self.encoder = Encoder(vocab_size, embed_size, hidden_size, cell, num_layers,
                               bidirectional, dropout, pad_id)
        H = self.encoder.output_size
        parts = {
            "attention": None if attention is None else LuongAttention(
                H, attention, attention_hidden_size, input_feeding),
            "peeky": PeekySummary(H) if peeky else None,
            "prior": PriorOutput(tgt_vocab_size, pad_id) if prior else None,
        }
        self.decoder = Decoder(tgt_vocab_size, embed_size, H, cell, num_layers, dropout=dropout,
                               pad_id=pad_id, **parts)

    # -- encoding ---------------------------------------------------------------------
    def initial_state(self, src):
        """Encode ``src`` (N, S) into the decoder's starting state: a dict whose entries all
        have the batch first (see Decoder). Call it under ``mg.no_grad()`` when decoding."""
        src = token_ids(src, self.decoder.output.weight, "Seq2Seq")
        mask = lengths = None
        if self.pad_id is not None and bool((src == self.pad_id).any()):
            mask = src != self.pad_id                          # (N, S), True = a real word
            lengths = mask.sum(axis=1)
        memory, final = self.encoder(src, lengths)             # (N, S, H), (L, N, H)
        hidden = swap_batch_and_layer(final)                   # (N, L, H)
        top = (hidden[0] if isinstance(hidden, tuple) else hidden)[:, -1]   # (N, H)
        state = {"hidden": hidden}
        encoded = SimpleNamespace(src=src, memory=memory, mask=mask, top=top)
        for part in self.decoder.parts:
            part.start(state, encoded)
        return state

    # -- training ---------------------------------------------------------------------
    def forward(self, src, tgt_in, teacher_forcing_ratio=1.0):
        """log p(y_t | y_<t, x) for every step: src (N, S), tgt_in (N, T) = <START> y_1 ..
        y_{T-1} -> (N, T, V). See ``decoder_logits`` for ``teacher_forcing_ratio``."""
        logits, state = self.decoder_logits(src, tgt_in, teacher_forcing_ratio)
        return self.decoder.log_probs(logits, state)

    def decoder_logits(self, src, tgt_in, teacher_forcing_ratio=1.0):
        """The decoder's logits (N, T, V) and its final state.

        teacher_forcing_ratio = 1: teacher forcing, every input is the true previous word,
        and without input feeding all T steps run as one call of the recurrent layer.
        < 1: scheduled sampling (notes 000 四 ③): each row's input at step t is the true
        y_{t-1} with this probability and otherwise the model's own most probable word of
        step t-1 (0: always its own, as at test time).
        """
        if not 0.0 <= teacher_forcing_ratio <= 1.0:
            raise ValueError(f"Seq2Seq: teacher_forcing_ratio must be in [0, 1], got "
                             f"{teacher_forcing_ratio}")
        tgt_in = token_ids(tgt_in, self.decoder.output.weight, "Seq2Seq")
        state = self.initial_state(src)
        if teacher_forcing_ratio == 1.0 and not self.decoder.one_step:
            logits, state, _ = self.decoder(tgt_in, state)
            return logits, state
        xp = backend.get_array_module(tgt_in)
        N, T = tgt_in.shape
        steps, tokens = [], tgt_in[:, 0]
        for t in range(T):
            logits, state, _ = self.decoder(tokens[:, None], state)    # (N, 1, V)
            steps.append(logits)
            if t + 1 == T:
                break
            tokens = tgt_in[:, t + 1]
            if teacher_forcing_ratio < 1.0:
                with no_grad():
                    guess = self.decoder.log_probs(logits[:, 0], state).array.argmax(axis=-1)
                coin = backend.rng_for(xp).random(N) < teacher_forcing_ratio
                tokens = xp.where(coin, tokens, guess)
        return cat(steps, axis=1), state

    def loss(self, src, tgt, teacher_forcing_ratio=1.0):
        """Mean negative log-likelihood of tgt[:, 1:] given src and tgt[:, :-1] (padding
        skipped): the cross-entropy of notes 001."""
        tgt = token_ids(tgt, self.decoder.output.weight, "Seq2Seq.loss")
        logits, state = self.decoder_logits(src, tgt[:, :-1], teacher_forcing_ratio)
        ignore = ignore_index_of(self.pad_id)
        if self.decoder.prior_part is None:      # one fused op: the same value, faster
            return F.cross_entropy(logits, tgt[:, 1:], ignore_index=ignore)
        return F.nll_loss(self.decoder.log_probs(logits, state), tgt[:, 1:], ignore_index=ignore)

    # -- decoding and analysis --------------------------------------------------------
    def step_fn(self, prev_tokens, state):
        """One decoder step for minigrad.decoding: prev_tokens (K,), state (from
        ``initial_state``, leading dimension K) -> (log_probs (K, V), state)."""
        ids = token_ids(prev_tokens, self.decoder.output.weight, "Seq2Seq.step_fn", ndim=1)
        with no_grad():
            logits, state, _ = self.decoder(ids[:, None], state)
            return self.decoder.log_probs(logits[:, 0], state), state

    def score(self, src, tgt):
        """log P(y|x) = sum_t log p(y_t | y_<t, x) for tgt (N, T+1) = <START> y (padding
        skipped) -> (N,). Beam-search error analysis (notes 004 3.2) compares it for the
        reference y* and the beam's output y_hat: P(y*|x) > P(y_hat|x) blames the search."""
        tgt = token_ids(tgt, self.decoder.output.weight, "Seq2Seq.score")
        return sequence_log_prob(self(src, tgt[:, :-1]), tgt[:, 1:],
                                 ignore_index_of(self.pad_id))

    def attention_weights(self, src, tgt_in):
        """The attention weights a_t (N, T, S) of a teacher-forced pass (for heatmaps)."""
        if self.decoder.attention_part is None:
            raise ValueError("Seq2Seq.attention_weights: this model has no attention")
        tgt_in = token_ids(tgt_in, self.decoder.output.weight, "Seq2Seq.attention_weights")
        with no_grad():
            state = self.initial_state(src)
            if not self.decoder.one_step:
                return self.decoder(tgt_in, state)[2]
            steps = []
            for t in range(tgt_in.shape[1]):
                _, state, weights = self.decoder(tgt_in[:, t:t + 1], state)
                steps.append(weights)
            return cat(steps, axis=1)

    def generate(self, src, bos_id, eos_id, max_len):
        """Greedy decoding of every row of ``src`` (N, S) at once: a list of N token lists
        (without <START>, ending with <END> unless cut at ``max_len``)."""
        with no_grad():
            state = self.initial_state(src)
        return [tokens for tokens, _ in greedy_decode_batch(self.step_fn, state, bos_id,
                                                            eos_id, max_len)]
