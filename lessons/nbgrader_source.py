"""The lessons as an nbgrader source folder: ``python -m minigrad_lessons.exercises OUT --format nbgrader``.

    OUT/nbgrader_config.py
    OUT/source/<assignment>/NN_name.ipynb     one notebook per lesson

(the notebooks import their helpers from the installed package, ``minigrad_lessons.common``).

In each notebook (jupytext reads the lesson's ``# %%`` cells):
- a cell with a solution block becomes an nbgrader solution cell; the block sits between
  nbgrader's ``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers, its title, off-limits
  names and hints just above them, so the student still sees them;
- every other cell that holds checks is locked (read-only, restored at grading);
- after the cell with exercise k's last check comes a locked, autograded test cell worth the
  exercise's points, asserting ``common.passed(k)``: every check of exercise k held;
- a locked first cell sets ``common.keep_going``, so that a failed check is recorded and
  printed instead of stopping the cell, and later exercises still run.

A failed exercise can still break the next ones in nbgrader (a name the block should have
defined is missing further down, say): independence is ``minigrad_lessons.grade``'s, not nbgrader's.
Then, in OUT: ``nbgrader generate_assignment <assignment>``, and after collecting,
``nbgrader autograde <assignment>``.

With ``--lang zh`` the notebooks are the zh edition's (lessons/i18n.py): Chinese Markdown cells,
titles, hints and graded cells' words, the same code; the locked first cell names the edition
(``common.notebook_edition``), so the checks speak Chinese when nbgrader runs them.
"""
import ast
import pathlib
import re

from . import i18n
from . import markers as _exercises

SCHEMA = 3
CONFIG = '''"""nbgrader settings for the minigrad lessons (written by python -m minigrad_lessons.exercises)."""
c = get_config()  # noqa: F821 - nbgrader provides get_config
c.CourseDirectory.course_id = "minigrad"
c.CourseDirectory.root = "."
c.ExecutePreprocessor.timeout = 600
'''
KEEP_GOING = ("# nbgrader: a failed check is recorded and printed instead of stopping the cell,\n"
              "# so that every exercise gets its turn; each exercise's graded cell asserts its checks.")


def _setup_cell(stem, lang):
    """The locked first cell: keep going past a failed check; in another language than
    English, the edition whose catalogue the checks speak from (a notebook has no file whose
    '# LANGUAGE:' line common could read)."""
    source = i18n.say(KEEP_GOING, lang) + "\nfrom minigrad_lessons import common\ncommon.keep_going = True"
    if lang != "en":
        source += f"\ncommon.notebook_edition = ({stem!r}, {lang!r})"
    return source


# the calls that grade an exercise (``compare`` checks through ``check``)
CHECKS = ("check", "compare")


def _meta(grade_id, solution=False, grade=False, locked=False, points=None):
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": SCHEMA,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def _checks_in(source):
    """Exercise numbers named by the checks in ``source`` (a cell), None for the lesson's own."""
    found = []
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return found
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in CHECKS:
            for kw in node.keywords:
                if kw.arg == "exercise" and isinstance(kw.value, ast.Constant):
                    found.append(kw.value.value)
                elif kw.arg == "exercise" and isinstance(kw.value, ast.Subscript) and isinstance(kw.value.value, ast.Dict):
                    found += [v.value for v in kw.value.value.values if isinstance(v, ast.Constant)]
            if not any(kw.arg == "exercise" for kw in node.keywords):
                found.append(None)
    return found


def _split_cell(source):
    """A code cell cut into runs of top-level statements: those holding a solution block,
    and the others (so that checks never share a cell the student edits)."""
    lines = source.splitlines(keepends=True)
    blocks = [i for i, line in enumerate(lines) if _exercises.BEGIN.match(line) or _exercises.END.match(line)]
    if not blocks:
        return [source]
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return [source]
    pairs = list(zip(blocks[::2], blocks[1::2]))
    cuts = [0]
    for statement in body:
        start = statement.lineno - 1
        if hasattr(statement, "decorator_list") and statement.decorator_list:
            start = statement.decorator_list[0].lineno - 1
        cuts.append(start)
    for s, e in pairs:
        if not _exercises.BEGIN.match(lines[s])["indent"]:
            cuts += [s, e + 1]          # a block at the top level: its markers bound the cell
    cuts = sorted(set(c for c in cuts if c < len(lines))) + [len(lines)]
    pieces = []
    for a, b in zip(cuts, cuts[1:]):
        holds = any(a <= s < b or a <= e < b for s, e in pairs)
        pieces.append((holds, a, b))
    # glue neighbours of the same kind together
    merged = []
    for holds, a, b in pieces:
        if merged and merged[-1][0] == holds:
            merged[-1] = (holds, merged[-1][1], b)
        else:
            merged.append((holds, a, b))
    return ["".join(lines[a:b]) for _, a, b in merged if "".join(lines[a:b]).strip()]


def _nbgrader_blocks(source):
    """The solution blocks of a cell rewritten with nbgrader's markers, declarations and
    hints kept above them (nbgrader removes everything between its markers)."""
    out, block = [], None
    for line in source.splitlines(keepends=True):
        begin = _exercises.BEGIN.match(line)
        if begin:
            block = {"indent": begin["indent"], "keep": [], "code": []}
        elif block is not None and _exercises.END.match(line):
            ind = block["indent"]
            out += block["keep"] + [f"{ind}### BEGIN SOLUTION\n"] + block["code"] + [f"{ind}### END SOLUTION\n"]
            block = None
        elif block is not None:
            keep = _exercises.HINT.match(line) or _exercises.DECLARATION.match(line)
            block["keep" if keep else "code"].append(line)
        else:
            out.append(line)
    return "".join(out)


def lesson_notebook(path, lang="en"):
    """The nbgrader notebook (an nbformat node) of one teacher's lesson, in ``lang``: the zh
    edition's Markdown cells, exercise titles and hints (lessons/i18n.py), the same code."""
    import jupytext
    import nbformat
    path = pathlib.Path(path)
    text = i18n.edition(path.read_text(encoding="utf-8"), path.stem, lang)
    exercises = {ex.number: ex for ex in _exercises.parse_lesson(text, path.name)}
    nb = jupytext.reads(text, fmt="py:percent")
    tag = path.name[:2]
    cells, numbered, blocks_seen = [], 0, 0
    first_code = True
    for cell in nb.cells:
        if cell.cell_type != "code":
            cells.append(cell)
            continue
        if first_code:
            cells.append(nbformat.v4.new_code_cell(_setup_cell(path.stem, lang), metadata=_meta(f"l{tag}-setup",
                                                                                                locked=True)))
            first_code = False
        for piece in _split_cell(cell.source):
            numbered += 1
            count = len(re.findall(r"^[ \t]*# BEGIN SOLUTION[ \t]*$", piece, re.M))
            if count:
                ks = range(blocks_seen + 1, blocks_seen + count + 1)     # blocks are numbered in file order
                blocks_seen += count
                cells.append(nbformat.v4.new_code_cell(
                    _nbgrader_blocks(piece).rstrip("\n"),
                    metadata=_meta(f"l{tag}-exercise-{'-'.join(map(str, ks))}", solution=True)))
            elif any(f"common.{name}(" in piece for name in CHECKS):
                cells.append(nbformat.v4.new_code_cell(piece.rstrip("\n"), metadata=_meta(f"l{tag}-checks-{numbered}", locked=True)))
            else:
                cells.append(nbformat.v4.new_code_cell(piece.rstrip("\n")))
    # the autograded cells: after the cell with each exercise's last check
    last_cell = {}
    for index, cell in enumerate(cells):
        if cell.cell_type == "code":
            for k in _checks_in(cell.source):
                if k is not None:
                    last_cell[k] = index
    for k in sorted(last_cell, key=lambda k: -last_cell[k]):
        ex = exercises[k]
        head = i18n.say("# Exercise {k}: {title} ({points} point{s}) -- graded here", lang, k=k, title=ex.title,
                        points=ex.points, s="s" if ex.points > 1 else "")
        why = i18n.say("exercise {k}'s checks did not all pass (see the CHECK lines above)", lang, k=k)
        source = f"{head}\nassert common.passed({k}), {why!r}"
        cells.insert(last_cell[k] + 1, nbformat.v4.new_code_cell(
            source, metadata=_meta(f"l{tag}-exercise-{k}-graded", grade=True, locked=True, points=ex.points)))
    assert blocks_seen == len(exercises), f"{path.name}: {blocks_seen} blocks in the cells, {len(exercises)} exercises"
    missing = sorted(set(exercises) - set(last_cell))
    if missing:
        raise _exercises.ExerciseError(f"{path.name}: exercises {missing} have no check to grade them")
    notebook = nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}})
    nbformat.validate(notebook)
    return notebook


def write_source(out_dir, lessons=None, assignment="lessons", lang="en"):
    """Write the nbgrader course folder ``out_dir`` with one assignment holding the lessons
    (default: all), in ``lang``. Returns the written notebook paths."""
    import nbformat
    out_dir = pathlib.Path(out_dir)
    folder = out_dir / "source" / assignment
    folder.mkdir(parents=True, exist_ok=True)
    config = out_dir / "nbgrader_config.py"
    if not config.exists():
        config.write_text(CONFIG, encoding="utf-8")
    written = []
    for path in lessons or _exercises.lesson_files():
        path = pathlib.Path(path)
        target = folder / (path.stem + ".ipynb")
        nbformat.write(lesson_notebook(path, lang), str(target))
        written.append(target)
        print(f"{target}: nbgrader source notebook")
    return written
