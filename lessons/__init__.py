"""The course, installed as ``minigrad_lessons``: the numbered lessons (run each as
``python lessons/NN_name.py``), their shared helpers (``from minigrad_lessons import common``),
the student-copy tool (``python -m minigrad_lessons.exercises OUT_DIR``, also ``--format
nbgrader``; the ``minigrad-exercises`` command) and the grader (``python -m
minigrad_lessons.grade SUBMISSIONS --out DIR``; the ``minigrad-grade`` command)."""
