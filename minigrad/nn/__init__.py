"""``minigrad.nn``: layers as Modules with torch's names."""
import sys as _sys

from .. import functional
from . import init, packing, utils
from .activation import GELU, Flatten, Identity, LogSoftmax, Softmax
from .attention import Attention, MultiheadAttention
from .layers import (BatchNorm1d, Dropout, Dropout2d, Embedding, LayerNorm, Linear, ReLU,
                     Sigmoid, Tanh)
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
           "Flatten", "Identity", "CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss",
           "BatchNorm1d", "Dropout2d", "functional", "modules"]

from . import modules  # noqa: E402  (torch's nn.modules.<file>.<Class> paths)

# torch's module paths that programs import: ``torch.nn.functional`` is minigrad.functional
# and ``torch.nn.utils.rnn`` the packing helpers (nn.utils stays one file).
_sys.modules[__name__ + ".functional"] = functional
_sys.modules[utils.__name__ + ".rnn"] = packing
utils.rnn = packing
