"""torch's ``nn.modules.<file>.<Class>`` paths, which programs name when they list the
classes a checkpoint may hold (``torch.serialization.safe_globals([...,
torch.nn.modules.rnn.LSTM])``): each is the ``nn`` class of that name."""
import types

from .activation import GELU, Flatten, Identity, LogSoftmax, Softmax
from .attention import MultiheadAttention
from .layers import (BatchNorm1d, Dropout, Dropout2d, Embedding, LayerNorm, Linear, ReLU,
                     Sigmoid, Tanh)
from .loss import CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from .module import Module, ModuleList, Sequential
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .transformer import (Transformer, TransformerDecoder, TransformerDecoderLayer,
                          TransformerEncoder, TransformerEncoderLayer)

_ns = types.SimpleNamespace
module = _ns(Module=Module)
container = _ns(Sequential=Sequential, ModuleList=ModuleList)
linear = _ns(Linear=Linear, Identity=Identity, NonDynamicallyQuantizableLinear=Linear)
sparse = _ns(Embedding=Embedding)
dropout = _ns(Dropout=Dropout, Dropout2d=Dropout2d)
normalization = _ns(LayerNorm=LayerNorm)
batchnorm = _ns(BatchNorm1d=BatchNorm1d)
rnn = _ns(RNN=RNN, LSTM=LSTM, GRU=GRU, RNNCell=RNNCell, LSTMCell=LSTMCell, GRUCell=GRUCell)
activation = _ns(MultiheadAttention=MultiheadAttention, ReLU=ReLU, Tanh=Tanh, Sigmoid=Sigmoid,
                 GELU=GELU, Softmax=Softmax, LogSoftmax=LogSoftmax)
flatten = _ns(Flatten=Flatten)
loss = _ns(CrossEntropyLoss=CrossEntropyLoss, NLLLoss=NLLLoss, MSELoss=MSELoss, L1Loss=L1Loss)
transformer = _ns(Transformer=Transformer, TransformerEncoder=TransformerEncoder,
                  TransformerEncoderLayer=TransformerEncoderLayer,
                  TransformerDecoder=TransformerDecoder,
                  TransformerDecoderLayer=TransformerDecoderLayer)
