"""The numbered lessons (run each as ``python lessons/NN_name.py``), their shared helpers
(``common``) and the student-copy tool (``python -m lessons.exercises OUT_DIR``)."""
