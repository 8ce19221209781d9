"""The data that benchmarks/census_train.py feeds the census programs in place of downloads:
generated files in the programs' formats (names per language, English-French pairs, a word
corpus) and stand-in packages for what torch does not ship (torchvision, torchtext and its
legacy API, spaCy, GloVe vectors), each hands out generated data of the shapes the program
expects. Both libraries get the same data; the stand-ins build tensors with whichever of torch /
minigrad the program imported."""
import os
import random

# ----------------------------------------------------------------------------- generated data

LANGUAGES = ["Arabic", "Chinese", "Czech", "Dutch", "English", "French", "German", "Greek",
             "Irish", "Italian", "Japanese", "Korean", "Polish", "Portuguese", "Russian",
             "Scottish", "Spanish", "Vietnamese"]


def names_data(folder):
    """data/names/<Language>.txt, 40 names each, letters drawn from a per-language syllable
    set (so the language is learnable), capitalised as the real files are."""
    rng = random.Random(0)
    os.makedirs(os.path.join(folder, "data", "names"))
    consonants, vowels = "bcdfghjklmnprstvwz", "aeiouy"
    for k, lang in enumerate(LANGUAGES):
        r = random.Random(k)
        sylls = [r.choice(consonants) + r.choice(vowels) + r.choice(["", r.choice(consonants)])
                 for _ in range(4)]
        names = ["".join(rng.choice(sylls) for _ in range(rng.randint(2, 3))).capitalize()
                 for _ in range(40)]
        with open(os.path.join(folder, "data", "names", f"{lang}.txt"), "w") as f:
            f.write("\n".join(names) + "\n")


_PAIRS = [("i m too cold .", "je suis trop froid ."),
          ("she is five years younger than me .", "elle a cinq ans de moins que moi ."),
          ("she s too short .", "elle est trop petit ."),
          ("i m not scared to die .", "je ne crains pas de mourir ."),
          ("he s a talented young director .", "c est un jeune directeur plein de talent .")]
_SUBJECTS = [("i am", "je suis"), ("he is", "il est"), ("she is", "elle est"),
             ("we are", "nous sommes"), ("you are", "vous etes"), ("they are", "ils sont")]
_ADJ = [("tired", "fatigue"), ("happy", "heureux"), ("cold", "froid"), ("ready", "pret"),
        ("late", "en retard"), ("busy", "occupe"), ("sick", "malade"), ("hungry", "affame"),
        ("rich", "riche"), ("young", "jeune"), ("short", "petit"), ("strong", "fort")]


def eng_fra_data(folder):
    """data/eng-fra.txt: tab-separated English / French pairs that the tutorial's filter keeps
    (short, 'i am ...', 'he is ...'), including the sentences it translates at the end."""
    os.makedirs(os.path.join(folder, "data"))
    rows = [f"{e}\t{f}" for e, f in _PAIRS]
    for se, sf in _SUBJECTS:
        for ae, af in _ADJ:
            rows.append(f"{se} {ae} .\t{sf} {af} .")
            rows.append(f"{se} very {ae} .\t{sf} tres {af} .")
    with open(os.path.join(folder, "data", "eng-fra.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(rows) + "\n")


def wikitext_data(folder, vocab=400, lines=(300, 40, 40)):
    """data/wikitext-2/{train,valid,test}.txt: a word corpus from a fixed random bigram
    model over ``vocab`` words (so a language model has something to learn)."""
    rng = random.Random(0)
    words = [f"w{i}" for i in range(vocab)]
    nxt = {w: [rng.choice(words) for _ in range(3)] for w in words}
    path = os.path.join(folder, "data", "wikitext-2")
    os.makedirs(path)
    for name, n in zip(("train", "valid", "test"), lines):
        with open(os.path.join(path, f"{name}.txt"), "w", encoding="utf-8") as f:
            for _ in range(n):
                w = rng.choice(words)
                line = [w]
                for _ in range(rng.randint(8, 16)):
                    w = rng.choice(nxt[w])
                    line.append(w)
                f.write(" " + " ".join(line) + " \n")


def no_data(folder):
    pass


# torchtext's legacy API (Field, WikiText2.splits), which the stored transformer tutorial uses
# and no current torchtext has: a stand-in serving the generated corpus. torchtext is not part
# of torch, so both libraries get the same stand-in; it builds its tensors with whichever of
# torch / minigrad the program imported.
_TORCHTEXT = {
    "torchtext/__init__.py": "from . import data, datasets\n",
    "torchtext/data/__init__.py": """
import importlib, sys
from . import utils


def _lib():
    return sys.modules["torch"] if "torch" in sys.modules else importlib.import_module("minigrad")


class _Vocab:
    def __init__(self, words):
        self.itos = list(words)
        self.stoi = {w: i for i, w in enumerate(self.itos)}


class Field:
    def __init__(self, tokenize, init_token=None, eos_token=None, lower=False):
        self.tokenize, self.init_token, self.eos_token = tokenize, init_token, eos_token

    def build_vocab(self, dataset):
        words = ["<unk>", "<pad>", self.init_token, self.eos_token]
        for w in dataset.examples[0].text:
            if w not in words:
                words.append(w)
        self.vocab = _Vocab(words)

    def numericalize(self, batch):
        torch = _lib()
        ids = [[self.vocab.stoi.get(w, 0) for w in ex] for ex in batch]
        return torch.tensor(ids, dtype=torch.long).t().contiguous()
""",
    "torchtext/data/utils.py": """
def get_tokenizer(name):
    return lambda s: s.lower().split()
""",
    "torchtext/datasets.py": """
import os, types


class WikiText2:
    @staticmethod
    def splits(field):
        out = []
        for name in ("train", "valid", "test"):
            with open(os.path.join("data", "wikitext-2", name + ".txt")) as f:
                text = [field.init_token] + field.tokenize(f.read()) + [field.eos_token]
            out.append(types.SimpleNamespace(examples=[types.SimpleNamespace(text=text)]))
        return tuple(out)
""",
}


def torchtext_stand_in(folder):
    wikitext_data(folder)
    for path, text in _TORCHTEXT.items():
        os.makedirs(os.path.join(folder, os.path.dirname(path)), exist_ok=True)
        with open(os.path.join(folder, path), "w") as f:
            f.write(text.lstrip())


def _stand_in(folder, files):
    for path, text in files.items():
        os.makedirs(os.path.join(folder, os.path.dirname(path)), exist_ok=True)
        with open(os.path.join(folder, path), "w") as f:
            f.write(text.lstrip())


_LIB = """
import importlib, sys


def lib():
    # whichever of torch / minigrad the program imported (both get this same stand-in)
    return sys.modules["torch"] if "torch" in sys.modules else importlib.import_module("minigrad")
"""

# torchvision's MNIST (60000 / 10000 images of 1 x 28 x 28, 10 classes), ToTensor and
# Normalize: generated images of the same shape and classes, fewer of them. Each class is a
# fixed random stroke pattern, shifted by up to 2 pixels, scaled and noised per image, so that
# reading the rows one by one (the program's LSTM) has something to learn.
_TORCHVISION = {
    "torchvision/__init__.py": "from . import datasets, transforms\n",
    "torchvision/_lib.py": _LIB,
    "torchvision/transforms.py": """
import numpy as np
from ._lib import lib


class Compose:
    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x


class ToTensor:
    def __call__(self, img):                  # uint8 (28, 28) -> float32 (1, 28, 28) in [0, 1]
        return lib().tensor(img[None].astype(np.float32) / 255.0)


class Normalize:
    def __init__(self, mean, std):
        self.mean, self.std = mean[0], std[0]

    def __call__(self, t):
        return (t - self.mean) / self.std
""",
    "torchvision/datasets.py": """
import numpy as np

SIZES = {True: 2048, False: 512}


def _images(n, seed):
    protos = np.zeros((10, 32, 32))
    r = np.random.RandomState(1234)
    for c in range(10):
        for _ in range(3):                     # three strokes per class
            y, x = r.randint(4, 28, 2)
            dy, dx = r.randint(-1, 2, 2)
            for k in range(12):
                protos[c, np.clip(y + k * dy, 0, 31), np.clip(x + k * dx, 0, 31)] = 1.0
                protos[c, np.clip(y + k * dy + 1, 0, 31), np.clip(x + k * dx, 0, 31)] = 0.7
    r = np.random.RandomState(seed)
    labels = r.randint(0, 10, n)
    out = np.empty((n, 28, 28), np.uint8)
    for i, c in enumerate(labels):
        oy, ox = r.randint(0, 5, 2)
        img = protos[c, oy:oy + 28, ox:ox + 28] * r.uniform(0.6, 1.0) + r.rand(28, 28) * 0.3
        out[i] = np.clip(img * 255, 0, 255).astype(np.uint8)
    return out, labels


class MNIST:
    def __init__(self, root, train=True, download=False, transform=None):
        self.data, self.targets = _images(SIZES[train], 0 if train else 1)
        self.transform = transform

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        img = self.data[i]
        return (self.transform(img) if self.transform else img), int(self.targets[i])
""",
}


def torchvision_stand_in(folder):
    _stand_in(folder, _TORCHVISION)


# torchtext.legacy's Field / SNLI / BucketIterator and GloVe vectors (glove.6B.100d), which
# no current torchtext has and which download: generated premise / hypothesis pairs over a
# 600-word vocabulary (SNLI: about 36000 words), labels entailment (the hypothesis is a
# stretch of the premise), contradiction (the same with 'not' in it) and neutral (other
# words); the vectors are seeded normal draws of GloVe's width (100).
_TORCHTEXT_LEGACY = {
    "torchtext/__init__.py": "",
    "torchtext/legacy/__init__.py": "from . import data, datasets\n",
    "torchtext/legacy/_lib.py": _LIB,
    "torchtext/legacy/data.py": """
import collections, math, random
import numpy as np
from ._lib import lib


class Vocab:
    def __init__(self, counts, specials):
        words = sorted(counts, key=lambda w: (-counts[w], w))
        self.itos = list(specials) + [w for w in words if w not in specials]
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.vectors = None

    def __len__(self):
        return len(self.itos)

    def load_vectors(self, name):                # 'glove.6B.100d' -> 100 columns
        dim = int(name.rsplit(".", 1)[1].rstrip("d"))
        r = np.random.RandomState(6)
        self.vectors = lib().tensor(r.randn(len(self.itos), dim).astype(np.float32))


class Field:
    def __init__(self, sequential=True, lower=False, tokenize=None):
        self.sequential, self.lower = sequential, lower

    def build_vocab(self, *datasets):
        counts = collections.Counter()
        for d in datasets:
            for ex in d.examples:
                if self.sequential:
                    counts.update(ex.premise + ex.hypothesis)
                else:
                    counts[ex.label] += 1
        self.vocab = Vocab(counts, ["<unk>", "<pad>"] if self.sequential else ["<unk>"])

    def words(self, batch):
        t = max(len(s) for s in batch)
        ids = [[self.vocab.stoi.get(w, 0) for w in s] + [1] * (t - len(s)) for s in batch]
        return lib().tensor(ids, dtype=lib().long).t().contiguous()     # (T, B)


class Batch:
    pass


class BucketIterator:
    def __init__(self, dataset, batch_size, train):
        self.dataset, self.batch_size, self.train = dataset, batch_size, train

    @classmethod
    def splits(cls, datasets, batch_size, device=None):
        return tuple(cls(d, batch_size, i == 0) for i, d in enumerate(datasets))

    def init_epoch(self):
        pass

    def __len__(self):
        return math.ceil(len(self.dataset) / self.batch_size)

    def __iter__(self):
        exs = list(self.dataset.examples)
        if self.train:
            random.shuffle(exs)                 # the runner seeds Python's random
        for i in range(0, len(exs), self.batch_size):
            part = exs[i:i + self.batch_size]
            b = Batch()
            b.premise = self.dataset.text.words([e.premise for e in part])
            b.hypothesis = self.dataset.text.words([e.hypothesis for e in part])
            b.label = lib().tensor([self.dataset.label.vocab.stoi[e.label] for e in part],
                                   dtype=lib().long)
            b.batch_size = len(part)
            yield b
""",
    "torchtext/legacy/datasets.py": """
import random, types

VOCAB = [f"w{i}" for i in range(600)]
SIZES = (1280, 128, 128)


def _examples(n, seed):
    r = random.Random(seed)
    out = []
    for _ in range(n):
        premise = [r.choice(VOCAB) for _ in range(r.randint(6, 12))]
        label = r.choice(["entailment", "contradiction", "neutral"])
        k = r.randint(0, len(premise) - 3)
        hypothesis = premise[k:k + r.randint(3, 5)]
        if label == "contradiction":
            hypothesis = hypothesis[:1] + ["not"] + hypothesis[1:]
        elif label == "neutral":
            hypothesis = [r.choice(VOCAB) for _ in range(len(hypothesis))]
        out.append(types.SimpleNamespace(premise=premise, hypothesis=hypothesis, label=label))
    return out


class _Dataset:
    def __init__(self, examples, text, label):
        self.examples, self.text, self.label = examples, text, label

    def __len__(self):
        return len(self.examples)


class SNLI:
    @staticmethod
    def splits(text_field, label_field):
        return tuple(_Dataset(_examples(n, i), text_field, label_field)
                     for i, n in enumerate(SIZES))
""",
}


def snli_stand_in(folder):
    _stand_in(folder, _TORCHTEXT_LEGACY)


# torchtext's Multi30k (German-English, 29000 training pairs, vocabularies of about 19000 and
# 10000 words), spaCy tokenizers and build_vocab_from_iterator: generated pairs, a German-like
# sentence and its word-for-word English with one reordering rule (a verb moves to the end), over
# 200 + 200 words; split on spaces.
_TORCHTEXT_M30K = {
    "torchtext/__init__.py": "from . import data, datasets, vocab\n",
    "torchtext/data/__init__.py": "from . import utils\n",
    "torchtext/data/utils.py": """
def get_tokenizer(name, language=None):
    return lambda s: s.split()
""",
    "torchtext/vocab.py": """
import collections


class Vocab:
    def __init__(self, itos):
        self.itos = itos
        self.stoi = {w: i for i, w in enumerate(itos)}
        self.default = None

    def __len__(self):
        return len(self.itos)

    def set_default_index(self, i):
        self.default = i

    def __call__(self, tokens):
        return [self.stoi.get(w, self.default) for w in tokens]

    def lookup_tokens(self, ids):
        return [self.itos[int(i)] for i in ids]


def build_vocab_from_iterator(iterator, min_freq=1, specials=None, special_first=True):
    counts = collections.Counter()
    for tokens in iterator:
        counts.update(tokens)
    words = [w for w in sorted(counts, key=lambda w: (-counts[w], w))
             if counts[w] >= min_freq and w not in (specials or [])]
    return Vocab(list(specials or []) + words)
""",
    "torchtext/datasets/__init__.py": """
import random
from . import multi30k

WORDS = 200
SIZES = {"train": 1024, "valid": 128}


def Multi30k(split="train", language_pair=("de", "en")):
    r = random.Random(0 if split == "train" else 1)
    pairs = []
    for _ in range(SIZES[split]):
        ids = [r.randrange(WORDS) for _ in range(r.randint(4, 10))]
        de = [f"d{i}" for i in ids]
        en = [f"e{i}" for i in ids]
        if ids[0] % 4 == 0:                      # German puts the verb last
            de = de[1:] + de[:1]
        pairs.append((" ".join(de) + "\\n", " ".join(en) + "\\n"))
    return pairs if language_pair[0] == "de" else [(b, a) for a, b in pairs]
""",
    "torchtext/datasets/multi30k.py": "URL = {}\n",
}


def multi30k_stand_in(folder):
    _stand_in(folder, _TORCHTEXT_M30K)
