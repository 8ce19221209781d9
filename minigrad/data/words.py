"""Seeded word corpora for the word-embedding lessons (09-12): plain Python lists, no downloads.

``analogy_corpus`` writes short English-like sentences in which analogies are planted: every
family is a grid of words (rows x columns), and a word's sentences mix the context words of
its row with those of its column. "king" is the royal row and the male column, so it is seen
with "crown" and "throne" and with "he" and "him"; "queen" with the same royal words and "she",
"her". A word's contexts are then roughly its row's plus its column's, which is what makes
e_king - e_man + e_woman land near e_queen (notes 004, 2.2).

    sentences = analogy_corpus(6000, seed=0)   # [['the', 'king', 'wears', 'a', 'crown', ...], ...]
    questions = analogies()                    # [('king', 'man', 'woman', 'queen'), ...]
                                               # meaning e_king - e_man + e_woman ~ e_queen

``sentiment_corpus`` writes reviews with positive and negative words and, optionally,
negation ("not good" is negative) for the sentiment classifier (notes 004, 2.5).

Scoring word vectors E (V, D) (a Tensor, row i = the vector of word itos[i]) against the
planted analogies: ``cosine_matrix``, ``nearest``, ``solve_analogies`` (3CosAdd) and
``analogy_report``.
"""
import itertools
import random

import numpy as np

# Each family: the column names, the words each column brings along (per template slot),
# the rows as (one word per column, the row's context phrases), and sentence templates.
# {w} is the grid word, {p} and {q} two of its row's phrases, other slots come from its column.
FAMILIES = {
    "gender": {
        "columns": {
            "male": {"subj": ["he"], "obj": ["him"], "poss": ["his"]},
            "female": {"subj": ["she"], "obj": ["her"], "poss": ["her"]},
        },
        "rows": {
            "royal": (["king", "queen"], ["wears a crown", "sits on the throne", "rules the kingdom"]),
            "adult": (["man", "woman"], ["works in an office", "drives a car", "reads the news"]),
            "heir": (["prince", "princess"], ["rides a horse", "lives in a castle", "trains with a sword"]),
            "child": (["boy", "girl"], ["goes to school", "plays with a toy", "kicks a ball"]),
            "parent": (["father", "mother"], ["looks after the children", "cares for the family",
                                              "feeds the baby"]),
            "sibling": (["brother", "sister"], ["shares a bedroom", "has a twin", "argues with a sibling"]),
            "elder": (["uncle", "aunt"], ["visits the nephew", "owns a farm", "tells old jokes"]),
        },
        "templates": ["the {w} {p} and {subj} smiles", "{subj} is the {w} who {p}",
                      "we met the {w} who {p} and talked with {obj}",
                      "the {w} {p} with {poss} friends"],
    },
    "capital": {
        "columns": {
            "country": {"kind": ["country", "nation"], "place": ["borders", "villages"]},
            "capital": {"kind": ["city", "capital"], "place": ["streets", "markets"]},
        },
        "rows": {
            "france": (["france", "paris"], ["wine", "cheese", "art"]),
            "japan": (["japan", "tokyo"], ["sushi", "temples", "anime"]),
            "italy": (["italy", "rome"], ["pasta", "opera", "pizza"]),
            "egypt": (["egypt", "cairo"], ["pyramids", "camels", "nile"]),
            "spain": (["spain", "madrid"], ["paella", "flamenco", "guitars"]),
            "greece": (["greece", "athens"], ["olives", "islands", "myths"]),
            "peru": (["peru", "lima"], ["llamas", "ceviche", "andes"]),
            "kenya": (["kenya", "nairobi"], ["safaris", "lions", "runners"]),
        },
        "templates": ["{w} is a {kind} famous for {p} and {q}", "the {place} of {w} are full of {p}",
                      "we visited the {kind} of {w} for the {p} and the {q}"],
    },
    "tense": {
        "columns": {
            "present": {"time": ["today", "every day", "now", "usually"]},
            "past": {"time": ["yesterday", "last week", "two days ago", "once"]},
        },
        "rows": {
            "walk": (["walk", "walked"], ["in the park", "with the dog"]),
            "jump": (["jump", "jumped"], ["over the fence", "with a rope"]),
            "play": (["play", "played"], ["a board game", "the piano"]),
            "cook": (["cook", "cooked"], ["dinner", "in the kitchen"]),
            "paint": (["paint", "painted"], ["a picture", "the wall"]),
            "climb": (["climb", "climbed"], ["a tree", "the hill"]),
            "dance": (["dance", "danced"], ["to the music", "at the party"]),
            "talk": (["talk", "talked"], ["to a friend", "on the phone"]),
        },
        "templates": ["{time} we {w} {p}", "{time} they {w} {p} together", "we {w} {p} {time}"],
    },
}

# Words with no planted analogy: the notes' apple and orange, as distractors and neighbours.
FRUIT = (["apple", "orange", "banana", "grape", "pear", "mango"],
         ["the {w} is {adj}", "i ate a {adj} {w}", "this {w} tastes {adj}"],
         ["sweet", "fresh", "ripe", "juicy"])


def family_names():
    return list(FAMILIES)


def family_words(family):
    """The grid of ``family`` as {row: [word per column]}."""
    return {row: list(words) for row, (words, _) in _family(family)["rows"].items()}


def _family(name):
    if name not in FAMILIES:
        raise ValueError(f"unknown analogy family {name!r}: expected one of {list(FAMILIES)}")
    return FAMILIES[name]


def analogies(families=None):
    """Every planted analogy as (a, b, c, d), meaning e_a - e_b + e_c ~ e_d.

    For two rows r1 != r2 and two columns c1 != c2 of a family grid w:
    (w[r1][c1], w[r2][c1], w[r2][c2], w[r1][c2]), e.g. ('king', 'man', 'woman', 'queen').
    """
    out = []
    for name in families or FAMILIES:
        rows = list(family_words(name).values())
        ncols = len(rows[0])
        for r1, r2 in itertools.permutations(range(len(rows)), 2):
            for c1, c2 in itertools.permutations(range(ncols), 2):
                out.append((rows[r1][c1], rows[r2][c1], rows[r2][c2], rows[r1][c2]))
    return out


def _sentence(rng, family):
    fam = FAMILIES[family]
    col = rng.randrange(len(fam["columns"]))
    slots = {k: rng.choice(v) for k, v in list(fam["columns"].values())[col].items()}
    words, phrases = rng.choice(list(fam["rows"].values()))
    p, q = rng.sample(phrases, 2)                 # two different phrases of the row
    slots.update(w=words[col], p=p, q=q)
    return rng.choice(fam["templates"]).format(**slots).split()


def _fruit_sentence(rng):
    fruits, templates, adjectives = FRUIT
    return rng.choice(templates).format(w=rng.choice(fruits), adj=rng.choice(adjectives)).split()


def analogy_corpus(num_sentences=6000, seed=0, fruit=0.1):
    """``num_sentences`` sentences (lists of lowercase words) with the analogies planted,
    the families in equal shares, and a ``fruit`` share of distractor sentences.
    The same seed gives the same corpus."""
    if num_sentences < 0:
        raise ValueError(f"analogy_corpus: num_sentences must be >= 0, got {num_sentences}")
    if not 0.0 <= fruit < 1.0:
        raise ValueError(f"analogy_corpus: fruit must be in [0, 1), got {fruit}")
    rng = random.Random(seed)
    names = list(FAMILIES)
    out = []
    for _ in range(num_sentences):
        if rng.random() < fruit:
            out.append(_fruit_sentence(rng))
        else:
            out.append(_sentence(rng, rng.choice(names)))
    return out


# ----------------------------------------------------------------------------- sentiment

POSITIVE = ["good", "great", "wonderful", "excellent", "lovely", "fun", "brilliant", "enjoyable"]
NEGATIVE = ["bad", "awful", "terrible", "boring", "dull", "poor", "horrible", "annoying"]
SUBJECTS = ["movie", "film", "book", "meal", "show", "game", "song", "trip", "hotel", "story"]
ADVERBS = ["very", "really", "quite", "truly", "so"]
OPENERS = ["honestly", "i think", "my friends said", "overall", "in my opinion"]
WHEN = ["last week", "yesterday", "on friday"]


def sentiment_corpus(num_sentences=2000, seed=0, negation=0.3):
    """Short reviews and their labels (1 positive, 0 negative), balanced.

    Each review has one sentiment word; with probability ``negation`` it is negated ("not
    good", "not very good", "never boring"), which flips the label: a bag of words cannot
    tell "good" from "not good" unless it sees the pair. Returns (sentences, labels).
    """
    if not 0.0 <= negation <= 1.0:
        raise ValueError(f"sentiment_corpus: negation must be in [0, 1], got {negation}")
    rng = random.Random(seed)
    sentences, labels = [], []
    for i in range(num_sentences):
        label = i % 2                        # balanced classes, shuffled below
        negate = rng.random() < negation
        polar = POSITIVE if label != negate else NEGATIVE
        adj = rng.choice(polar)
        if rng.random() < 0.4:
            adj = f"{rng.choice(ADVERBS)} {adj}"
        if negate:
            adj = f"{rng.choice(['not', 'not', 'never'])} {adj}"
        subject = rng.choice(SUBJECTS)
        template = rng.choice(["the {s} was {a}", "{o} the {s} was {a}", "this {s} is {a}",
                               "the {s} we saw {t} was {a}"])
        text = template.format(s=subject, a=adj, o=rng.choice(OPENERS), t=rng.choice(WHEN))
        sentences.append(text.split())
        labels.append(label)
    order = list(range(num_sentences))
    rng.shuffle(order)
    return [sentences[i] for i in order], [labels[i] for i in order]


__all__ = ["FAMILIES", "FRUIT", "POSITIVE", "NEGATIVE", "analogy_corpus", "analogies",
           "family_names", "family_words", "sentiment_corpus", "unit_rows", "cosine_matrix",
           "nearest", "solve_analogies", "analogy_report"]


# ----------------------------------------------------------------------------- scoring vectors

def unit_rows(E):
    """Each row of E (V, D) divided by its length, so row dot products are cosines."""
    return E / ((E * E).sum(axis=1, keepdims=True).sqrt() + 1e-12)


def cosine_matrix(E):
    """sim(u, v) = u^T v / (||u||_2 ||v||_2) for every pair of rows of E (V, D): (V, V)."""
    En = unit_rows(E)
    return En @ En.T


def nearest(E, itos, word, k=5):
    """The ``k`` words whose vectors have the largest cosine with ``word``'s: [(word, cos)]."""
    stoi = {w: i for i, w in enumerate(itos)}
    if word not in stoi:
        raise KeyError(f"nearest: {word!r} is not in the vocabulary of {len(itos)} words")
    En = unit_rows(E)
    sims = (En @ En[stoi[word]]).numpy(force=True)
    sims[stoi[word]] = -np.inf
    top = np.argsort(-sims)[:k]
    return [(itos[i], float(sims[i])) for i in top]


def solve_analogies(E, itos, questions):
    """For each (a, b, c, d): the word w != a, b, c maximising sim(e_w, e_a - e_b + e_c)
    (notes 004 2.2; the 3CosAdd rule). Returns (answers, fraction where answer == d)."""
    stoi = {w: i for i, w in enumerate(itos)}
    if not questions:
        return [], 0.0
    a, b, c = (np.array([stoi[q[j]] for q in questions]) for j in range(3))
    En = unit_rows(E)
    target = unit_rows(En[a] - En[b] + En[c])             # (A, D)
    sims = (target @ En.T).numpy(force=True)                         # (A, V): host copy, small
    rows = np.arange(len(questions))
    for idx in (a, b, c):
        sims[rows, idx] = -np.inf                          # the question words are not answers
    answers = [itos[i] for i in sims.argmax(axis=1)]
    correct = np.mean([ans == q[3] for ans, q in zip(answers, questions)])
    return answers, float(correct)


def analogy_report(E, itos, families=None, show=2):
    """Solve every planted analogy with the vectors E (V, D), print the share solved per
    family and a few answers; returns the overall share."""
    total, solved = 0, 0.0
    for family in families or family_names():
        questions = analogies([family])
        answers, acc = solve_analogies(E, itos, questions)
        total += len(questions)
        solved += acc * len(questions)
        examples = ", ".join(f"{a} - {b} + {c} = {ans}{'' if ans == d else f' (want {d})'}"
                             for (a, b, c, d), ans in zip(questions[:show], answers[:show]))
        print(f"  {family:8s} {acc:6.1%} of {len(questions):3d}   e.g. {examples}")
    print(f"  all      {solved / total:6.1%} of {total}")
    return solved / total
