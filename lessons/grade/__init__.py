"""Grade a class: ``python -m minigrad_lessons.grade SUBMISSIONS --out DIR``.

``SUBMISSIONS/<student>/`` holds a student's filled-in copies (``python -m minigrad_lessons.exercises``),
as ``NN_name.py`` or as a notebook ``NN_name.ipynb``. For every student, lesson and exercise
this writes one row of ``DIR/gradebook.csv``

    student,lesson,exercise,points,max_points,status

with ``status`` one of ``passed``, ``failed``, ``error``, ``timeout``, ``not_attempted``,
``missing`` or ``disqualified``; ``DIR/feedback/<student>.md`` says why, exercise by exercise,
and a table of points (students x lessons) is printed. ``DIR/totals.csv``, ``DIR/summary.md``
and ``DIR/report.html`` show the class at a glance (``minigrad_lessons.report``).

    python -m minigrad_lessons.grade SUBMISSIONS --out DIR [--lessons 03,06] [--timeout S] [--jobs N] [--full]
        [--lms canvas|moodle] [--memory-mb M] [--cpu-seconds S] [--processes N] [--open-files N]
        [--disk-mb M] [--no-sandbox] [--lang en|zh]

The package, along its seams:
- ``submissions``: reading a student's file, its blocks, the edits outside them;
- ``policy``: what a block may contain, read from its syntax tree before it runs;
- ``guard``: the same rules while it runs (names built from strings, aliases, modules reached
  as attributes), through a rewrite of the block's lines;
- ``splice``: the teacher's lesson with the student's blocks in place of the solutions;
- ``harness``: what runs inside the sandbox (limits, the course package, the guarded lesson);
- ``sandbox`` and ``runner``: bubblewrap, limits and a pids cgroup around each run;
- ``verdicts``: what a run says about each block;
- ``grading``: one file, a class; ``cli``: the command line.

How a lesson is graded:
- Only the student's blocks count: the code between their ``# BEGIN EXERCISE k`` /
  ``# END EXERCISE k`` markers is spliced into the teacher's lesson, so every check and every
  other line comes from the teacher. Edits elsewhere are ignored (and listed in the feedback).
- Exercise k passes when every check that names it (``common.check(..., exercise=k)``) held,
  and at least one ran. Points are all or nothing. Exercises are graded independently: the
  reference solution stands in for any exercise that fails.
- A block that breaks the policy (see ``policy`` and ``guard``) is ``disqualified``, the
  feedback quoting its line; a block that calls what its exercise declares ``OFF LIMITS``
  fails, found in its syntax tree or, for an alias or a computed name, while it runs.
- Each run is a fresh sandbox (``sandbox``) with a time limit (``--timeout``, default 60 s in
  quick mode, 600 s with ``--full``). Where no sandbox can start, the grader refuses before
  grading anyone and says what is missing; ``--no-sandbox`` overrides, and then every file it
  writes says so.

Feedback speaks the student's language: a copy's ``# LANGUAGE: zh`` line (``i18n.copy_language``)
makes its lesson's checks and the grader's own words (``lessons/zh/grader.po``, through
``i18n.say`` and ``i18n.reword``) Chinese; ``--lang`` sets one language for every student.

For other autograders: ``grade_file(lesson, path) -> {k: (points, max_points, status, message)}``.
"""
from .grading import COLUMNS, QUICK_TIMEOUT, FULL_TIMEOUT, ClassGrades, grade_file, grade_folder
from .cli import main
from .policy import block_protection, off_limits_used, protected_names, tampering, violation
from .sandbox import Limits, SandboxUnavailable
from .splice import block_nodes, splice
from .verdicts import STATUSES, Verdict, judge

__all__ = ["COLUMNS", "FULL_TIMEOUT", "QUICK_TIMEOUT", "STATUSES", "ClassGrades", "Limits", "SandboxUnavailable",
           "Verdict", "block_nodes", "block_protection", "grade_file", "grade_folder", "judge", "main",
           "off_limits_used", "protected_names", "splice", "tampering", "violation"]
