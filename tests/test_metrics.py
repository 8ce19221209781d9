"""minigrad.metrics: BLEU on hand-worked examples and its defining properties; perplexity."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad as mg
from minigrad.metrics import bleu, brevity_penalty, perplexity, sentence_bleu

REF1 = "the cat is on the mat".split()
REF2 = "there is a cat on the mat".split()

tokens = st.lists(st.sampled_from("abcde"), max_size=12)
nonempty = st.lists(st.sampled_from("abcde"), min_size=1, max_size=12)


def test_papineni_clipped_unigram_precision():
    # 7 x "the": the references use "the" at most twice (REF1), so only 2 of 7 count.
    # c = 7, reference lengths 6 and 7: the closest is 7, c = r, BP = exp(1 - 7/7) = 1.
    cand = ["the"] * 7
    assert sentence_bleu(cand, [REF1, REF2], max_n=1) == pytest.approx(2 / 7)


def test_ng_example_bigrams_and_four_grams():
    # "the cat the cat on the mat" (notes 004 3.3's example).
    # unigrams: the x3 (clip 2), cat x2 (clip 1), on, mat -> P1 = 5/7
    # bigrams: the cat x2 (clip 1), cat the (0), cat on (REF2), on the, the mat -> P2 = 4/6
    # trigrams: the cat the, cat the cat, the cat on, cat on the (REF2), on the mat -> P3 = 2/5
    # 4-grams: the cat the cat, cat the cat on, the cat on the, cat on the mat (REF2) -> P4 = 1/4
    # c = 7 = closest reference length, BP = 1.
    cand = "the cat the cat on the mat".split()
    assert sentence_bleu(cand, [REF1, REF2], max_n=2) == pytest.approx(math.sqrt(5 / 7 * 4 / 6))
    # (5/7 * 4/6 * 2/5 * 1/4)^(1/4) = (1/21)^(1/4)
    assert sentence_bleu(cand, [REF1, REF2]) == pytest.approx((1 / 21) ** 0.25)


def test_reference_length_is_the_closest_not_the_shortest():
    # c = 5, references of 3 and 6 words: r = 6 (closest), BP = exp(1 - 6/5); with r = 3
    # (the shortest) the candidate would count as longer and BP would be 1
    cand = list("abcde")
    refs = [list("abc"), list("abcdef")]
    assert sentence_bleu(cand, refs, max_n=1) == pytest.approx(math.exp(1 - 6 / 5))


def test_default_order_is_four():
    # a 5-gram match would change a 5th order; the default must stop at 4-grams
    cand, ref = list("abcdexy"), list("abcdezw")
    assert bleu([cand], [[ref]]) == pytest.approx(bleu([cand], [[ref]], max_n=4))
    assert bleu([cand], [[ref]]) != pytest.approx(bleu([cand], [[ref]], max_n=5))


def test_no_order_with_weight_and_ngrams_scores_zero():
    # weight only on bigrams, one-token candidate: no order is left to measure
    assert bleu([["a"]], [[["a"]]], max_n=2, weights=[0.0, 1.0]) == 0.0


def test_brevity_penalty_hand_worked():
    # "the cat": P1 = P2 = 1, but c = 2 < r = 6: BP = exp(1 - 6/2) = e^-2
    assert sentence_bleu(["the", "cat"], [REF1], max_n=2) == pytest.approx(math.exp(-2))
    assert brevity_penalty(7, 6) == 1.0 and brevity_penalty(6, 6) == 1.0
    assert brevity_penalty(3, 6) == pytest.approx(math.exp(-1)) and brevity_penalty(0, 6) == 0.0


def test_closest_reference_length_prefers_the_shorter_on_a_tie():
    # c = 5, references of 4 and 6 tokens are equally close: r = 4, so c > r and BP = 1
    # (r = 6 would give exp(1 - 6/5) = 0.82)
    cand = list("abcde")
    assert sentence_bleu(cand, [list("abcd"), list("abcdef")], max_n=1) == 1.0


def test_corpus_bleu_sums_counts_before_dividing():
    # P1 = (2 + 1) / (2 + 4) = 1/2 and c = r = 6; the mean of the sentence scores is
    # (1 + 1/4) / 2 = 0.625, a different number
    cands = [["a", "b"], ["c", "d", "e", "f"]]
    refs = [[["a", "b"]], [["c", "x", "y", "z"]]]
    assert bleu(cands, refs, max_n=1) == pytest.approx(0.5)
    assert np.mean([sentence_bleu(c, r, max_n=1) for c, r in zip(cands, refs)]) == 0.625


def test_smoothing_hand_worked():
    # "the cat sat" vs "the cat ran": P1 = 2/3, P2 = 1/2, P3 = 0/1, c = r = 3
    cand, refs = "the cat sat".split(), ["the cat ran".split()]
    assert sentence_bleu(cand, refs, max_n=3) == 0.0
    # epsilon: P3 = 0.1 / 1
    assert sentence_bleu(cand, refs, max_n=3, smooth="epsilon") == pytest.approx(
        (2 / 3 * 1 / 2 * 0.1) ** (1 / 3))
    # add1 (n >= 2): P2 = 2/3, P3 = 1/2
    assert sentence_bleu(cand, refs, max_n=3, smooth="add1") == pytest.approx(
        (2 / 3 * 2 / 3 * 1 / 2) ** (1 / 3))


def test_weights():
    cand = "the cat the cat on the mat".split()
    # unigram precision only
    assert sentence_bleu(cand, [REF1, REF2], max_n=2, weights=[1, 0]) == pytest.approx(5 / 7)


def test_empty_and_one_token_candidates_do_not_raise():
    assert sentence_bleu([], [REF1]) == 0.0
    assert sentence_bleu([], [[]]) == 0.0
    assert sentence_bleu(["a"], [[]]) == 0.0
    assert bleu([], []) == 0.0
    # one token: only the unigram order exists, P1 = 1; c = 1, r = 2: BP = e^-1
    assert sentence_bleu(["a"], [["a"]]) == 1.0
    assert sentence_bleu(["a"], [["a", "b"]]) == pytest.approx(math.exp(-1))
    assert sentence_bleu(["z"], [["a"]], smooth="epsilon") == pytest.approx(0.1)


@given(x=nonempty, max_n=st.integers(1, 4), smooth=st.sampled_from([None, "epsilon", "add1"]))
def test_bleu_of_a_sentence_with_itself_is_one(x, max_n, smooth):
    assert sentence_bleu(x, [x], max_n=max_n, smooth=smooth) == pytest.approx(1.0)


@given(cands=st.lists(tokens, min_size=1, max_size=4), data=st.data(),
       smooth=st.sampled_from([None, "epsilon", "add1"]))
def test_bleu_is_between_zero_and_one(cands, data, smooth):
    refs = [data.draw(st.lists(tokens, min_size=1, max_size=3)) for _ in cands]
    assert 0.0 <= bleu(cands, refs, smooth=smooth) <= 1.0


@given(ref=nonempty, data=st.data())
def test_a_prefix_of_the_reference_scores_its_brevity_penalty(ref, data):
    # every n-gram of a prefix is in the reference, so every P_n = 1 and BLEU = BP
    k = data.draw(st.integers(1, len(ref)))
    expect = 1.0 if k == len(ref) else math.exp(1 - len(ref) / k)
    assert sentence_bleu(ref[:k], [ref]) == pytest.approx(expect)


def test_bleu_clear_errors():
    with pytest.raises(ValueError, match="2 candidates but 1 reference sets"):
        bleu([["a"], ["b"]], [[["a"]]])
    with pytest.raises(TypeError, match=r"references\[0\] must be a list of reference token lists"):
        bleu([["a", "b"]], [["a", "b"]])
    with pytest.raises(TypeError, match=r"candidates\[0\] is a string"):
        bleu(["a b"], [[["a", "b"]]])
    with pytest.raises(ValueError, match="references\\[0\\] is empty"):
        bleu([["a"]], [[]])
    with pytest.raises(ValueError, match="unknown smooth='add2'"):
        sentence_bleu(["a"], [["a"]], smooth="add2")
    with pytest.raises(ValueError, match="got 3 weights for max_n=4"):
        sentence_bleu(["a"], [["a"]], weights=[0.5, 0.25, 0.25])


def test_perplexity():
    # uniform guessing over V tokens: mean NLL log V, perplexity V
    assert perplexity(math.log(50)) == pytest.approx(50)
    assert perplexity(mg.tensor(math.log(7.0))) == pytest.approx(7, rel=1e-6)
    assert perplexity(np.float64(0.0)) == 1.0
    with pytest.raises(ValueError, match=r"expected a scalar mean NLL, got shape \(2,\)"):
        perplexity(np.zeros(2))
