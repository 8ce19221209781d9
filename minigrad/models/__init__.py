"""``minigrad.models``: the reference models the lessons use, written to be read.

- ``RNNLanguageModel``: Embedding -> RNN/LSTM/GRU -> Linear (language_model.py)
- ``Encoder``, ``Decoder``, ``Seq2Seq``: recurrent seq2seq with optional attention, input
  feeding, peeky decoding and the prior-knowledge output layer (seq2seq.py)
- ``PriorKnowledge``: the notes' 先验知识 layer (prior.py)
- ``MemoryClassifier``, ``memory_model``: the many-to-one model of the memory task (memory.py)
- ``TransformerSeq2Seq``: a small transformer encoder-decoder (transformer.py)

Every model has ``step_fn(prev_tokens, state) -> (log_probs, state)`` for minigrad.decoding
and ``score(...)``, log P(y|x), for beam-search error analysis.
"""
from ._common import detach_state
from .language_model import RNNLanguageModel
from .prior import PriorKnowledge, source_word_vector
from .memory import MemoryClassifier, memory_model
from .seq2seq import Decoder, Encoder, Seq2Seq
from .transformer import TransformerSeq2Seq

__all__ = ["RNNLanguageModel", "Encoder", "Decoder", "Seq2Seq", "PriorKnowledge",
           "source_word_vector", "TransformerSeq2Seq", "detach_state", "MemoryClassifier",
           "memory_model"]
