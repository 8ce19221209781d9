"""``python -m lessons.grade``: see ``lessons/grade/__init__.py``."""
import sys

from .cli import main

sys.exit(main())
