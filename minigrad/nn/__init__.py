"""``minigrad.nn``: layers as Modules with torch's names."""
from . import init, utils
from .activation import GELU, Flatten, Identity, LogSoftmax, Softmax
from .attention import Attention, MultiheadAttention
from .layers import Dropout, Embedding, LayerNorm, Linear, ReLU, Sigmoid, Tanh
from .loss import CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from .module import Module, ModuleList, Parameter, Sequential
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .transformer import (PositionalEncoding, Transformer, TransformerDecoder,
                          TransformerDecoderLayer,
                          TransformerEncoder, TransformerEncoderLayer,
                          generate_square_subsequent_mask, sinusoidal_positional_encoding)

__all__ = ["Module", "Parameter", "Sequential", "ModuleList", "Linear", "Embedding", "Dropout",
           "LayerNorm", "Tanh", "ReLU", "Sigmoid", "init", "utils", "RNNCell", "LSTMCell",
           "GRUCell", "RNN", "LSTM", "GRU", "Attention", "MultiheadAttention",
           "TransformerEncoderLayer", "TransformerDecoderLayer", "TransformerEncoder",
           "TransformerDecoder", "PositionalEncoding", "sinusoidal_positional_encoding",
           "generate_square_subsequent_mask", "Transformer", "Softmax", "LogSoftmax", "GELU",
           "Flatten", "Identity", "CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss"]
