"""minigrad.data: Vocab, padding and batching, BPE, and the seeded task generators."""
import datetime
import re

import numpy as np
import pytest
from hypothesis import given, strategies as st

from minigrad.data import (BPETokenizer, Vocab, addition, char_corpus, date_formats,
                           decoder_io, lm_batches, minibatches, pad_batch, qa_summaries,
                           reversal)
from minigrad.data.tasks import DATE_FORMATS, WEEKDAYS, format_date


# ----------------------------------------------------------------------------- Vocab

def test_vocab_build_orders_by_frequency_then_string():
    v = Vocab.build([["b", "a", "c"], ["a", "b", "a"], ["d"]])
    # a x3, b x2, then c and d once each in string order, after the four specials
    assert v.get_itos() == ["<pad>", "<bos>", "<eos>", "<unk>", "a", "b", "c", "d"]
    assert (v.pad_id, v.bos_id, v.eos_id, v.unk_id) == (0, 1, 2, 3)
    assert Vocab.build([["d"], ["c"]]).get_itos() == Vocab.build([["c"], ["d"]]).get_itos()
    assert Vocab.build([["b", "a", "c"], ["a", "b", "a"]], min_freq=2).get_itos()[4:] == ["a", "b"]
    assert Vocab.build([["b", "a", "c"], ["a", "b", "a"]], max_size=1).get_itos()[4:] == ["a"]
    assert len(Vocab.build(["hello"])) == 4 + 4          # a string is a list of characters


def test_vocab_encode_decode():
    v = Vocab.build([["the", "cat"], ["the", "dog"]])
    ids = v.encode(["the", "cow", "cat"], add_bos=True, add_eos=True)
    assert ids == [v.bos_id, v["the"], v.unk_id, v["cat"], v.eos_id]
    assert v.decode(ids) == ["the", "<unk>", "cat"]
    # decoding stops at the first <eos> and drops padding
    assert v.decode(ids + [v["dog"], v.pad_id]) == ["the", "<unk>", "cat"]
    assert v.decode(np.array(ids), skip_special_tokens=False) == v.lookup_tokens(ids)
    assert v.get_stoi()["dog"] == v.lookup_indices(["dog"])[0] and "dog" in v and "cow" not in v


def test_vocab_renamed_and_missing_specials():
    v = Vocab.build([list("abc")], pad="<pad>", bos="<START>", eos="<END>", unk=None)
    assert v.get_itos()[:3] == ["<pad>", "<START>", "<END>"]
    assert v.decode(v.encode("ab", add_bos=True, add_eos=True)) == ["a", "b"]
    with pytest.raises(KeyError, match="token 'z' is not in the vocabulary and there is no <unk>"):
        v.encode("z")
    with pytest.raises(KeyError, match="no unknown token"):
        v.unk_id
    with pytest.raises(IndexError, match="id 99 is out of range for a vocabulary of 6"):
        v.decode([99])
    with pytest.raises(ValueError, match="min_freq must be >= 1, got 0"):
        Vocab.build([], min_freq=0)


# ----------------------------------------------------------------------------- batching

def test_pad_batch():
    ids, mask, lengths = pad_batch([[5, 6, 7], [8], []], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [0, 0, 0]] and ids.dtype == np.int64
    assert mask.tolist() == [[True, True, True], [True, False, False], [False] * 3]
    assert lengths.tolist() == [3, 1, 0]
    ids, mask, _ = pad_batch([[1, 2]], pad_id=9, length=4)
    assert ids.tolist() == [[1, 2, 9, 9]] and mask.sum() == 2
    assert pad_batch([])[0].shape == (0, 0)
    with pytest.raises(ValueError, match="sequence 0 has 3 tokens, more than length=2"):
        pad_batch([[1, 2, 3]], length=2)


def test_decoder_io_shifts_the_target():
    dec_in, dec_out, mask = decoder_io([[5, 6], [7]], bos_id=1, eos_id=2, pad_id=0)
    assert dec_in.tolist() == [[1, 5, 6], [1, 7, 0]]
    assert dec_out.tolist() == [[5, 6, 2], [7, 2, 0]]
    assert mask.tolist() == [[True, True, True], [True, True, False]]


def test_minibatches():
    x, y = np.arange(10) * 10, list(range(10))
    batches = list(minibatches([x, y], 4))
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    assert np.array_equal(np.concatenate([b[0] for b in batches]), x)
    shuffled = list(minibatches([x, y], 4, shuffle=True, seed=3, drop_last=True))
    assert len(shuffled) == 2
    for bx, by in shuffled:
        assert np.array_equal(bx, by * 10)                   # rows stay paired
    again = list(minibatches([x, y], 4, shuffle=True, seed=3, drop_last=True))
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(shuffled, again))
    with pytest.raises(ValueError, match=r"disagree on the number of rows: \[3, 10\]"):
        list(minibatches([x, np.zeros(3)], 4))


def test_lm_batches_are_continuous_lanes():
    ids = np.arange(103)
    batches = list(lm_batches(ids, batch_size=4, seq_len=5))
    # 102 usable tokens -> lanes of 25; 5 windows of 5
    assert len(batches) == 5
    x0, y0 = batches[0]
    assert x0.shape == (4, 5) and np.array_equal(y0, x0 + 1)
    assert x0[:, 0].tolist() == [0, 25, 50, 75]
    # the next batch continues each lane where the last one stopped
    assert np.array_equal(batches[1][0][:, 0], x0[:, -1] + 1)
    with pytest.raises(ValueError, match="too few for batch_size=4"):
        list(lm_batches(np.arange(10), 4, 5))


# ----------------------------------------------------------------------------- BPE

CORPUS = (char_corpus(20000, seed=1) + "\n"
          + "\n".join(s + " " + t for s, t in qa_summaries(100, seed=1)))
TOK = BPETokenizer.train(CORPUS, num_merges=200)


def test_bpe_hand_worked():
    # aaabdaaabac: "aa" is the most frequent pair (4 times) -> 256; then "ab" and "256 a" tie
    # at 2 and the smaller ids win: "ab" -> 257; then "256 257" (twice) -> 258. What is left,
    # 258 d 258 a c, has no pair twice, so training stops after 3 of the 10 merges.
    tok = BPETokenizer.train("aaabdaaabac", num_merges=10)
    assert tok.merges == [(97, 97), (97, 98), (256, 257)]
    assert tok.encode("aaabdaaabac") == [258, ord("d"), 258, ord("a"), ord("c")]
    assert tok.tokens(tok.encode("aaab")) == ["aaab"]
    assert tok.vocab_size == 256 + 3 + 3 and tok.eos_id == 256 + 3 + 2


def test_bpe_learns_frequent_words_and_compresses():
    ids = TOK.encode(CORPUS)
    assert len(ids) < 0.5 * len(CORPUS.encode("utf-8"))
    assert " the" in TOK.tokens(TOK.encode("the cat sleeps by the river"))
    assert TOK.decode(ids) == CORPUS


@given(st.text())
def test_bpe_round_trips_any_text(s):
    assert TOK.decode(TOK.encode(s)) == s


@given(st.text(max_size=30), st.integers(0, 40))
def test_bpe_trained_on_any_text_round_trips(s, merges):
    tok = BPETokenizer.train(s, merges)
    assert tok.decode(tok.encode(s)) == s
    assert tok.decode(tok.encode("unseen 字 \U0001F600" + s)) == "unseen 字 \U0001F600" + s


def test_bpe_specials_and_errors():
    ids = TOK.encode("hi", add_bos=True, add_eos=True)
    assert ids[0] == TOK.bos_id and ids[-1] == TOK.eos_id and TOK.decode(ids) == "hi"
    assert TOK.tokens([TOK.pad_id]) == ["<pad>"]
    assert TOK.decode(TOK.encode("a\ud800b")) == "a\ud800b"        # even a lone surrogate
    assert TOK.tokens(TOK.encode("\U0001F600"))[0].startswith("<0xF0>")
    with pytest.raises(IndexError, match="id 100000 is out of range"):
        TOK.decode([100000])
    with pytest.raises(TypeError, match="expected a str, got list"):
        TOK.encode(["a"])
    with pytest.raises(KeyError, match="no special token '<unk>'"):
        TOK.token_id("<unk>")


# ----------------------------------------------------------------------------- generators

@pytest.mark.parametrize("gen", [addition, date_formats, reversal, qa_summaries])
def test_generators_are_seeded_and_distinct(gen):
    a = gen(300, seed=5)
    assert a == gen(300, seed=5)
    assert a != gen(300, seed=6)
    assert len({src for src, _ in a}) == 300
    assert all(isinstance(s, str) and isinstance(t, str) for s, t in a)
    assert gen(0) == []


def test_addition_labels():
    data = addition(50000, seed=0)
    assert len(data) == 50000
    for src, tgt in data:
        a, b = src.split("+")
        assert int(a) + int(b) == int(tgt) and 0 <= int(a) < 1000 and 0 <= int(b) < 1000
    assert sorted(addition(100, digits=1)) == sorted(
        (f"{a}+{b}", str(a + b)) for a in range(10) for b in range(10))
    with pytest.raises(ValueError, match="asked for 101 distinct problems but only 100"):
        addition(101, digits=1)


# every numeric form is day-first; strptime reads two-digit years 00-68 as 20xx, as we do
PARSE_FORMATS = ["%B %d, %Y", "%d %b %Y", "%d %B %Y", "%A, %B %d, %Y", "%A %B %d %Y",
                 "%A %d %B %Y", "%d/%m/%y", "%d.%m.%Y", "%d.%m.%y", "%B %d %Y", "%b %d, %Y",
                 "%d-%b-%Y"]


def _parse(text):
    for fmt in PARSE_FORMATS:
        try:
            return datetime.datetime.strptime(text, fmt).date()
        except ValueError:
            pass
    raise AssertionError(f"no format reads {text!r}")


def test_date_labels_parse_to_the_same_date():
    data = date_formats(2000, seed=0)
    for src, tgt in data:
        date = _parse(src)
        assert date.isoformat() == tgt
        assert datetime.date(1970, 1, 1) <= date <= datetime.date(2029, 12, 31)
        named = [w for w in WEEKDAYS if w in src.lower()]
        assert named in ([], [WEEKDAYS[date.weekday()]])          # a weekday, if any, is right
    used = {re.sub(r"\d", "0", src) for src, _ in data}
    assert len(used) > 20                                          # many surface forms


def test_date_formats_hand_worked():
    d = datetime.date(1994, 3, 7)
    assert [format_date(d, f) for f in DATE_FORMATS[:6]] == [
        "march 7, 1994", "March 7, 1994", "7 mar 1994", "7 March 1994", "07 Mar 1994",
        "Monday, March 7, 1994"]
    assert format_date(d, "{dd}/{mm}/{yy}") == "07/03/94"


def test_reversal_labels():
    for src, tgt in reversal(300, seed=2, min_len=2, max_len=5, alphabet="xyz"):
        assert tgt == src[::-1] and 2 <= len(src) <= 5 and set(src) <= set("xyz")
    with pytest.raises(ValueError, match="only 6 exist"):
        reversal(7, min_len=1, max_len=1, alphabet="abcdef")


def test_qa_summaries_reuse_source_words_and_take_the_technicians_diagnosis():
    data = qa_summaries(600, seed=0)
    guessed = 0
    for src, summary in data:
        words = src.split()
        assert " ".join(words) == src and " ".join(summary.split()) == summary
        assert set(summary.split()) <= set(words)                  # copyable from the source
        cause = summary.split(" ， ")[0]
        # the summary's cause is the one the technician gives, not the owner's guess
        assert f"一般 是 {cause} ，" in src or f"不是 ， 是 {cause} 导致" in src
        guess = re.search(r"是不是 (.+?) ？", src)
        if guess:
            guessed += 1
            assert guess.group(1) != cause
    assert 150 < guessed < 450
    assert len({s for _, s in data}) > 50


def test_char_corpus():
    text = char_corpus(5000, seed=3)
    assert len(text) == 5000 and text == char_corpus(5000, seed=3) != char_corpus(5000, seed=4)
    assert set(text) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .\n")
    sentences = re.split(r"(?<=\.)[ \n]", text)[:-1]
    assert all(s[0].isupper() and s.endswith(".") for s in sentences)
    # agreement: a plural subject never takes the singular verb
    assert not re.search(r"\b(cats|dogs|parents|children|birds|farmers) (sleeps|sees|likes)",
                         text)
    assert char_corpus(0) == ""
