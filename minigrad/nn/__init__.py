"""``minigrad.nn``: layers as Modules with torch's names."""
from . import init, utils
from .layers import Dropout, Embedding, LayerNorm, Linear, ReLU, Sigmoid, Tanh
from .module import Module, ModuleList, Parameter, Sequential
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

__all__ = ["Module", "Parameter", "Sequential", "ModuleList", "Linear", "Embedding", "Dropout",
           "LayerNorm", "Tanh", "ReLU", "Sigmoid", "init", "utils", "RNNCell", "LSTMCell", "GRUCell",
           "RNN", "LSTM", "GRU"]
