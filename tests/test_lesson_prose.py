"""A number in a lesson's prose cannot go stale.

Every percentage and every decimal in a Markdown cell of a lesson must be one of two kinds:
- a number the lesson's code uses: a numeric literal of one of its code cells (a check's
  threshold, a tolerance, a rate, a size), so that changing the run changes the code the prose
  quotes, and the lesson's own checks hold the prose to it; 95% matches the literal 0.95 or 95;
- a constant quoted from the notes or a paper (BERT's 15%, the 0.7 the notes suggest for
  alpha), marked by a dagger right after it: "15%†". A lesson that uses the dagger says what it
  means in its header (the line starting "† ").

A figure a run produces (an accuracy, a loss) is neither: the prose points at the printed line
instead of copying it, or a check compares it with a stated tolerance.
Section titles of the notes (「2.5 应用:情感分类」) are names, not numbers, and are skipped.
"""
import ast
import math
import pathlib
import re

import pytest

from minigrad_lessons import common
from minigrad_lessons.exercises import lesson_files

LESSONS = lesson_files(pathlib.Path(common.__file__).resolve().parent)
DAGGER = "†"
# a percentage (95%, 99.6 %), a number in e-notation (6e-4), or a decimal (0.7, 2.5); then an
# optional dagger
NUMBER = re.compile(r"(?<![\w.^_{])(\d+(?:\.\d+)?\s?%|\d+(?:\.\d+)?[eE]-?\d+|\d*\.\d+)(?![\w.]*\d)(†?)")


def cells(text):
    """(kind, source) of each jupytext percent cell: kind is 'markdown' or 'code'."""
    out = []
    for chunk in re.split(r"^# %%", text, flags=re.M)[1:]:
        kind = "markdown" if chunk.startswith(" [markdown]") else "code"
        body = chunk.split("\n", 1)[1] if "\n" in chunk else ""
        if kind == "markdown":
            body = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#")
                             for line in body.splitlines() if line.startswith("#"))
        out.append((kind, body))
    return out


def prose_numbers(markdown):
    """[(text, value, marked)] of the percentages and decimals of a Markdown cell; a
    percentage's value is a fraction (95% -> 0.95)."""
    markdown = re.sub(r"「[^」]*」", "", markdown)           # the notes' section titles
    found = []
    for m in NUMBER.finditer(markdown):
        text = m.group(1)
        value = float(text.rstrip("% ").strip())
        percent = text.endswith("%")
        found.append((text, value / 100 if percent else value, percent, bool(m.group(2))))
    return found


def code_literals(code_cells):
    """Every int and float literal of the code cells (and their negatives' absolute values)."""
    values = set()
    for source in code_cells:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Constant) and type(node.value) in (int, float):
                values.add(float(abs(node.value)))
    return values


def _same(a, b):
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def stale_numbers(text):
    """The prose numbers that are neither a code literal nor marked with a dagger."""
    parsed = cells(text)
    literals = code_literals(src for kind, src in parsed if kind == "code")
    stale = []
    for kind, source in parsed:
        if kind != "markdown":
            continue
        for shown, value, percent, marked in prose_numbers(source):
            if marked:
                continue
            candidates = (value, value * 100) if percent else (value,)
            if not any(_same(c, lit) for c in candidates for lit in literals):
                stale.append(shown)
    return stale


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_every_prose_number_is_in_the_code_or_marked(path):
    text = path.read_text(encoding="utf-8")
    stale = stale_numbers(text)
    assert not stale, (f"{path.name}: the prose quotes {stale}, which no code cell of the lesson uses. "
                       "Point at the printed line instead, check the figure with a stated tolerance, "
                       f"or mark a constant of the notes or a paper with '{DAGGER}'.")
    if DAGGER in "".join(src for kind, src in cells(text) if kind == "markdown"):
        header = cells(text)[0][1]
        assert re.search(rf"^{DAGGER} ", header, flags=re.M), \
            f"{path.name} marks numbers with {DAGGER} but its header does not say what the mark means"


LESSON = '''# %% [markdown]
# # Lesson 99 — demo
# † a constant of the notes or a paper.
# The model gets at least 95% right, BERT masks 15%† of the tokens, see 「2.5 应用」.

# %%
common.check(acc >= 0.95, "at least 95%", exercise=None)
'''


def test_the_demo_lesson_passes():
    assert stale_numbers(LESSON) == []


@pytest.mark.parametrize("stale, shown", [
    ("# After 6 epochs the model gets 99.6% right.\n", "99.6%"),
    ("# The loss falls to 0.31.\n", "0.31"),
    ("# BERT masks 15 % of the tokens.\n", "15 %"),
    ("# The curves stay within 6e-4 of each other.\n", "6e-4"),
    ("# sigma(3) is about 0.95 (0.950 is the same number) and 0.42.\n", "0.42"),
])
def test_a_stale_number_is_found(stale, shown):
    text = LESSON.replace("\n\n# %%\n", "\n" + stale + "\n# %%\n", 1)
    assert stale_numbers(text) == [shown]


def test_what_counts_as_a_prose_number():
    assert prose_numbers("15%† and 0.7†") == [("15%", 0.15, True, True), ("0.7", 0.7, False, True)]
    assert prose_numbers("「1.3 门控循环单元GRU」, x^{0.5}, v1.2.3, 10^{-6}, lesson 1.") == []
    assert prose_numbers("atol 1e-4") == [("1e-4", 1e-4, False, False)]
