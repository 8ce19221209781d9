"""minigrad.models: gradient checks of every model's loss, teacher forcing and scheduled
sampling as defined, the prior-knowledge layer against its formula,
step_fn against the teacher-forced pass, and tiny overfit runs proving each model learns."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim
from minigrad.decoding import beam_search, greedy_decode_batch
from minigrad.models import (Decoder, Encoder, PriorKnowledge, RNNLanguageModel, Seq2Seq,
                             TransformerSeq2Seq, detach_state, source_word_vector)
from minigrad.training import TeacherForcingSchedule

PAD, BOS, EOS = 0, 1, 2
V = 7

# Seq2Seq variants that together reach every option and every score.
VARIANTS = {
    "plain-lstm": dict(cell="lstm"),
    "bi-gru-additive-feeding-prior": dict(cell="gru", bidirectional=True, attention="additive",
                                          attention_hidden_size=3, input_feeding=True,
                                          prior=True),
    "rnn-2layers-general-peeky": dict(cell="rnn", num_layers=2, attention="general",
                                      peeky=True),
    "bi-lstm-dot-peeky": dict(cell="lstm", bidirectional=True, attention="dot", peeky=True),
}


def batch(N=2, S=4, T=3, seed=0, pad_source=True):
    """src (N, S) and tgt (N, T+1) = <START> y .. <END>; the second source row right-padded."""
    rng = np.random.default_rng(seed)
    src = rng.integers(3, V, size=(N, S))
    if pad_source and N > 1:
        src[1, S - 1:] = PAD
    tgt = np.concatenate([np.full((N, 1), BOS), rng.integers(3, V, size=(N, T - 1)),
                          np.full((N, 1), EOS)], axis=1)
    return src, tgt


def seq2seq(double=False, **kw):
    model = Seq2Seq(V, 3, 4, pad_id=PAD, **kw)
    if model.decoder.prior_part is not None:  # away from the uniform start, to test S and t
        nn.init.normal_(model.decoder.prior.S)
        nn.init.normal_(model.decoder.prior.t)
    model.eval()
    return model.double() if double else model


def params(model):
    return list(model.parameters())


# ----------------------------------------------------------------------------- gradient checks

@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_seq2seq_loss_gradcheck(name):
    model = seq2seq(double=True, **VARIANTS[name])
    src, tgt = batch()
    assert mg.gradcheck(lambda *_: model.loss(src, tgt), params(model))


def test_seq2seq_loss_gradcheck_at_size_one():
    # one example, a one-word source, a target that is just <END>
    model = seq2seq(double=True, attention="additive", input_feeding=True, peeky=True)
    src, tgt = batch(N=1, S=1, T=1)
    assert tgt.tolist() == [[BOS, EOS]]
    assert mg.gradcheck(lambda *_: model.loss(src, tgt), params(model))


def test_seq2seq_loss_gradcheck_with_scheduled_sampling():
    # ratio 0: every input is the model's own argmax, a constant under tiny nudges
    model = seq2seq(double=True, attention="general")
    src, tgt = batch(seed=3)
    assert mg.gradcheck(lambda *_: model.loss(src, tgt, teacher_forcing_ratio=0.0),
                        params(model))


def test_language_model_loss_gradcheck_with_tied_weights():
    model = RNNLanguageModel(V, 4, 4, cell="gru", num_layers=2, tie_weights=True,
                             pad_id=PAD).double()
    tokens = np.array([[1, 3, 4, 5, 2], [1, 6, 2, 0, 0]])
    assert mg.gradcheck(lambda *_: model.loss(tokens[:, :-1], tokens[:, 1:])[0], params(model))


def test_transformer_loss_gradcheck():
    model = TransformerSeq2Seq(V, d_model=4, nhead=2, num_encoder_layers=1,
                               num_decoder_layers=1, dim_feedforward=6, dropout=0.0,
                               pad_id=PAD).double()
    src, tgt = batch(S=3, T=2)
    assert mg.gradcheck(lambda *_: model.loss(src, tgt), params(model))


@given(st.integers(1, 3), st.integers(1, 3), st.integers(0, 2 ** 31))
def test_prior_knowledge_gradcheck(N, T, seed):
    rng = np.random.default_rng(seed)
    layer = PriorKnowledge(5).double()
    nn.init.normal_(layer.S)
    nn.init.normal_(layer.t)
    logits = mg.tensor(rng.normal(size=(N, T, 5)), dtype=mg.float64, requires_grad=True)
    X = mg.tensor((rng.random((N, 5)) < 0.5).astype(np.float64))
    assert mg.gradcheck(lambda z, S, t: layer(z, X), [logits, layer.S, layer.t])


# ----------------------------------------------------------------------------- the prior layer

def numpy_prior(logits, X, S, t):
    """The notes' formula in NumPy: (softmax(S ⊗ X + t) + softmax(logits)) / 2."""
    def softmax(z):
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    prior = softmax(S * X + t)[:, None, :]                  # (N, 1, V): one per source
    return (prior + softmax(logits)) / 2


@given(st.integers(1, 4), st.integers(1, 4), st.integers(2, 9), st.integers(0, 2 ** 31))
def test_prior_knowledge_is_the_notes_formula_and_a_distribution(N, T, vocab, seed):
    rng = np.random.default_rng(seed)
    layer = PriorKnowledge(vocab).double()
    nn.init.normal_(layer.S, std=2.0)
    nn.init.normal_(layer.t, std=2.0)
    logits = rng.normal(scale=3.0, size=(N, T, vocab))
    X = (rng.random((N, vocab)) < 0.4).astype(np.float64)
    log_p = layer(mg.tensor(logits, dtype=mg.float64), mg.tensor(X, dtype=mg.float64)).numpy(force=True)
    p = np.exp(log_p)
    assert (p >= 0).all()
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-12, atol=1e-12)
    expected = numpy_prior(logits, X, layer.S.numpy(force=True), layer.t.numpy(force=True))
    np.testing.assert_allclose(p, expected, rtol=1e-10, atol=1e-14)


def test_prior_knowledge_stays_finite_where_a_softmax_underflows():
    layer = PriorKnowledge(3)
    logits = mg.tensor([[[1e4, 0.0, -1e4]]])
    log_p = layer(logits, mg.tensor([[0.0, 1.0, 0.0]])).numpy(force=True)
    assert np.isfinite(log_p).all()
    # the model gives word 2 nothing; the uniform prior (S = t = 0 at the start) gives 1/3
    np.testing.assert_allclose(np.exp(log_p[0, 0]), [(1 / 3 + 1) / 2, 1 / 6, 1 / 6], rtol=1e-5, atol=1e-5)


def test_source_word_vector_marks_each_source_word_once_and_skips_padding():
    src = mg.tensor(np.array([[3, 3, 5, 0], [4, 0, 0, 0]])).array
    X = mg.backend.to_numpy(source_word_vector(src, 6, ignore_ids=(0,)))
    np.testing.assert_array_equal(X, [[0, 0, 0, 1, 0, 1], [0, 0, 0, 0, 1, 0]])


def test_prior_knowledge_rejects_mismatched_shapes():
    layer = PriorKnowledge(4)
    with pytest.raises(ValueError, match=r"PriorKnowledge: expected logits \(N, \.\.\., 4\)"):
        layer(mg.zeros(2, 3, 5), mg.zeros(2, 4))
    with pytest.raises(ValueError, match="X \\(2, 3\\)"):
        layer(mg.zeros(2, 3, 4), mg.zeros(2, 3))


def test_prior_model_puts_more_mass_on_source_words_once_S_is_positive():
    model = seq2seq(prior=True)
    model.decoder.prior.S.array[:] = 5.0
    model.decoder.prior.t.array[:] = 0.0
    src, tgt = batch(pad_source=False)
    log_p = model(src, tgt[:, :-1]).numpy(force=True)                 # (N, T, V)
    without = F.log_softmax(model.decoder_logits(src, tgt[:, :-1])[0]).numpy(force=True)
    for n in range(src.shape[0]):
        in_source = np.isin(np.arange(V), src[n])
        assert (log_p[n][:, in_source] > without[n][:, in_source]).all()
        assert (log_p[n][:, ~in_source] < without[n][:, ~in_source]).all()


# ----------------------------------------------------------------------------- teacher forcing

def step_log_probs(model, src, inputs):
    """Feed ``inputs`` (N, T) through step_fn one token at a time: (N, T, V) log-probs."""
    with mg.no_grad():
        state = model.initial_state(src)
    out = []
    for t in range(inputs.shape[1]):
        lp, state = model.step_fn(inputs[:, t], state)
        out.append(lp.numpy(force=True))
    return np.stack(out, axis=1)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_teacher_forcing_ratio_one_feeds_the_true_previous_word(name):
    model = seq2seq(**VARIANTS[name])
    src, tgt = batch(T=4)
    forced = model(src, tgt[:, :-1], teacher_forcing_ratio=1.0).numpy(force=True)
    np.testing.assert_allclose(forced, step_log_probs(model, src, tgt[:, :-1]), rtol=1e-4,
                               atol=1e-5)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_teacher_forcing_ratio_zero_feeds_the_models_own_argmax(name):
    model = seq2seq(**VARIANTS[name])
    src, tgt = batch(T=4)
    free = model(src, tgt[:, :-1], teacher_forcing_ratio=0.0).numpy(force=True)       # (N, T, V)
    # what it fed itself: <START>, then its own most probable word of each step
    own = np.concatenate([tgt[:, :1], free.argmax(axis=-1)[:, :-1]], axis=1)
    np.testing.assert_allclose(free, step_log_probs(model, src, own), rtol=1e-4, atol=1e-5)
    # and the true words after <START> play no part
    other = tgt.copy()
    other[:, 1:-1] = (other[:, 1:-1] + 1 - 3) % (V - 3) + 3
    again = model(src, other[:, :-1], teacher_forcing_ratio=0.0).numpy(force=True)
    np.testing.assert_array_equal(free, again)


def test_ratio_between_mixes_true_and_own_words_per_row_and_step():
    model = seq2seq(attention="dot")
    src, tgt = batch(N=64, S=4, T=6, pad_source=False)
    forced = model(src, tgt[:, :-1], 1.0).numpy(force=True)
    free = model(src, tgt[:, :-1], 0.0).numpy(force=True)
    mg.manual_seed(1)
    mixed = model(src, tgt[:, :-1], 0.5).numpy(force=True)
    # step 0 always reads <START>; later steps of some rows match teacher forcing, others not
    np.testing.assert_allclose(mixed[:, 0], forced[:, 0], rtol=1e-5, atol=1e-6)
    same_as_forced = np.isclose(mixed[:, 1], forced[:, 1], rtol=1e-5, atol=1e-6).all(axis=-1)
    differs_forced_free = ~np.isclose(forced[:, 1], free[:, 1], rtol=1e-5, atol=1e-5).all(axis=-1)
    share = same_as_forced[differs_forced_free].mean()
    assert 0.25 < share < 0.75
    mg.manual_seed(1)
    np.testing.assert_array_equal(model(src, tgt[:, :-1], 0.5).numpy(force=True), mixed)


def test_teacher_forcing_ratio_outside_unit_interval_raises():
    model = seq2seq()
    src, tgt = batch()
    with pytest.raises(ValueError, match=r"teacher_forcing_ratio must be in \[0, 1\], got 1.5"):
        model.loss(src, tgt, teacher_forcing_ratio=1.5)


# ----------------------------------------------------------------------------- variants as parts

@pytest.mark.parametrize("kw, keys", [
    ({}, {"hidden"}),
    ({"attention": "dot"}, {"hidden", "memory", "mask"}),
    ({"attention": "general", "input_feeding": True}, {"hidden", "memory", "mask", "feed"}),
    ({"peeky": True}, {"hidden", "summary"}),
    ({"prior": True}, {"hidden", "source_words"}),
    ({"attention": "additive", "peeky": True, "prior": True},
     {"hidden", "memory", "mask", "summary", "source_words"}),
])
def test_decoder_state_holds_only_the_entries_of_its_parts(kw, keys):
    model = seq2seq(**kw)
    src, _ = batch()
    state = model.initial_state(src)
    assert set(state) == keys
    assert all(v is not None for v in state.values())
    unpadded = model.initial_state(batch(pad_source=False)[0])
    assert "mask" not in unpadded                     # no padding, nothing to mask


def test_parts_bring_their_layers_under_the_checkpoint_names():
    """Lesson 14 saves a checkpoint that lesson 16 loads: the names stay those of the layers."""
    model = Seq2Seq(V, 3, 4, attention="additive", input_feeding=True, peeky=True, prior=True)
    names = set(model.state_dict())
    assert {"decoder.attention.W1", "decoder.attention.W2", "decoder.attention.v",
            "decoder.combine.weight", "decoder.prior.S", "decoder.prior.t",
            "decoder.output.weight", "decoder.output.bias"} <= names
    assert not any(".parts" in n or "_part" in n for n in names)
    plain = Seq2Seq(V, 3, 4)
    assert not any(n.startswith(("decoder.attention", "decoder.combine", "decoder.prior"))
                   for n in plain.state_dict())


# ----------------------------------------------------------------------------- step_fn = training pass

@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_seq2seq_score_is_the_sum_of_step_log_probs(name):
    model = seq2seq(**VARIANTS[name])
    src, tgt = batch(T=4)
    steps = step_log_probs(model, src, tgt[:, :-1])
    expected = np.take_along_axis(steps, tgt[:, 1:, None], axis=-1)[..., 0].sum(axis=1)
    np.testing.assert_allclose(model.score(src, tgt).numpy(force=True), expected, rtol=1e-5, atol=1e-5)


def test_transformer_score_is_the_sum_of_step_log_probs():
    model = TransformerSeq2Seq(V, d_model=8, nhead=2, dim_feedforward=16, pad_id=PAD).eval()
    src, tgt = batch(T=5)
    steps = step_log_probs(model, src, tgt[:, :-1])
    expected = np.take_along_axis(steps, tgt[:, 1:, None], axis=-1)[..., 0].sum(axis=1)
    np.testing.assert_allclose(model.score(src, tgt).numpy(force=True), expected, rtol=1e-5, atol=1e-5)


def test_language_model_score_is_the_sum_of_step_log_probs():
    model = RNNLanguageModel(V, 5, 6, num_layers=2).eval()
    tokens = np.array([[1, 3, 4, 5, 6], [1, 6, 6, 3, 2]])
    state = model.initial_state(2)
    total = np.zeros(2)
    for t in range(4):
        lp, state = model.step_fn(tokens[:, t], state)
        total += lp.numpy(force=True)[np.arange(2), tokens[:, t + 1]]
    np.testing.assert_allclose(model.score(tokens).numpy(force=True), total, rtol=1e-5, atol=1e-5)


def test_beam_search_scores_are_the_models_log_probability():
    # error analysis (notes 004 3.2) compares model.score of two outputs: it must be the
    # very number beam search ranks by
    model = seq2seq(**VARIANTS["bi-lstm-dot-peeky"])
    src, _ = batch()
    with mg.no_grad():
        state = model.initial_state(src[:1])
    for tokens, score in beam_search(model.step_fn, state, BOS, EOS, beam_size=3, max_len=4):
        tgt = np.array([[BOS] + tokens])
        assert model.score(src[:1], tgt).item() == pytest.approx(score, rel=1e-5)


def test_generate_is_batched_greedy_decoding():
    model = seq2seq(attention="general")
    src, _ = batch(N=3)
    with mg.no_grad():
        state = model.initial_state(src)
    expected = [t for t, _ in greedy_decode_batch(model.step_fn, state, BOS, EOS, 5)]
    assert model.generate(src, BOS, EOS, 5) == expected


# ----------------------------------------------------------------------------- shapes and states

def test_bidirectional_encoder_outputs_twice_the_hidden_size():
    enc = Encoder(V, 3, 4, cell="lstm", num_layers=2, bidirectional=True)
    src, _ = batch(pad_source=False)
    memory, (h, c) = enc(mg.tensor(src))
    assert enc.output_size == 8 and memory.shape == (2, 4, 8)
    assert h.shape == c.shape == (2, 2, 8)
    # the top layer's final state: forward's last step beside backward's first step
    m = memory.numpy(force=True)
    np.testing.assert_allclose(h.numpy(force=True)[-1], np.concatenate([m[:, -1, :4], m[:, 0, 4:]], 1),
                               rtol=1e-6, atol=1e-6)


def test_padded_source_positions_get_no_attention():
    model = seq2seq(attention="additive")
    src, tgt = batch(S=5)
    src[1, 2:] = PAD
    weights = model.attention_weights(src, tgt[:, :-1]).numpy(force=True)       # (N, T, S)
    assert weights.shape == (2, 3, 5)
    np.testing.assert_array_equal(weights[1, :, 2:], 0.0)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-6, atol=1e-6)


def test_language_model_states_are_batch_first_and_detach_for_truncated_bptt():
    model = RNNLanguageModel(V, 4, 5, cell="lstm", num_layers=3)
    logits, (h, c) = model(np.array([[1, 3, 4]]))
    assert logits.shape == (1, 3, V) and h.shape == c.shape == (1, 3, 5)
    h2, c2 = detach_state((h, c))
    assert h2.creator is None and not h2.requires_grad
    np.testing.assert_array_equal(h2.numpy(force=True), h.numpy(force=True))
    assert model.output.weight is not model.embedding.weight
    tied = RNNLanguageModel(V, 5, 5, tie_weights=True)
    assert tied.output.weight is tied.embedding.weight


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("build, message", [
    (lambda: Seq2Seq(V, 3, 4, cell="transformer"), "Encoder: cell must be one of"),
    (lambda: Seq2Seq(V, 3, 4, input_feeding=True), "Seq2Seq: input_feeding .* needs attention"),
    (lambda: Seq2Seq(V, 3, 4, prior=True, tgt_vocab_size=V + 1), "prior marks source words"),
    (lambda: RNNLanguageModel(V, 3, 4, tie_weights=True),
     "tie_weights needs embed_size == hidden_size, got embed_size=3, hidden_size=4"),
    (lambda: Decoder(V, 3, 4, cell="lstmm"), "Decoder: cell must be one of"),
])
def test_bad_construction_raises_clear_errors(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_bad_inputs_raise_clear_errors():
    model = seq2seq(attention="dot", input_feeding=True)
    src, tgt = batch()
    with pytest.raises(TypeError, match="Seq2Seq: token ids must be integers, got dtype float"):
        model.loss(src.astype(float), tgt)
    with pytest.raises(ValueError, match=r"Seq2Seq: expected token ids of shape \(N, T\), got "
                                         r"shape \(4,\)"):
        model.loss(src[0], tgt)
    with pytest.raises(ValueError, match=r"step_fn: expected token ids of shape \(K,\)"):
        model.step_fn(tgt[:, :2], model.initial_state(src))
    with pytest.raises(ValueError, match=r"with input_feeding the decoder runs one step"):
        model.decoder(mg.tensor(tgt), model.initial_state(src))
    with pytest.raises(ValueError, match="this model has no attention"):
        seq2seq().attention_weights(src, tgt)


# ----------------------------------------------------------------------------- learning

def reversal_data(n=24, length=4, seed=0):
    """Copy-and-reverse: src a random word of ``length`` symbols, tgt <START> reversed <END>."""
    rng = np.random.default_rng(seed)
    src = rng.integers(3, V, size=(n, length))
    tgt = np.concatenate([np.full((n, 1), BOS), src[:, ::-1], np.full((n, 1), EOS)], axis=1)
    return src, tgt


def train(model, loss_fn, steps, lr):
    opt = optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
    return loss.item()


@pytest.mark.parametrize("kwargs", [
    dict(attention="general", bidirectional=True),
    dict(peeky=True, cell="gru"),
    dict(attention="additive", input_feeding=True, prior=True),
], ids=["attention", "peeky", "feeding-prior"])
def test_seq2seq_overfits_a_small_reversal_set(kwargs):
    model = Seq2Seq(V, 8, 32, pad_id=PAD, **kwargs)
    src, tgt = reversal_data()
    train(model, lambda: model.loss(src, tgt), steps=150, lr=0.02)
    model.eval()
    outputs = model.generate(src, BOS, EOS, max_len=6)
    assert outputs == tgt[:, 1:].tolist()


def test_scheduled_sampling_training_learns_too():
    model = Seq2Seq(V, 8, 32, attention="dot", pad_id=PAD)
    src, tgt = reversal_data()
    schedule = TeacherForcingSchedule("linear", rate=0.005, floor=0.5)
    step = [0]

    def loss():
        step[0] += 1
        return model.loss(src, tgt, teacher_forcing_ratio=schedule(step[0]))
    train(model, loss, steps=150, lr=0.02)
    model.eval()
    assert model.generate(src, BOS, EOS, max_len=6) == tgt[:, 1:].tolist()


def test_transformer_overfits_a_small_reversal_set():
    model = TransformerSeq2Seq(V, d_model=32, nhead=4, num_encoder_layers=1,
                               num_decoder_layers=1, dim_feedforward=64, dropout=0.0,
                               pad_id=PAD)
    src, tgt = reversal_data()
    train(model, lambda: model.loss(src, tgt), steps=150, lr=0.01)
    model.eval()
    with mg.no_grad():
        state = model.initial_state(src)
    outputs = [t for t, _ in greedy_decode_batch(model.step_fn, state, BOS, EOS, 6)]
    assert outputs == tgt[:, 1:].tolist()


def test_language_model_memorizes_a_sequence():
    model = RNNLanguageModel(V, 16, 32, cell="lstm", tie_weights=False)
    text = np.array([[1, 3, 5, 4, 6, 3, 3, 4, 5, 6, 2]])
    final = train(model, lambda: model.loss(text[:, :-1], text[:, 1:])[0], steps=150, lr=0.02)
    assert final < 0.05
    model.eval()
    assert model.score(text).item() > math.log(0.9)
