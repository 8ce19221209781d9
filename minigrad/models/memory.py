"""The many-to-one model of the long-range memory task (lessons 06-08; the task is
``minigrad.data.tasks.remember_batch``).

A recurrent layer reads the one-hot sequence x (N, T, 2*keys); a Linear layer on the last
hidden state h_T names the key: y_hat = h_T V + b_y.
"""
from .. import backend, nn

# The gate that decides how much of the old state to keep, as (row block, what the notes call
# it): a positive bias there starts the layer remembering (Jozefowicz et al. 2015).
KEEP_GATES = {"LSTM": (1, "the forget gate f"), "GRU": (1, "z = 1 - the update gate")}


class MemoryClassifier(nn.Module):
    """``nn.<kind>`` (RNN, LSTM or GRU) over x (N, T, 2*keys) -> logits (N, keys) from h_T."""

    def __init__(self, kind, keys, hidden):
        super().__init__()
        self.rnn = getattr(nn, kind)(2 * keys, hidden, batch_first=True)
        self.out = nn.Linear(hidden, keys)

    def forward(self, x):
        return self.out(self.rnn(x)[0][:, -1])          # y_hat = h_T V + b_y


def memory_model(kind, keys, hidden, seed, keep_bias=0.0):
    """A seeded ``MemoryClassifier``; ``keep_bias`` is added to the bias of the gate that keeps
    the state (``KEEP_GATES``: LSTM's f, GRU's z; the plain RNN has none)."""
    backend.manual_seed(seed)
    model = MemoryClassifier(kind, keys, hidden)
    if keep_bias:
        if kind not in KEEP_GATES:
            raise ValueError(f"memory_model: {kind} has no gate that keeps the state; "
                             f"keep_bias needs one of {sorted(KEEP_GATES)}")
        block = KEEP_GATES[kind][0]
        model.rnn.bias_ih_l0.array[block * hidden:(block + 1) * hidden] += keep_bias
    return model
