"""Write student copies of the lessons: ``python -m lessons.exercises OUT_DIR``.

In a lesson, the lines a student should write stand between two marker lines, with at least
one hint inside:

    # BEGIN SOLUTION
    # HINT: h_t = tanh(x_t U + h_{t-1} W + b_h), notes 003 formula (1)
    h = (x @ U + h @ W + b).tanh()
    # END SOLUTION

The student copy keeps the hints and replaces the code by a placeholder that stops the
lesson with NotImplementedError until the student writes it:

    # EXERCISE 1 -- write the lines this block needs, then run the lesson: its checks grade them
    # HINT: h_t = tanh(x_t U + h_{t-1} W + b_h), notes 003 formula (1)
    raise NotImplementedError("03_bptt_by_hand.py, exercise 1: ...")

Everything outside the blocks, every ``check(...)`` included, is copied unchanged, so the
lesson's checks grade the student's code. ``common.py`` and the shared helper modules
(``_name.py``) are copied beside the lessons, and
figures go to ``OUT_DIR/out/``.

    python -m lessons.exercises OUT_DIR [LESSON ...]     (default: every lesson)
"""
import pathlib
import re
import shutil
import sys

HERE = pathlib.Path(__file__).resolve().parent
BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION[ \t]*$")
END = re.compile(r"^[ \t]*# END SOLUTION[ \t]*$")
HINT = re.compile(r"^[ \t]*# HINT:")


class ExerciseError(ValueError):
    """A lesson's solution markers are malformed."""


def lesson_files(directory=HERE):
    """The numbered lessons, in order: NN_name.py."""
    return sorted(pathlib.Path(directory).glob("[0-9][0-9]_*.py"))


def student_copy(text, name):
    """``text`` with every solution block replaced by its hints and a placeholder.
    Returns (new_text, number_of_blocks). Raises ExerciseError naming the line of a
    malformed block (unclosed, nested, without a hint, or holding a check)."""
    out, block, count = [], None, 0
    for lineno, line in enumerate(text.splitlines(keepends=True), 1):
        begin = BEGIN.match(line)
        if block is None:
            if begin:
                block = {"start": lineno, "indent": begin["indent"], "hints": []}
            elif END.match(line):
                raise ExerciseError(f"{name}:{lineno}: END SOLUTION without a BEGIN SOLUTION")
            else:
                out.append(line)
            continue
        if begin:
            raise ExerciseError(f"{name}:{lineno}: BEGIN SOLUTION inside the block opened "
                                f"on line {block['start']} (blocks do not nest)")
        if HINT.match(line):
            block["hints"].append(block["indent"] + line.strip() + "\n")
        elif re.search(r"\bcheck\(", line):
            raise ExerciseError(f"{name}:{lineno}: a check inside a solution block would be "
                                "removed from the student copy; move it after END SOLUTION")
        elif END.match(line):
            if not block["hints"]:
                raise ExerciseError(f"{name}:{block['start']}: the solution block has no "
                                    "'# HINT:' line for the student")
            count += 1
            ind = block["indent"]
            out.append(f"{ind}# EXERCISE {count} -- write the lines this block needs, then run "
                       "the lesson: its checks grade them\n")
            out.extend(block["hints"])
            out.append(f'{ind}raise NotImplementedError("{name}, exercise {count}: not written '
                       'yet (see the HINT above)")\n')
            block = None
    if block is not None:
        raise ExerciseError(f"{name}:{block['start']}: BEGIN SOLUTION is never closed")
    return "".join(out), count


def write_student_copies(out_dir, lessons=None):
    """Write the student copy of each lesson (default: all), common.py and the helper
    modules ``_name.py`` into ``out_dir``.
    Returns the written lesson paths."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "common.py", out_dir / "common.py")
    for helper in HERE.glob("_[a-z]*.py"):       # helper modules some lessons share
        shutil.copy(helper, out_dir / helper.name)
    written = []
    for path in lessons or lesson_files():
        path = pathlib.Path(path)
        text, count = student_copy(path.read_text(encoding="utf-8"), path.name)
        if count == 0:
            raise ExerciseError(f"{path.name}: no '# BEGIN SOLUTION' block, so nothing to write")
        target = out_dir / path.name
        target.write_text(text, encoding="utf-8")
        written.append(target)
        print(f"{target}: {count} exercise{'s' if count > 1 else ''}")
    return written


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    lessons = [HERE / a if not pathlib.Path(a).exists() else pathlib.Path(a) for a in argv[1:]]
    try:
        write_student_copies(argv[0], lessons or None)
    except (ExerciseError, FileNotFoundError) as e:
        print(f"exercises: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
