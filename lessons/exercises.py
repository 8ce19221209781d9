"""Student copies of the lessons: ``python -m minigrad_lessons.exercises OUT_DIR [LESSON ...]``.

In a teacher's lesson, the lines a student should write stand between two marker lines. The
k-th block of a lesson (in file order) is its exercise k. A block declares its title, may
declare its points (1 when it does not) and the library names it must not call (the layer
it re-implements), and gives at least one hint:

    # BEGIN SOLUTION
    # TITLE: the LSTM's gates by hand
    # POINTS: 2
    # OFF LIMITS: nn.LSTMCell, nn.LSTM
    # HINT: each gate: (hx @ W.T + b) then .sigmoid() ...
    f = (hx @ Wn["f"][0].T + Wn["f"][1]).sigmoid()
    ...
    # END SOLUTION

The student copy keeps the declarations and hints and replaces the code by a placeholder,
between the markers the student writes in and the grader (``minigrad_lessons.grade``) reads:

    # BEGIN EXERCISE 1
    # TITLE: the LSTM's gates by hand
    # ...
    raise NotImplementedError("06_lstm.py, exercise 1: the LSTM's gates by hand -- not written yet")
    # END EXERCISE 1

Everything outside the blocks, every ``common.check(..., exercise=k)`` included, is copied
unchanged, so the lesson's checks grade the student's code. ``common.py`` and the shared
helper modules (``_name.py``) are copied beside the lessons; figures go to ``OUT_DIR/out/``.

    python -m minigrad_lessons.exercises OUT_DIR [LESSON ...]                     plain .py copies
    python -m minigrad_lessons.exercises OUT_DIR --format nbgrader [LESSON ...]   an nbgrader source folder
    ... --lang zh                                                   the Chinese edition, in either format

A Chinese copy's placeholder is Chinese too (its words are the grader's, lessons/zh/grader.po);
the grader recognises the placeholder of either language.

LESSON is a number (06), a file name (06_lstm.py) or a path; the default is every lesson.
"""
import argparse
import pathlib
import sys

from . import i18n, nbgrader_source
from .markers import (BEGIN, DECLARATION, END, HINT, STUDENT_BEGIN, STUDENT_END,
                      Exercise, ExerciseError, exercise_lines, find_lesson, lesson_files, parse_lesson,
                      parse_submission, placeholder, reference_code)

HERE = pathlib.Path(__file__).resolve().parent
# the format's names stay importable from here, as before the format had its own module
__all__ = ["BEGIN", "DECLARATION", "END", "HINT", "STUDENT_BEGIN", "STUDENT_END", "Exercise", "ExerciseError",
           "exercise_lines", "find_lesson", "lesson_files", "main", "parse_lesson", "parse_submission",
           "placeholder", "reference_code", "solved_copy", "student_copy", "write_student_copies"]


def student_copy(text, name):
    """``text`` with every solution block replaced by its declarations, hints and a
    placeholder between exercise markers, in the language of the text's '# LANGUAGE:' line
    (a zh edition: lessons/i18n.py). Returns (new_text, number_of_exercises)."""
    exercises = parse_lesson(text, name)
    lines, lang = text.splitlines(keepends=True), i18n.copy_language(text)
    out, last = [], 0
    for ex in exercises:
        out += lines[last:ex.begin] + exercise_lines(name, ex, lang=lang)
        last = ex.end + 1
    out += lines[last:]
    return "".join(out), len(exercises)


def solved_copy(text, name, code=None):
    """The student copy of a lesson with every exercise written: ``code[k]`` where given
    (None: the placeholder, as handed out), the reference solution elsewhere. What a student
    who did everything hands in; the grader's tests and demo class are built from it."""
    lines, out, last = text.splitlines(keepends=True), [], 0
    for ex in parse_lesson(text, name):
        out += lines[last:ex.begin]
        written = (code or {}).get(ex.number, reference_code(ex))
        out += exercise_lines(name, ex, written, lang=i18n.copy_language(text))
        last = ex.end + 1
    return "".join(out + lines[last:])


def write_student_copies(out_dir, lessons=None, lang="en"):
    """Write the student copy of each lesson (default: all) into ``out_dir``; a copy imports
    its helpers from the installed package, so it runs wherever it is saved. ``lang`` 'zh':
    the Chinese edition (lessons/i18n.py), whose '# LANGUAGE: zh' line makes the copy speak
    Chinese when it runs and when it is graded. Returns the written lesson paths."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in lessons or lesson_files():
        path = pathlib.Path(path)
        text, count = student_copy(i18n.edition(path.read_text(encoding="utf-8"), path.stem, lang),
                                   path.name)
        if count == 0:
            raise ExerciseError(f"{path.name}: no '# BEGIN SOLUTION' block, so nothing to write")
        target = out_dir / path.name
        target.write_text(text, encoding="utf-8")
        written.append(target)
        print(f"{target}: {count} exercise{'s' if count > 1 else ''}")
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m minigrad_lessons.exercises",
                                     description="Write student copies of the lessons.")
    parser.add_argument("out_dir", help="where the copies go")
    parser.add_argument("lessons", nargs="*", help="lesson numbers, names or paths (default: all)")
    parser.add_argument("--format", choices=("py", "nbgrader"), default="py",
                        help="py: plain scripts with exercise markers; nbgrader: an nbgrader "
                             "source folder (one notebook per lesson)")
    parser.add_argument("--lang", choices=i18n.LANGUAGES, default="en",
                        help="the copies' language: en (default) or zh (lessons/i18n.py), for both formats")
    parser.add_argument("--assignment", default="lessons",
                        help="nbgrader: the assignment's name (default: lessons)")
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        parser.print_usage(sys.stderr)
        return 2
    args = parser.parse_intermixed_args(argv)
    try:
        lessons = [find_lesson(a) for a in args.lessons] or None
        if args.format == "nbgrader":
            nbgrader_source.write_source(args.out_dir, lessons, assignment=args.assignment, lang=args.lang)
        else:
            write_student_copies(args.out_dir, lessons, lang=args.lang)
    except (ExerciseError, FileNotFoundError) as e:
        print(f"exercises: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
