"""The graph is freed: by backward, and by reference counting alone (no cycles left for the
garbage collector), so a long training run does not grow in memory."""
import gc
import weakref

import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim
from tests.helpers import rss_bytes


def tensors_alive():
    return sum(isinstance(o, mg.Tensor) for o in gc.get_objects())


def test_intermediates_die_after_backward_even_if_the_loss_is_kept():
    x = mg.tensor(np.ones((3, 3)), requires_grad=True)
    h = (x * 2).tanh()
    ref = weakref.ref(h)
    loss = (h @ h).sum()
    del h
    assert ref() is not None              # the graph holds it until backward
    loss.backward()
    assert ref() is None                  # freed by backward, although loss is still held
    assert loss.creator is not None and loss.creator.inputs is None


def test_retain_graph_keeps_intermediates_until_the_loss_goes():
    x = mg.tensor(np.ones(3), requires_grad=True)
    h = x.exp()
    ref = weakref.ref(h)
    loss = (h * h).sum()
    del h
    loss.backward(retain_graph=True)
    assert ref() is not None
    del loss
    assert ref() is None


def test_the_graph_needs_no_garbage_collector():
    # Everything a step builds is freed by reference counting: with the collector off, the
    # number of live tensors stays flat, with or without backward.
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    x = mg.randn(5, 4)
    F.cross_entropy(model(x), [0, 1, 2, 0, 1]).backward()     # the parameters' .grad tensors
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        before = tensors_alive()
        for with_backward in (True, False) * 20:
            loss = F.cross_entropy(model(x), [0, 1, 2, 0, 1])
            if with_backward:
                loss.backward()
            del loss
        after = tensors_alive()
    finally:
        if was_enabled:
            gc.enable()
    assert after - before <= 1, f"{after - before} tensors left behind"


def test_thousands_of_training_steps_do_not_grow_memory():
    mg.manual_seed(0)
    model = nn.Sequential(nn.Embedding(20, 8), nn.Linear(8, 16), nn.Tanh(), nn.LayerNorm(16),
                          nn.Dropout(0.1), nn.Linear(16, 20))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    idx = mg.randint(0, 20, (4, 5))
    target = mg.randint(0, 20, (4, 5))

    def steps(n):
        for _ in range(n):
            opt.zero_grad()
            loss = F.cross_entropy(model(idx), target)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        return loss.item()

    steps(200)                            # warm-up: allocator pools, optimizer state
    start = rss_bytes()
    last = steps(2500)
    growth = rss_bytes() - start
    assert np.isfinite(last)
    # A leaked graph would keep ~50 arrays per step alive: megabytes over 2500 steps.
    assert growth < 8 * 2 ** 20, f"RSS grew by {growth / 2 ** 20:.1f} MiB over 2500 steps"
