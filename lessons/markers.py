"""The block-marker format, in one place: the teacher's ``# BEGIN SOLUTION`` blocks and the
student's ``# BEGIN EXERCISE k`` blocks (``lessons/exercises.py`` documents both), read by the
student-copy tool, the nbgrader source writer and the grader alike."""
import dataclasses
import pathlib
import re
import textwrap

from . import i18n

HERE = pathlib.Path(__file__).resolve().parent
BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION[ \t]*$")
END = re.compile(r"^[ \t]*# END SOLUTION[ \t]*$")
HINT = re.compile(r"^[ \t]*# HINT:")
DECLARATION = re.compile(r"^[ \t]*# (?P<key>TITLE|POINTS|OFF LIMITS):[ \t]*(?P<value>.*?)[ \t]*$")
STUDENT_BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN EXERCISE (?P<k>\d+)[ \t]*$")
STUDENT_END = re.compile(r"^[ \t]*# END EXERCISE (?P<k>\d+)[ \t]*$")
DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class ExerciseError(ValueError):
    """A lesson's solution markers, or a submission's exercise markers, are malformed."""


@dataclasses.dataclass
class Exercise:
    """One solution block of a teacher's lesson. ``begin`` and ``end`` are the 0-based line
    indexes of its two marker lines; ``solution`` the lines between them."""
    number: int
    title: str
    points: int
    off_limits: tuple
    hints: list
    indent: str
    begin: int
    end: int
    solution: str
    declarations: list          # the TITLE / POINTS / OFF LIMITS lines, as written


def lesson_files(directory=HERE):
    """The numbered lessons, in order: NN_name.py."""
    return sorted(pathlib.Path(directory).glob("[0-9][0-9]_*.py"))


def find_lesson(name, directory=HERE):
    """A lesson named by its number ('06', '6'), its file name or a path."""
    path = pathlib.Path(name)
    if path.exists():
        return path
    for lesson in lesson_files(directory):
        if name in (lesson.name, lesson.stem) or (name.isdigit() and int(name) == int(lesson.name[:2])):
            return lesson
    raise FileNotFoundError(f"no lesson {name!r} in {directory}")


def parse_lesson(text, name):
    """The exercises of a teacher's lesson, in order. Raises ExerciseError naming the line of
    a malformed block (unclosed, nested, without a title or hint, holding a check)."""
    lines = text.splitlines(keepends=True)
    exercises, block = [], None
    for i, line in enumerate(lines):
        lineno = i + 1
        begin = BEGIN.match(line)
        if block is None:
            if begin:
                block = {"start": i, "indent": begin["indent"], "hints": [], "decl": {}, "declarations": []}
            elif END.match(line):
                raise ExerciseError(f"{name}:{lineno}: END SOLUTION without a BEGIN SOLUTION")
            continue
        if begin:
            raise ExerciseError(f"{name}:{lineno}: BEGIN SOLUTION inside the block opened "
                                f"on line {block['start'] + 1} (blocks do not nest)")
        declaration = DECLARATION.match(line)
        if declaration:
            block["decl"][declaration["key"]] = (declaration["value"], lineno)
            block["declarations"].append(line.strip())
        elif HINT.match(line):
            block["hints"].append(line.strip()[len("# HINT:"):].strip())
        elif re.search(r"\bcheck\(", line):
            raise ExerciseError(f"{name}:{lineno}: a check inside a solution block would be "
                                "removed from the student copy; move it after END SOLUTION")
        elif END.match(line):
            exercises.append(_exercise(block, i, lines, len(exercises) + 1, name))
            block = None
    if block is not None:
        raise ExerciseError(f"{name}:{block['start'] + 1}: BEGIN SOLUTION is never closed")
    return exercises


def _exercise(block, end, lines, number, name):
    start = block["start"] + 1
    if not block["hints"]:
        raise ExerciseError(f"{name}:{start}: the solution block has no '# HINT:' line for the student")
    if "TITLE" not in block["decl"] or not block["decl"]["TITLE"][0]:
        raise ExerciseError(f"{name}:{start}: the solution block has no '# TITLE:' line")
    points, where = block["decl"].get("POINTS", ("1", start))
    if not points.isdigit() or int(points) < 1:
        raise ExerciseError(f"{name}:{where}: POINTS must be a whole number >= 1, got {points!r}")
    off, where = block["decl"].get("OFF LIMITS", ("", start))
    off_limits = tuple(n.strip() for n in off.split(",") if n.strip())
    for n in off_limits:
        if not DOTTED.match(n):
            raise ExerciseError(f"{name}:{where}: OFF LIMITS takes names such as nn.LSTMCell, got {n!r}")
    return Exercise(number=number, title=block["decl"]["TITLE"][0], points=int(points),
                    off_limits=off_limits, hints=block["hints"], indent=block["indent"],
                    begin=block["start"], end=end, solution="".join(lines[block["start"] + 1:end]),
                    declarations=block["declarations"])


PLACEHOLDER = "{name}, exercise {k}: {title} -- not written yet (see the HINTs)"


def placeholder(name, exercise, lang="en"):
    """The line a student copy holds until the exercise is written, in ``lang`` (its words
    are the grader's: lessons/zh/grader.po)."""
    words = i18n.say(PLACEHOLDER, lang, name=name, k=exercise.number, title=exercise.title)
    return f'raise NotImplementedError("{words}")'


def placeholder_opening(name, k, lang="en"):
    """What every placeholder of exercise ``k`` begins with in ``lang``, up to its title."""
    template = i18n.say(PLACEHOLDER, lang)
    return template[:template.index("{title}")].format(name=name, k=k)


def exercise_lines(name, exercise, code=None, lang=None):
    """The student's block of ``exercise``: markers, declarations, hints, and ``code`` (the
    placeholder, in ``lang``, when None), at the block's indentation."""
    ind = exercise.indent
    out = [f"{ind}# BEGIN EXERCISE {exercise.number}\n"]
    out += [f"{ind}{d}\n" for d in exercise.declarations]
    out += [f"{ind}# HINT: {h}\n" for h in exercise.hints]
    if code is None:
        out.append(f"{ind}{placeholder(name, exercise, lang or 'en')}\n")
    else:
        out.append(textwrap.indent(textwrap.dedent(code), ind))
    out.append(f"{ind}# END EXERCISE {exercise.number}\n")
    return out


def reference_code(exercise):
    """The reference solution of ``exercise`` without its declaration and hint lines, dedented."""
    return textwrap.dedent("".join(line for line in exercise.solution.splitlines(keepends=True)
                                   if not DECLARATION.match(line) and not HINT.match(line)))


def parse_submission(text, name):
    """The student's blocks of a filled-in copy: {k: the lines between its markers}. Raises
    ExerciseError when the markers are unpaired, repeated or out of order."""
    blocks, open_k, start = {}, None, 0
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        begin, end = STUDENT_BEGIN.match(line), STUDENT_END.match(line)
        if begin:
            if open_k is not None:
                raise ExerciseError(f"{name}:{i + 1}: BEGIN EXERCISE {begin['k']} inside exercise {open_k}")
            open_k, start = int(begin["k"]), i + 1
            if open_k in blocks:
                raise ExerciseError(f"{name}:{i + 1}: exercise {open_k} appears twice")
        elif end:
            if open_k is None or int(end["k"]) != open_k:
                raise ExerciseError(f"{name}:{i + 1}: END EXERCISE {end['k']} without its BEGIN")
            blocks[open_k] = "".join(lines[start:i])
            open_k = None
    if open_k is not None:
        raise ExerciseError(f"{name}: BEGIN EXERCISE {open_k} is never closed")
    return blocks
