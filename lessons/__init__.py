"""The numbered lessons (run each as ``python lessons/NN_name.py``), their shared helpers
(``common``), the student-copy tool (``python -m lessons.exercises OUT_DIR``, also
``--format nbgrader``) and the grader (``python -m lessons.grade SUBMISSIONS --out DIR``)."""
