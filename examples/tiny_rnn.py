"""A tiny tanh RNN, written with minigrad's autograd ops, learns to add binary numbers.

Each step reads one bit of a and one of b (least significant first) and must output that bit
of a + b: the RNN has to carry, which it can only do through its hidden state.
Run: python examples/tiny_rnn.py   (about ten seconds on a laptop CPU)
"""
import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim

mg.manual_seed(0)
rng = np.random.default_rng(0)
T, N, H = 8, 64, 16


def batch(n):
    a, b = rng.integers(0, 2 ** (T - 1), size=(2, n))
    bits = lambda v: (v[:, None] >> np.arange(T)) & 1      # (n, T), least significant first
    x = np.stack([bits(a), bits(b)], axis=-1).astype(np.float32)     # (n, T, 2)
    return x, bits(a + b)                                            # target (n, T)


W_xh = nn.Linear(2, H)          # h_t = tanh(W_xh x_t + W_hh h_{t-1} + b)
W_hh = nn.Linear(H, H, bias=False)
W_hy = nn.Linear(H, 2)          # logits of the output bit
params = [*W_xh.parameters(), *W_hh.parameters(), *W_hy.parameters()]
opt = optim.Adam(params, lr=0.01)

for step in range(301):
    x, y = batch(N)
    h = mg.zeros(N, H)
    loss = 0
    for t in range(T):
        h = (W_xh(mg.tensor(x[:, t])) + W_hh(h)).tanh()
        loss = loss + F.cross_entropy(W_hy(h), y[:, t])
    loss = loss / T
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(params, 5.0)
    opt.step()
    if step % 50 == 0:
        print(f"step {step:3d}  loss {loss.item():.4f}")

with mg.no_grad():
    x, y = batch(1000)
    h, correct = mg.zeros(1000, H), np.ones(1000, bool)
    for t in range(T):
        h = (W_xh(mg.tensor(x[:, t])) + W_hh(h)).tanh()
        correct &= W_hy(h).numpy().argmax(-1) == y[:, t]
print(f"exact sums on 1000 new pairs: {correct.mean():.1%}")
assert correct.mean() > 0.95, "the RNN should have learned to carry"
