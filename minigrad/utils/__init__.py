"""``minigrad.utils``: as ``torch.utils``, the home of ``data`` (datasets and loaders)."""
from . import data

__all__ = ["data"]
