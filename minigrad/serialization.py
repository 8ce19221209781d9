"""torch.serialization's allowlist: the nn.Module classes ``mg.load`` may rebuild from a file
while ``weights_only=True`` (the default), as torch's does for pickled classes.

    with mg.serialization.safe_globals([RNNModel]):
        model = mg.load(f)                      # a whole model saved with mg.save(model, f)

minigrad never unpickles: an object of a listed class is made, without calling its
constructor, and filled with what the file holds, and only if the class is already imported
(see ``minigrad.whole_module``). Names that are not classes
(torch lists functions such as ``torch.nn.functional.relu`` too) are accepted and ignored.
"""
import contextlib

from .io import SAFE_GLOBALS


def add_safe_globals(safe_globals):
    """Allow these classes from now on."""
    SAFE_GLOBALS.extend(safe_globals)


def get_safe_globals():
    return list(SAFE_GLOBALS)


def clear_safe_globals():
    del SAFE_GLOBALS[:]


@contextlib.contextmanager
def safe_globals(safe_globals):
    """Allow these classes inside the ``with`` block only."""
    before = list(SAFE_GLOBALS)
    SAFE_GLOBALS.extend(safe_globals)
    try:
        yield
    finally:
        SAFE_GLOBALS[:] = before
