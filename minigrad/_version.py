"""The version, in one place: the package, setup.cfg and checkpoints read it here."""
__version__ = "0.1.0"
