"""torch's argument names for axes: ``dim=`` for ``axis=`` and ``keepdim=`` for ``keepdims=``.

minigrad's functions are written with NumPy's names; ``accepts_dim`` lets each also take
torch's, so ``F.softmax(x, dim=1)`` and ``x.sum(dim=0, keepdim=True)`` work. Giving both
spellings of one argument is an error that names the function.
"""
import functools

_SYNONYMS = (("dim", "axis"), ("keepdim", "keepdims"))


def torch_names(op, kwargs):
    """``kwargs`` with torch's spellings renamed to NumPy's (a new dict)."""
    kwargs = dict(kwargs)
    for torch_name, numpy_name in _SYNONYMS:
        if torch_name in kwargs:
            if numpy_name in kwargs:
                raise TypeError(f"{op}() got both {numpy_name}= and {torch_name}= "
                                f"(they are the same argument): pass one")
            kwargs[numpy_name] = kwargs.pop(torch_name)
    return kwargs


def accepts_dim(fn):
    """Decorate a function whose arguments are named ``axis``/``keepdims`` so that it also
    takes ``dim``/``keepdim``."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if "dim" in kwargs or "keepdim" in kwargs:
            kwargs = torch_names(fn.__name__, kwargs)
        return fn(*args, **kwargs)
    return wrapper
