"""``torch.accelerator``: the one accelerator minigrad drives is a CUDA GPU through CuPy."""
from . import cuda
from .backend import device as _device


def is_available():
    return cuda.is_available()


def current_accelerator(check_available=False):
    """``mg.device('cuda')`` when a GPU is usable, else None (as torch)."""
    return _device("cuda") if cuda.is_available() else None


def device_count():
    return cuda.device_count()


def synchronize(device=None):
    cuda.synchronize()
