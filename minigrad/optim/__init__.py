"""torch's ``optim``: the optimizers (``optimizers.py``), L-BFGS (``lbfgs.py``) and the
learning-rate schedules (``lr_scheduler.py``), at torch's paths: ``optim.Adam``,
``optim.LBFGS``, ``optim.lr_scheduler.StepLR``."""
from . import lr_scheduler
from .lbfgs import LBFGS
from .optimizers import SGD, Adadelta, Adagrad, Adam, AdamW, Optimizer, RMSprop

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adadelta", "LBFGS", "lr_scheduler"]
