"""Byte-pair encoding (BPE, notes 002 transformer 输入编码): a subword vocabulary learned
from text, so that no word is ever out of vocabulary.

Training starts from the 256 byte values of the text's UTF-8 encoding and repeats one move:
find the pair of adjacent symbols that occurs most often in the corpus and make it a new
symbol. After ``num_merges`` moves the vocabulary is 256 bytes + the merged symbols (+ the
special tokens). Encoding replays the merges, in the order they were learned, on new text.

Because every string is a sequence of bytes, any text, including characters never seen in
training (an emoji, a rare 汉字), encodes, and ``decode(encode(s)) == s`` for every string.

    tok = BPETokenizer.train(text, num_merges=300)
    ids = tok.encode("the cat")          # a few ids; frequent words become one symbol
    tok.decode(ids)                      # 'the cat'
    tok.tokens(ids)                      # ['the', ' cat'] : the pieces, readable

Merges never cross the boundary before a run of spaces: text is first cut into chunks of
"spaces + one word", so ' cat' can become a symbol but 't c' cannot.
"""
import re
from collections import Counter, defaultdict

__all__ = ["BPETokenizer"]

# a chunk is leading whitespace plus a run of non-space characters, or trailing whitespace;
# the chunks of a string are the whole string, in order
_CHUNK = re.compile(r"\s*\S+|\s+")


def _to_bytes(text):
    # surrogatepass: lone surrogates (possible in a Python str) still round-trip
    return text.encode("utf-8", "surrogatepass")


def _merge(symbols, pair, new):
    """``symbols`` with every non-overlapping occurrence of ``pair`` (left to right) -> new."""
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            out.append(new)
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return out


class BPETokenizer:
    """ids 0..255: single bytes; 256 .. 256 + num_merges - 1: merged symbols, in the order
    they were learned; then the special tokens (by default <pad>, <bos>, <eos>)."""

    def __init__(self, merges, special_tokens=("<pad>", "<bos>", "<eos>")):
        """``merges``: list of id pairs (a, b); merge i makes id 256 + i from a and b."""
        self.merges = [tuple(int(x) for x in m) for m in merges]
        self.rank = {pair: 256 + i for i, pair in enumerate(self.merges)}
        self.pieces = [bytes([b]) for b in range(256)]
        for i, (a, b) in enumerate(self.merges):
            if not (a < 256 + i and b < 256 + i):
                raise ValueError(f"BPETokenizer: merge {i} {(a, b)} uses an id that does not "
                                 f"exist yet (expected ids < {256 + i})")
            self.pieces.append(self.pieces[a] + self.pieces[b])
        first = 256 + len(self.merges)
        self.special_tokens = list(special_tokens)
        self.special_ids = {t: first + i for i, t in enumerate(self.special_tokens)}
        self._cache = {}

    @classmethod
    def train(cls, text, num_merges, special_tokens=("<pad>", "<bos>", "<eos>")):
        """Learn ``num_merges`` merges from ``text`` (a string, or a list of strings).
        Stops early when no pair occurs twice. Ties go to the smallest pair of ids, so
        training is deterministic."""
        if num_merges < 0:
            raise ValueError(f"BPETokenizer.train: num_merges must be >= 0, got {num_merges}")
        texts = [text] if isinstance(text, str) else list(text)
        chunk_counts = Counter(c for t in texts for c in _CHUNK.findall(t))
        words = [list(_to_bytes(c)) for c in chunk_counts]      # each distinct chunk once
        freq = list(chunk_counts.values())

        # pair -> total count, and pair -> the words it occurs in; updated after each merge
        # instead of recounted, so training stays fast on a few hundred kilobytes
        pair_count = Counter()
        where = defaultdict(set)
        for w, (symbols, f) in enumerate(zip(words, freq)):
            for pair in zip(symbols, symbols[1:]):
                pair_count[pair] += f
                where[pair].add(w)

        merges = []
        for new in range(256, 256 + num_merges):
            if not pair_count:
                break
            pair = max(pair_count, key=lambda p: (pair_count[p], -p[0], -p[1]))
            if pair_count[pair] < 2:
                break
            merges.append(pair)
            for w in list(where[pair]):
                old = words[w]
                for p in zip(old, old[1:]):
                    pair_count[p] -= freq[w]
                    if pair_count[p] == 0:
                        del pair_count[p]
                    where[p].discard(w)
                words[w] = _merge(old, pair, new)
                for p in zip(words[w], words[w][1:]):
                    pair_count[p] += freq[w]
                    where[p].add(w)
        return cls(merges, special_tokens)

    @property
    def vocab_size(self):
        return 256 + len(self.merges) + len(self.special_tokens)

    def __len__(self):
        return self.vocab_size

    def __repr__(self):
        return (f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, "
                f"special_tokens={self.special_tokens})")

    def token_id(self, special):
        """The id of a special token, e.g. ``tok.token_id('<bos>')``."""
        if special not in self.special_ids:
            raise KeyError(f"BPETokenizer: no special token {special!r}; it has "
                           f"{self.special_tokens}")
        return self.special_ids[special]

    @property
    def pad_id(self):
        return self.token_id("<pad>")

    @property
    def bos_id(self):
        return self.token_id("<bos>")

    @property
    def eos_id(self):
        return self.token_id("<eos>")

    def _encode_chunk(self, chunk):
        ids = self._cache.get(chunk)
        if ids is None:
            ids = list(_to_bytes(chunk))
            while len(ids) > 1:
                # the earliest-learned merge present in the chunk goes first, as in training
                pair = min(zip(ids, ids[1:]), key=lambda p: self.rank.get(p, float("inf")))
                if pair not in self.rank:
                    break
                ids = _merge(ids, pair, self.rank[pair])
            self._cache[chunk] = ids
        return ids

    def encode(self, text, add_bos=False, add_eos=False):
        """String -> list of ids."""
        if not isinstance(text, str):
            raise TypeError(f"BPETokenizer.encode: expected a str, got {type(text).__name__}")
        ids = [i for chunk in _CHUNK.findall(text) for i in self._encode_chunk(chunk)]
        return ([self.bos_id] if add_bos else []) + ids + ([self.eos_id] if add_eos else [])

    def decode(self, ids):
        """Ids -> string. Special tokens are left out; byte sequences that are not valid
        UTF-8 (possible only for ids a model made up, never for ``encode``'s) become U+FFFD."""
        ids = [int(i) for i in ids]
        for i in ids:
            if not 0 <= i < self.vocab_size:
                raise IndexError(f"BPETokenizer.decode: id {i} is out of range for a "
                                 f"vocabulary of {self.vocab_size}")
        data = b"".join(self.pieces[i] for i in ids if i < len(self.pieces))
        try:
            return data.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            return data.decode("utf-8", "replace")

    def tokens(self, ids):
        """The readable piece of each id: its text, a special token's name, or, for a piece
        that is only part of a character's bytes, the bytes as '<0xF0>'."""
        names = {v: k for k, v in self.special_ids.items()}
        return [names[i] if i in names else _readable(self.pieces[i])
                for i in (int(i) for i in ids)]


def _readable(piece):
    try:
        return piece.decode("utf-8")
    except UnicodeDecodeError:
        return "".join(f"<0x{b:02X}>" for b in piece)
