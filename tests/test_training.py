"""minigrad.training: the schedule's decay, and the classifier loop on the memory task
(minigrad.data.remember_batch with minigrad.models.memory_model)."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad as mg
from minigrad.data import memory_batches, remember_batch
from minigrad.models import memory_model
from minigrad.training import TeacherForcingSchedule, train_classifier


# ----------------------------------------------------------------------------- the schedule

def test_schedule_decays_as_documented():
    linear = TeacherForcingSchedule("linear", rate=0.25)
    assert [linear(e) for e in range(6)] == [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    expo = TeacherForcingSchedule("exponential", rate=0.5, floor=0.1)
    assert [expo(e) for e in range(5)] == [1.0, 0.5, 0.25, 0.125, 0.1]
    inv = TeacherForcingSchedule("inverse_sigmoid", rate=5.0)
    for e in range(10):
        assert inv(e) == pytest.approx(5.0 / (5.0 + math.exp(e / 5.0)))
    assert TeacherForcingSchedule("constant", start=0.7)(100) == 0.7


@given(st.sampled_from(["linear", "exponential", "inverse_sigmoid"]),
       st.floats(0.01, 0.99), st.floats(0.0, 0.5))
def test_schedule_never_rises_and_keeps_its_floor(decay, r, floor):
    rate = 1.0 + 20 * r if decay == "inverse_sigmoid" else r
    s = TeacherForcingSchedule(decay, rate=rate, floor=floor)
    ratios = [s(e) for e in range(60)]
    assert all(a >= b for a, b in zip(ratios, ratios[1:]))
    assert all(floor <= x <= 1.0 for x in ratios)


@pytest.mark.parametrize("kwargs, message", [
    (dict(decay="cosine"), "decay must be one of"),
    (dict(decay="exponential", rate=1.5), "exponential decay needs 0 < rate <= 1, got 1.5"),
    (dict(decay="inverse_sigmoid", rate=0.5), "inverse_sigmoid decay needs rate >= 1, got 0.5"),
    (dict(decay="linear", rate=-1), "linear decay needs rate >= 0"),
    (dict(start=0.5, floor=0.6), "expected 0 <= floor <= start <= 1"),
])
def test_schedule_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TeacherForcingSchedule(**kwargs)
    with pytest.raises(ValueError, match="epoch must be >= 0"):
        TeacherForcingSchedule()(-1)


# ----------------------------------------------------------------------------- the memory task

@given(n=st.integers(0, 20), T=st.integers(1, 12), keys=st.integers(1, 5), seed=st.integers(0, 99))
def test_remember_batch_plants_one_key_at_its_distance(n, T, keys, seed):
    x, key, distance = remember_batch(np.random.default_rng(seed), n, T, keys)
    assert x.shape == (n, T, 2 * keys) and x.dtype == np.float32
    assert (x.sum(axis=2) == 1).all()                                  # one-hot
    symbols = x.argmax(axis=2)
    for row, k, d in zip(symbols, key, distance):
        assert 1 <= d <= T and 0 <= k < keys
        assert row[T - d] == k                                         # the key, d steps back
        assert ((row >= keys) | (np.arange(T) == T - d)).all()         # distractors elsewhere
    again = remember_batch(np.random.default_rng(seed), n, T, keys)
    assert all(np.array_equal(a, b) for a, b in zip((x, key, distance), again))   # seeded


def test_remember_batch_rejects_an_empty_sequence():
    with pytest.raises(ValueError, match="remember_batch: expected T >= 1"):
        remember_batch(np.random.default_rng(0), 2, 0)


def test_memory_model_is_seeded_and_biases_the_keep_gate():
    H = 5
    a = memory_model("LSTM", 4, H, seed=3)
    b = memory_model("LSTM", 4, H, seed=3, keep_bias=3.0)
    diff = b.rnn.bias_ih_l0.numpy(force=True) - a.rnn.bias_ih_l0.numpy(force=True)
    np.testing.assert_allclose(diff[H:2 * H], 3.0, rtol=1e-6, atol=1e-6)          # the rows of f
    assert not diff[:H].any() and not diff[2 * H:].any()
    np.testing.assert_array_equal(a.rnn.weight_hh_l0.numpy(force=True), b.rnn.weight_hh_l0.numpy(force=True))
    g = memory_model("GRU", 4, H, seed=3, keep_bias=2.0)
    assert g.rnn.bias_ih_l0.numpy(force=True)[H:2 * H].min() > 1.0               # the rows of z
    assert memory_model("RNN", 4, H, seed=3)(mg.randn(2, 6, 8)).shape == (2, 4)
    with pytest.raises(ValueError, match="memory_model: RNN has no gate that keeps the state"):
        memory_model("RNN", 4, H, seed=3, keep_bias=1.0)


def test_train_classifier_learns_a_short_memory_task():
    """An LSTM names the key of 4-step sequences after a few dozen Adam steps."""
    model = memory_model("LSTM", 2, 16, seed=0, keep_bias=1.0)
    losses = train_classifier(model, memory_batches(0, 32, 4, 2), 60, lr=0.02, every=10)
    assert len(losses) == 6 and losses[-1] < 0.5 * losses[0]
    assert not model.training
    x, key, _ = remember_batch(np.random.default_rng(1), 200, 4, 2)
    with mg.no_grad():
        right = model(mg.tensor(x)).numpy(force=True).argmax(axis=1) == key
    assert right.mean() > 0.9
