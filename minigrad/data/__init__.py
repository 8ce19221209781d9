"""Data for the lessons: vocabularies, padding and batching, byte-pair encoding, and seeded
generators of the course's tasks (all made here, nothing downloaded)."""
from .batching import decoder_io, lm_batches, minibatches, pad_batch  # noqa: F401
from .bpe import BPETokenizer  # noqa: F401
from .tasks import (addition, char_corpus, date_formats, memory_batches, qa_summaries,  # noqa: F401
                    remember_batch, reversal)
from .vocab import Vocab  # noqa: F401
from .words import analogies, analogy_corpus, family_names, family_words, sentiment_corpus  # noqa: F401
