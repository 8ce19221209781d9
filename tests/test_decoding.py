"""minigrad.decoding: greedy, beam search and sampling against exhaustive search on small
random models whose every sequence can be enumerated."""
import collections
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad as mg
from minigrad import decoding

EOS = 0


def _log_softmax(z):
    z = z - z.max()
    return z - np.log(np.exp(z).sum())


class ToyModel:
    """A random language model over V tokens (token 0 = eos; bos = V, an input-only id).

    markov=True : log P(y_t | y_<t) depends on y_{t-1} only (a random transition table).
    markov=False: it depends on the whole emitted prefix, so a decoder that hands a beam the
                  state of another beam gets other probabilities and fails the tests.

    The state carries the history: a (K, L) int Tensor of the tokens fed so far (bos first),
    and in a dict the (K,) count of them, so reordering is checked on a nested container
    with a Tensor leaf and an array leaf.
    """

    def __init__(self, V, seed, markov, max_len=8):
        self.V, self.seed, self.markov, self.bos = V, seed, markov, V
        self.L = max_len + 1
        self.table = np.stack([_log_softmax(2 * z) for z in
                               np.random.default_rng(seed).normal(size=(V + 1, V))])
        self.calls = 0

    def log_probs(self, prefix):
        """log P(. | prefix) for an emitted prefix (a tuple without bos)."""
        if self.markov:
            return self.table[prefix[-1] if prefix else self.bos]
        # seeded by the prefix itself, so the model is the same whatever the query order
        z = np.random.default_rng([self.seed, len(prefix), *prefix]).normal(size=self.V)
        return _log_softmax(2 * z)

    def initial_state(self):
        hist = np.full((1, self.L), -1, dtype=np.int64)
        return (mg.tensor(hist), {"len": np.zeros(1, dtype=np.int64)})

    def step_fn(self, prev_tokens, state):
        self.calls += 1
        prev = mg.backend.to_numpy(prev_tokens)
        hist = state[0].numpy(force=True).copy()
        length = state[1]["len"].copy()
        K = len(prev)
        assert hist.shape[0] == K and length.shape == (K,)
        hist[np.arange(K), length] = prev
        length += 1
        lp = np.stack([self.log_probs(tuple(int(t) for t in hist[k, 1:length[k]]))
                       for k in range(K)])
        return mg.tensor(lp), (mg.tensor(hist), {"len": length})

    def score(self, tokens, alpha=0.0):
        s = sum(self.log_probs(tuple(tokens[:i]))[tok] for i, tok in enumerate(tokens))
        return s / len(tokens) ** alpha

    def all_sequences(self, max_len):
        """Every complete sequence: ends in eos within max_len tokens, or is max_len long."""
        out, stack = [], [()]
        while stack:
            prefix = stack.pop()
            for tok in range(self.V):
                seq = prefix + (tok,)
                if tok == EOS or len(seq) == max_len:
                    out.append(list(seq))
                else:
                    stack.append(seq)
        return out


model_args = dict(V=st.integers(2, 4), seed=st.integers(0, 2 ** 16), markov=st.booleans())


@given(**model_args, max_len=st.integers(1, 4), alpha=st.sampled_from([0.0, 0.5, 1.0, 2.0]))
def test_full_width_beam_is_exhaustive_search(V, seed, markov, max_len, alpha):
    m = ToyModel(V, seed, markov)
    every = m.all_sequences(max_len)
    ranked = sorted(((seq, m.score(seq, alpha)) for seq in every), key=lambda h: -h[1])
    out = decoding.beam_search(m.step_fn, m.initial_state(), m.bos, EOS,
                               beam_size=V ** max_len, max_len=max_len, alpha=alpha)
    assert m.calls <= max_len                  # batched: one call per time step
    assert len(out) == len(every)               # nothing pruned, every hypothesis kept
    assert out[0][0] == ranked[0][0]
    for (tokens, score), (best_tokens, best_score) in zip(out, ranked):
        assert score == pytest.approx(best_score, rel=1e-9, abs=1e-12)
        assert score == pytest.approx(m.score(tokens, alpha), rel=1e-9, abs=1e-12)
    for tokens, score in out[:3]:
        assert decoding.sequence_score(m.step_fn, m.initial_state(), m.bos, tokens,
                                       alpha) == pytest.approx(score, rel=1e-9, abs=1e-12)


@given(**model_args, max_len=st.integers(1, 6), alpha=st.sampled_from([0.0, 0.7, 1.0]))
def test_beam_width_one_is_greedy(V, seed, markov, max_len, alpha):
    m = ToyModel(V, seed, markov)
    tokens, score = decoding.greedy_decode(m.step_fn, m.initial_state(), m.bos, EOS, max_len)
    # greedy by hand: argmax at every step
    expect = []
    while not (expect and (expect[-1] == EOS or len(expect) == max_len)):
        expect.append(int(np.argmax(m.log_probs(tuple(expect)))))
    assert tokens == expect
    assert score == pytest.approx(m.score(expect))
    (beam,) = decoding.beam_search(m.step_fn, m.initial_state(), m.bos, EOS, 1, max_len, alpha)
    assert beam[0] == tokens
    assert beam[1] == pytest.approx(score / len(tokens) ** alpha)


@given(**model_args, max_len=st.integers(1, 6), beam_size=st.integers(1, 5),
       alpha=st.sampled_from([0.0, 0.7]))
def test_beam_hypotheses_are_well_formed(V, seed, markov, max_len, beam_size, alpha):
    m = ToyModel(V, seed, markov)
    out = decoding.beam_search(m.step_fn, m.initial_state(), m.bos, EOS, beam_size, max_len,
                               alpha)
    assert 1 <= len(out) <= beam_size
    scores = [s for _, s in out]
    assert scores == sorted(scores, reverse=True)
    for tokens, score in out:
        assert EOS not in tokens[:-1]
        assert tokens[-1] == EOS or len(tokens) == max_len
        assert score == pytest.approx(m.score(tokens, alpha))     # the formula's score
    # a wider beam never finds a worse best hypothesis than greedy (alpha = 0)
    if alpha == 0.0:
        greedy = decoding.greedy_decode(m.step_fn, m.initial_state(), m.bos, EOS, max_len)
        assert out[0][1] >= greedy[1] - 1e-12


def table_step(table):
    """step_fn of a stateless Markov model given as log P(next | prev) rows."""
    def step_fn(prev, state):
        return mg.tensor(table[mg.backend.to_numpy(prev)]), state
    return step_fn


def test_beam_beats_greedy_hand_worked():
    # tokens: 0 = eos, 1 = a, 2 = b; row 3 is bos.
    # greedy: P(a) = .5 is the best first token, then P(eos | a) = .4: score log(.5 * .4) = log .20
    # beam 2 keeps a and b; b, eos has probability .4 * .9 = .36 > .20, so beam search wins.
    P = np.array([[1.0, 1e-9, 1e-9],     # after eos (never used)
                  [0.4, 0.3, 0.3],       # after a
                  [0.9, 0.05, 0.05],     # after b
                  [0.1, 0.5, 0.4]])      # after bos
    step = table_step(np.log(P))
    tokens, score = decoding.greedy_decode(step, None, 3, 0, max_len=2)
    assert tokens == [1, 0] and score == pytest.approx(math.log(0.2))
    out = decoding.beam_search(step, None, 3, 0, beam_size=2, max_len=2)
    assert out[0][0] == [2, 0] and out[0][1] == pytest.approx(math.log(0.36))
    assert out[1][0] == [1, 0] and out[1][1] == pytest.approx(math.log(0.2))
    # error analysis for greedy's answer against y* = b eos: P(y*|x) = .36 > P(y_hat|x) = .20,
    # so the model was right and the search was at fault
    assert decoding.sequence_score(step, None, 3, [2, 0]) == pytest.approx(math.log(0.36))


def test_length_normalization_hand_worked():
    # tokens: 0 = eos, 1 = a, 2 = b; row 3 is bos. Beam 2, max_len 3:
    # step 1 keeps a (.55) and eos (.40); [eos] is finished, one beam slot is left.
    # step 2 keeps a b (.55 * .95); step 3 ends it: a b eos = .55 * .95 * .7 = .36575.
    # alpha = 0: log .40 = -0.916 beats log .36575 = -1.006, the short answer wins;
    # alpha = 1: -0.916 / 1 loses to -1.006 / 3 = -0.335: the long one wins.
    P = np.array([[1.0, 1e-9, 1e-9], [0.03, 0.02, 0.95], [0.7, 0.15, 0.15], [0.4, 0.55, 0.05]])
    step = table_step(np.log(P))
    out = decoding.beam_search(step, None, 3, 0, beam_size=2, max_len=3, alpha=0.0)
    assert [t for t, _ in out] == [[0], [1, 2, 0]]
    assert out[1][1] == pytest.approx(math.log(0.36575))
    out = decoding.beam_search(step, None, 3, 0, beam_size=2, max_len=3, alpha=1.0)
    assert [t for t, _ in out] == [[1, 2, 0], [0]]
    assert out[0][1] == pytest.approx(math.log(0.36575) / 3)


def test_forbidden_tokens_are_never_kept():
    # token 2 has probability 0 (log-prob -inf) everywhere: even a beam of 50 keeps only the
    # 4 sequences over {eos = 0, 1} of at most 3 tokens: 0 | 1 0 | 1 1 0 | 1 1 1
    with np.errstate(divide="ignore"):
        P = np.log(np.array([[0.5, 0.5, 0.0]] * 3 + [[0.2, 0.8, 0.0]]))
    out = decoding.beam_search(table_step(P), None, 3, 0, beam_size=50, max_len=3)
    assert sorted(t for t, _ in out) == [[0], [1, 0], [1, 1, 0], [1, 1, 1]]


def test_state_containers_are_reordered():
    """Every leaf of a namedtuple / list / dict state follows its beam; None passes through."""
    Pair = collections.namedtuple("Pair", "h c")
    model = ToyModel(3, seed=7, markov=False)

    def step_fn(prev, state):
        hist = state["pair"].h.numpy(force=True)                    # (K, t): tokens fed so far
        assert isinstance(state["pair"], Pair) and state["none"] is None
        assert np.array_equal(state["pair"].c, hist) and np.array_equal(state["list"][0], hist)
        hist = np.concatenate([hist, mg.backend.to_numpy(prev)[:, None]], axis=1)
        lp = np.stack([model.log_probs(tuple(row[1:])) for row in hist])
        return lp, {"pair": Pair(mg.tensor(hist), hist.copy()), "none": None,
                    "list": [hist.copy()]}

    start = np.zeros((1, 0), dtype=np.int64)
    out = decoding.beam_search(step_fn, {"pair": Pair(mg.tensor(start), start), "none": None,
                                         "list": [start]}, 9, EOS, beam_size=3, max_len=4)
    for tokens, score in out:
        assert score == pytest.approx(model.score(tokens))


def test_greedy_batch_equals_one_at_a_time():
    rng = np.random.default_rng(1)
    N, V = 5, 4
    tables = np.log(rng.dirichlet(np.ones(V), size=(N, V + 1)))     # one Markov model per row

    def step_fn(prev, state):
        rows = mg.backend.to_numpy(state.array)
        return tables[rows, mg.backend.to_numpy(prev)], state

    batch = decoding.greedy_decode_batch(step_fn, mg.tensor(np.arange(N)), V, 0, max_len=6)
    assert len(batch) == N
    for n in range(N):
        assert batch[n] == decoding.greedy_decode(step_fn, mg.tensor(np.array([n])), V, 0, 6)


def test_sample_is_seeded_and_matches_the_distribution():
    p = np.array([0.5, 0.3, 0.2])
    step = table_step(np.log(np.tile(p, (4, 1))))

    def draws(n, **kw):
        counts = np.zeros(3)
        for _ in range(n):
            tokens, score = decoding.sample(step, None, 3, 0, max_len=1, **kw)
            counts[tokens[0]] += 1
            assert score == pytest.approx(math.log(p[tokens[0]]))   # untempered log-prob
        return counts / n

    n = 2000
    mg.manual_seed(3)
    first = draws(200)
    mg.manual_seed(3)
    assert np.array_equal(first, draws(200))
    tol = 4 * np.sqrt(0.25 / n)                                   # 4 standard errors
    assert np.allclose(draws(n), p, atol=tol)
    assert np.allclose(draws(n, temperature=0.5), p ** 2 / (p ** 2).sum(), atol=tol)
    assert np.allclose(draws(n, top_k=2), [0.5 / 0.8, 0.3 / 0.8, 0.0], atol=tol)


@pytest.mark.parametrize("top_k, kept", [(2, {1, 3}), (3, {1, 3, 4})])
def test_sample_top_k_draws_exactly_the_k_most_probable(top_k, kept):
    # six tokens, so that the k-th largest is not also the (V - k)-th smallest
    p = np.array([0.05, 0.3, 0.1, 0.25, 0.2, 0.1])
    step = table_step(np.log(np.tile(p, (7, 1))))
    mg.manual_seed(0)
    drawn = {decoding.sample(step, None, 6, 0, max_len=1, top_k=top_k)[0][0] for _ in range(300)}
    assert drawn == kept


def test_sample_top_k_on_a_long_row():
    """V = 300: np.partition puts only the selected position in order, and a row this long is
    not left sorted, so the k-th largest must be read where it was selected."""
    z = np.random.default_rng(0).standard_normal(300)
    step = table_step(np.tile(z - np.log(np.exp(z).sum()), (301, 1)))
    mg.manual_seed(0)
    drawn = {decoding.sample(step, None, 300, 0, max_len=1, top_k=2)[0][0] for _ in range(100)}
    assert drawn == set(np.argsort(z)[-2:].tolist())


class _FixedDraw:
    """A host generator whose uniform draws are all ``value``."""

    def __init__(self, value):
        self.value = value

    def random(self, shape):
        return np.full(shape, self.value)


@pytest.mark.parametrize("u, token", [(0.0, 1), (1.0, 2)])
def test_sample_never_draws_a_forbidden_token_at_the_ends_of_the_draw(monkeypatch, u, token):
    # tokens 0, 3 and 4 are forbidden (log P = -inf). u = 0 must give the first allowed token;
    # u equal to the total weight (a draw that rounds up) the last allowed one
    with np.errstate(divide="ignore"):
        logp = np.log(np.array([0.0, 0.5, 0.5, 0.0, 0.0]))
    step = table_step(np.tile(logp, (6, 1)))
    monkeypatch.setattr(mg.backend, "host_rng", lambda: _FixedDraw(u))
    with np.errstate(divide="ignore"):
        tokens, _ = decoding.sample(step, None, 5, 0, max_len=1)
    assert tokens == [token]


@given(**model_args, max_len=st.integers(1, 6))
def test_sample_top1_and_cold_temperature_are_greedy(V, seed, markov, max_len):
    m = ToyModel(V, seed, markov)
    greedy = decoding.greedy_decode(m.step_fn, m.initial_state(), m.bos, EOS, max_len)
    top1 = decoding.sample(m.step_fn, m.initial_state(), m.bos, EOS, max_len, top_k=1)
    assert top1[0] == greedy[0] and top1[1] == pytest.approx(greedy[1])
    cold = decoding.sample(m.step_fn, m.initial_state(), m.bos, EOS, max_len, temperature=1e-6)
    assert cold[0] == greedy[0]


def test_decoding_records_no_graph():
    w = mg.tensor(np.zeros((1, 3)), requires_grad=True)

    def step_fn(prev, state):
        lp = mg.functional.log_softmax(w + state, axis=-1)
        assert not lp.requires_grad
        return lp, state

    decoding.beam_search(step_fn, mg.zeros((1, 3)), 0, 2, beam_size=2, max_len=2)


def test_clear_errors():
    good = table_step(np.log(np.full((3, 3), 1 / 3)))
    with pytest.raises(ValueError, match="log-probabilities"):
        decoding.greedy_decode(lambda p, s: (np.ones((1, 3)), s), None, 1, 0, 3)
    with pytest.raises(ValueError, match=r"shape \(3,\).*\(K, V\)"):
        decoding.greedy_decode(lambda p, s: (np.zeros(3), s), None, 1, 0, 3)
    with pytest.raises(TypeError, match=r"must return \(log_probs, state\)"):
        decoding.greedy_decode(lambda p, s: np.zeros((1, 3)), None, 1, 0, 3)
    with pytest.raises(ValueError, match="leading dimension 2.*greedy_decode_batch"):
        decoding.greedy_decode(good, np.zeros((2, 4)), 1, 0, 3)
    with pytest.raises(ValueError, match=r"disagree on the leading dimension K: \[1, 2\]"):
        decoding.beam_search(good, (np.zeros((1, 4)), np.zeros((2, 4))), 1, 0, 2, 3)
    with pytest.raises(ValueError, match="beam_size must be an int >= 1, got 0"):
        decoding.beam_search(good, None, 1, 0, 0, 3)
    with pytest.raises(ValueError, match="max_len must be >= 1, got 0"):
        decoding.beam_search(good, None, 1, 0, 2, 0)
    with pytest.raises(ValueError, match="temperature must be > 0, got 0"):
        decoding.sample(good, None, 1, 0, 3, temperature=0)
    with pytest.raises(ValueError, match="top_k must be None or an int >= 1"):
        decoding.sample(good, None, 1, 0, 3, top_k=0)
    with pytest.raises(ValueError, match="tokens is empty"):
        decoding.sequence_score(good, None, 1, [])
    with pytest.raises(IndexError, match="token 7 is out of range for 3"):
        decoding.sequence_score(good, None, 1, [0, 7])
