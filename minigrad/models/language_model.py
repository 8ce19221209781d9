"""An RNN language model: Embedding -> RNN/LSTM/GRU -> Linear (notes 003 formulas (1)-(3),
004 1.2 文本生成).

    h_t = f(x_t U + h_{t-1} W + b_h)          the recurrent layer (LSTM/GRU gates inside)
    y_hat_t = softmax(h_t V + b_y)            p(w_{t+1} | w_1..w_t)
    Loss = sum_t -log y_hat_t[w_{t+1}]        cross-entropy, averaged over the tokens here

Shapes: N batch, T time, D embedding, H hidden, L layers, V vocabulary. States handed in and
out are batch-first, (N, L, H) (LSTM: a pair (h, c)), so that minigrad.decoding can reorder
them; ``detach_state`` cuts one from the graph for truncated BPTT.
"""
from .. import functional as F, nn
from ..tensor import no_grad
from ._common import (ignore_index_of, make_rnn, sequence_log_prob, swap_batch_and_layer,
                      token_ids, zero_state)


class RNNLanguageModel(nn.Module):
    """p(w_{t+1} | w_1..w_t) with an Embedding, a recurrent layer and a Linear output.

    cell: 'rnn', 'lstm' or 'gru'. dropout: on the embeddings, between stacked layers and
    before the output layer. tie_weights: the output layer reuses the embedding matrix
    (Press & Wolf 2017), which needs embed_size == hidden_size. pad_id: the padding token,
    whose embedding stays zero and whose targets the loss skips.

    forward(tokens (N, T), state=None) -> (logits (N, T, V), state (N, L, H))

    Sampling a continuation of a prompt (ids p_1..p_k):

        model.eval()
        with mg.no_grad():
            _, state = model(prompt[None, :-1], model.initial_state(1))   # read p_1..p_{k-1}
        tokens, _ = decoding.sample(model.step_fn, state, bos_id=prompt[-1], eos_id=eos,
                                    max_len=200, temperature=0.8)
    """

    def __init__(self, vocab_size, embed_size, hidden_size, cell="lstm", num_layers=1,
                 dropout=0.0, tie_weights=False, pad_id=None):
        super().__init__()
        if tie_weights and embed_size != hidden_size:
            raise ValueError(f"RNNLanguageModel: tie_weights needs embed_size == hidden_size, "
                             f"got embed_size={embed_size}, hidden_size={hidden_size}")
        self.cell, self.num_layers, self.hidden_size = cell, num_layers, hidden_size
        self.pad_id = pad_id
        self.embedding = nn.Embedding(vocab_size, embed_size, padding_idx=pad_id)
        self.rnn = make_rnn("RNNLanguageModel", cell, embed_size, hidden_size, num_layers,
                            dropout)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden_size, vocab_size)
        if tie_weights:
            self.output.weight = self.embedding.weight        # (V, D) serves as (V, H)

    def forward(self, tokens, state=None):
        """tokens (N, T) int, state (N, L, H) or None (zeros) -> (logits (N, T, V), state)."""
        ids = token_ids(tokens, self.output.weight, "RNNLanguageModel")
        x = self.dropout(self.embedding(ids))                 # (N, T, D)
        h0 = None if state is None else swap_batch_and_layer(state)
        hs, state = self.rnn(x, h0)                           # (N, T, H)
        return self.output(self.dropout(hs)), swap_batch_and_layer(state)

    def loss(self, inputs, targets, state=None):
        """Mean cross-entropy of predicting ``targets`` (N, T) from ``inputs`` (N, T)
        (usually the same text shifted by one). Returns (loss, state)."""
        logits, state = self(inputs, state)
        targets = token_ids(targets, self.output.weight, "RNNLanguageModel.loss")
        return F.cross_entropy(logits, targets, ignore_index=ignore_index_of(self.pad_id)), state

    def initial_state(self, batch_size=1):
        """The zero state for ``batch_size`` sequences, batch-first (N, L, H)."""
        return zero_state(self.cell, self.num_layers, self.hidden_size, batch_size,
                          self.output.weight)

    def step_fn(self, prev_tokens, state):
        """One step for minigrad.decoding: prev_tokens (K,), state (K, L, H) ->
        (log_probs (K, V), state). Start from ``initial_state(1)`` and the first token."""
        ids = token_ids(prev_tokens, self.output.weight, "RNNLanguageModel.step_fn", ndim=1)
        with no_grad():
            logits, state = self(ids[:, None], state)
            return F.log_softmax(logits[:, 0]), state

    def score(self, tokens):
        """log P(w_2..w_T | w_1) for each row of ``tokens`` (N, T) -> (N,): the sum of the
        step log-probabilities along the given text (padding skipped)."""
        ids = token_ids(tokens, self.output.weight, "RNNLanguageModel.score")
        logits, _ = self(ids[:, :-1])
        return sequence_log_prob(F.log_softmax(logits), ids[:, 1:],
                                 ignore_index_of(self.pad_id))
