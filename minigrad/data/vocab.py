"""A vocabulary: the table between tokens and integer ids.

    vocab = Vocab.build([["the", "cat"], ["the", "dog"]], min_freq=1)
    vocab.encode(["the", "cow"], add_bos=True, add_eos=True)   # [1, 4, 3, 2]  (cow -> <unk>)
    vocab.decode([1, 4, 5, 2, 0])                              # ['the', 'cat']

Special tokens come first, in this order and with these default spellings: ``<pad>`` = 0,
``<bos>`` = 1, ``<eos>`` = 2, ``<unk>`` = 3. Rename them to the notes' ``<START>`` /
``<END>`` with ``bos='<START>', eos='<END>'``, or leave one out with ``None``. The other
tokens follow, the most frequent first (ties in string order), so a vocabulary is the same
however its corpus was ordered. Names follow torchtext where it has them (``lookup_token``,
``lookup_indices``, ``get_itos``, ``get_stoi``).
"""
from collections import Counter

__all__ = ["Vocab"]


class Vocab:
    def __init__(self, tokens=(), pad="<pad>", bos="<bos>", eos="<eos>", unk="<unk>"):
        """``tokens``: the ordinary tokens in id order (after the specials); duplicates and
        tokens equal to a special are skipped."""
        self.pad_token, self.bos_token, self.eos_token, self.unk_token = pad, bos, eos, unk
        self._itos = []
        self._stoi = {}
        for tok in [s for s in (pad, bos, eos, unk) if s is not None] + list(tokens):
            if tok not in self._stoi:
                self._stoi[tok] = len(self._itos)
                self._itos.append(tok)
        self.specials = [s for s in (pad, bos, eos, unk) if s is not None]

    @classmethod
    def build(cls, sequences, min_freq=1, max_size=None, **specials):
        """A vocabulary of the tokens seen at least ``min_freq`` times in ``sequences`` (an
        iterable of token lists; a string counts as a list of characters), keeping at most
        ``max_size`` ordinary tokens, the most frequent. ``specials``: pad=, bos=, eos=, unk=."""
        if min_freq < 1:
            raise ValueError(f"Vocab.build: min_freq must be >= 1, got {min_freq}")
        counts = Counter()
        for seq in sequences:
            counts.update(seq)
        ranked = sorted((t for t, c in counts.items() if c >= min_freq),
                        key=lambda t: (-counts[t], t))
        return cls(ranked[:max_size], **specials)

    # ----------------------------------------------------------------- ids of the specials
    def _special_id(self, token, what):
        if token is None:
            raise KeyError(f"Vocab: this vocabulary has no {what} token")
        return self._stoi[token]

    @property
    def pad_id(self):
        return self._special_id(self.pad_token, "padding")

    @property
    def bos_id(self):
        return self._special_id(self.bos_token, "begin-of-sequence")

    @property
    def eos_id(self):
        return self._special_id(self.eos_token, "end-of-sequence")

    @property
    def unk_id(self):
        return self._special_id(self.unk_token, "unknown")

    # ----------------------------------------------------------------- lookups
    def __len__(self):
        return len(self._itos)

    def __contains__(self, token):
        return token in self._stoi

    def __getitem__(self, token):
        """The id of ``token``; an unknown token gets ``unk_id`` (KeyError without <unk>)."""
        idx = self._stoi.get(token)
        if idx is not None:
            return idx
        if self.unk_token is None:
            raise KeyError(f"Vocab: token {token!r} is not in the vocabulary and there is no "
                           "<unk> token to stand for it")
        return self._stoi[self.unk_token]

    def __iter__(self):
        return iter(self._itos)

    def __repr__(self):
        head = ", ".join(repr(t) for t in self._itos[:8])
        return f"Vocab(size={len(self)}: {head}{', ...' if len(self) > 8 else ''})"

    def lookup_indices(self, tokens):
        return [self[t] for t in tokens]

    def lookup_token(self, index):
        index = int(index)
        if not 0 <= index < len(self._itos):
            raise IndexError(f"Vocab: id {index} is out of range for a vocabulary of "
                             f"{len(self._itos)} tokens")
        return self._itos[index]

    def lookup_tokens(self, indices):
        return [self.lookup_token(i) for i in indices]

    def get_itos(self):
        return list(self._itos)

    def get_stoi(self):
        return dict(self._stoi)

    # ----------------------------------------------------------------- sequences
    def encode(self, tokens, add_bos=False, add_eos=False):
        """Token list (or string of characters) -> list of ids, with <bos>/<eos> if asked."""
        ids = self.lookup_indices(tokens)
        return ([self.bos_id] if add_bos else []) + ids + ([self.eos_id] if add_eos else [])

    def decode(self, ids, skip_special_tokens=True):
        """Ids (any int sequence or 1-D array) -> token list. With ``skip_special_tokens``,
        everything from the first <eos> on is dropped, and so are <pad> and <bos>;
        <unk> stays (it is content the model produced)."""
        tokens = self.lookup_tokens(ids)
        if not skip_special_tokens:
            return tokens
        if self.eos_token is not None and self.eos_token in tokens:
            tokens = tokens[:tokens.index(self.eos_token)]
        return [t for t in tokens if t not in (self.pad_token, self.bos_token)]
