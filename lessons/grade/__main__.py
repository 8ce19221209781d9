"""``python -m minigrad_lessons.grade``: see ``lessons/grade/__init__.py`` (installed as ``minigrad_lessons.grade``)."""
import sys

from .cli import main

sys.exit(main())
