"""minigrad.data.words: the seeded corpora of the word-embedding lessons, and the scoring of
word vectors against their planted analogies."""
import collections

import numpy as np

import pytest
from hypothesis import given, strategies as st

import minigrad as mg
from minigrad.data import words
from minigrad.data.words import analogies, analogy_corpus, family_words, sentiment_corpus


@given(seed=st.integers(0, 2 ** 31), n=st.integers(0, 60))
def test_analogy_corpus_is_deterministic_plain_lists(seed, n):
    a = analogy_corpus(n, seed=seed)
    assert a == analogy_corpus(n, seed=seed)
    assert isinstance(a, list) and len(a) == n
    assert all(isinstance(s, list) and s and all(isinstance(w, str) and w for w in s) for s in a)


def test_different_seeds_give_different_corpora():
    assert analogy_corpus(50, seed=0) != analogy_corpus(50, seed=1)


def test_every_analogy_word_occurs_in_a_modest_corpus():
    seen = {w for s in analogy_corpus(3000, seed=0) for w in s}
    needed = {w for q in analogies() for w in q}
    assert needed <= seen


def test_analogies_are_the_grid_offsets():
    qs = analogies()
    assert qs[0] == ("king", "man", "woman", "queen")
    assert ("japan", "france", "paris", "tokyo") in qs     # japan - france + paris = tokyo
    assert ("jump", "walk", "walked", "jumped") in qs      # jump - walk + walked = jumped
    # a 7 x 2 grid gives 7*6 ordered row pairs times 2 ordered column pairs
    grids = {name: family_words(name) for name in words.family_names()}
    expected = sum(len(g) * (len(g) - 1) * 2 for g in grids.values())
    assert len(qs) == expected == len(set(qs))
    for a, b, c, d in qs:
        assert len({a, b, c, d}) == 4


def test_analogies_of_one_family():
    qs = analogies(["tense"])
    tense_words = {w for row in family_words("tense").values() for w in row}
    assert {w for q in qs for w in q} == tense_words


def test_a_word_shares_contexts_with_its_row_and_its_column():
    # what makes the analogies learnable: king's contexts overlap queen's (row) and man's (column)
    ctx = collections.defaultdict(collections.Counter)
    for s in analogy_corpus(4000, seed=0):
        for w in s:
            ctx[w].update(x for x in s if x != w)
    assert ctx["king"]["crown"] > 0 and ctx["queen"]["crown"] > 0 and ctx["man"]["crown"] == 0
    assert ctx["king"]["he"] > 0 and ctx["man"]["he"] > 0 and ctx["queen"]["he"] == 0
    assert ctx["paris"]["city"] > 0 and ctx["france"]["city"] == 0 and ctx["france"]["wine"] > 0


def test_unknown_family_and_bad_arguments_are_named():
    with pytest.raises(ValueError, match="unknown analogy family 'colours'"):
        analogies(["colours"])
    with pytest.raises(ValueError, match="num_sentences must be >= 0, got -1"):
        analogy_corpus(-1)
    with pytest.raises(ValueError, match=r"fruit must be in \[0, 1\), got 1.5"):
        analogy_corpus(10, fruit=1.5)
    with pytest.raises(ValueError, match=r"negation must be in \[0, 1\], got -0.1"):
        sentiment_corpus(10, negation=-0.1)


@given(seed=st.integers(0, 2 ** 31), n=st.integers(0, 80))
def test_sentiment_corpus_is_deterministic_and_balanced(seed, n):
    s, y = sentiment_corpus(n, seed=seed)
    assert (s, y) == sentiment_corpus(n, seed=seed)
    assert len(s) == len(y) == n
    assert set(y) <= {0, 1} and abs(sum(y) - n / 2) <= 0.5


def _polarity(sentence):
    """The label the corpus promises: the sentiment word's polarity, flipped by a negation."""
    pos = any(w in words.POSITIVE for w in sentence)
    negated = "not" in sentence or "never" in sentence
    return int(pos != negated)


def test_sentiment_labels_follow_words_and_negation():
    s, y = sentiment_corpus(500, seed=3, negation=0.5)
    for sentence, label in zip(s, y):
        assert sum(w in words.POSITIVE or w in words.NEGATIVE for w in sentence) == 1
        assert _polarity(sentence) == label, sentence
    negated = [x for x in s if "not" in x or "never" in x]
    assert 150 < len(negated) < 350
    s0, _ = sentiment_corpus(200, seed=3, negation=0.0)
    assert not any("not" in x or "never" in x for x in s0)


# ----------------------------------------------------------------------------- scoring vectors

def _planted_vectors():
    """Vectors where every analogy of the gender family holds exactly: e = row + column."""
    grid = words.family_words("gender")                 # row -> (male, female)
    itos, vecs = [], []
    rng = np.random.default_rng(0)
    column = {0: rng.standard_normal(8), 1: rng.standard_normal(8)}
    for pair in grid.values():
        row = 3 * rng.standard_normal(8)
        for c, w in enumerate(pair):
            itos.append(w)
            vecs.append(row + column[c])
    return mg.tensor(np.array(vecs)), itos


def test_cosine_matrix_is_the_cosine_of_every_pair():
    E = mg.tensor(np.array([[3.0, 4.0], [1.0, 0.0], [-2.0, 0.0]]))
    S = words.cosine_matrix(E).numpy(force=True)
    np.testing.assert_allclose(S, [[1, 0.6, -0.6], [0.6, 1, -1], [-0.6, -1, 1]], atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(words.unit_rows(E).numpy(force=True), axis=1), 1.0)


def test_nearest_ranks_by_cosine_and_skips_the_word_itself():
    E = mg.tensor(np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.0]]))
    got = words.nearest(E, ["a", "b", "c", "d"], "a", k=2)
    assert [w for w, _ in got] == ["b", "c"]
    assert got[0][1] == pytest.approx(0.9 / np.hypot(0.9, 0.1))
    with pytest.raises(KeyError, match="nearest: 'z' is not in the vocabulary"):
        words.nearest(E, ["a", "b", "c", "d"], "z")


def test_solve_analogies_finds_planted_answers_and_excludes_question_words():
    E, itos = _planted_vectors()
    questions = words.analogies(["gender"])
    answers, accuracy = words.solve_analogies(E, itos, questions)
    assert accuracy == 1.0 and answers == [q[3] for q in questions]
    # a question whose answer is one of its own words is never answered with it
    answers, accuracy = words.solve_analogies(E, itos, [("king", "man", "man", "king")])
    assert answers[0] not in ("king", "man") and accuracy == 0.0
    assert words.solve_analogies(E, itos, []) == ([], 0.0)


def test_analogy_report_prints_each_family_and_returns_the_share(capsys):
    E, itos = _planted_vectors()
    share = words.analogy_report(E, itos, families=["gender"])
    assert share == 1.0
    out = capsys.readouterr().out
    assert "gender" in out and "100.0%" in out
