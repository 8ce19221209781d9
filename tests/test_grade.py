"""The grader: a class of submissions built here (right, wrong, tampering, looping, broken,
not attempted, missing, a notebook) graded in quick mode, row by row."""
import ast
import csv
import os
import pathlib

import pytest

from minigrad_lessons import exercises as X
from minigrad_lessons import grade
from minigrad_lessons.grade import policy

# Wrong answers: (the line of the reference solution, what a tired student wrote instead).
WRONG = {
    ("03", 1): ("dz = dh * (1 - h * h)", "dz = dh * (1 - h)"),
    ("06", 1): ('f = (hx @ Wn["f"][0].T + Wn["f"][1]).sigmoid()', 'f = (hx @ Wn["f"][0].T + Wn["f"][1]).tanh()'),
    ("06", 2): ("dc_prev = dC * f", "dc_prev = dC"),
    ("13", 1): ("h = mg.cat([h[0], h[1]], axis=-1)[None]", "h = mg.cat([h[1], h[0]], axis=-1)[None]"),
    ("13", 2): ("logits = self.output(hs)", "logits = self.output(hs) * 1.5"),
    ("13", 3): ("mg.tensor(tgt[:, 1:])", "mg.tensor(tgt[:, :-1])"),
    ("13", 4): ("argmax(axis=-1)", "argmin(axis=-1)"),
}
SHORTCUT_06_1 = '''h, c = nn.LSTMCell(D, H).double()(x_t, (h_prev, c_prev))
f = i = C_new = o = h
'''


@pytest.fixture(scope="module", autouse=True)
def sandbox_here():
    """The grader refuses without its sandbox. As root (CI) that fails these tests; run by an
    ordinary user without one, they skip naming what is missing."""
    from minigrad_lessons.grade import runner, sandbox
    try:
        runner.Runner(True).prepare().close()
    except sandbox.SandboxUnavailable as e:
        if os.geteuid() == 0:
            raise
        pytest.skip(f"no sandbox for this user: {e}")


def reference(lesson, k):
    path = X.find_lesson(lesson)
    return X.reference_code(X.parse_lesson(path.read_text(encoding="utf-8"), path.name)[k - 1])


def wrong(lesson, k):
    right, bad = WRONG[lesson, k]
    code = reference(lesson, k)
    assert right in code, f"the reference of {lesson} exercise {k} changed: update WRONG"
    return code.replace(right, bad)


def filled_copy(lesson, code=None):
    path = X.find_lesson(lesson)
    return X.solved_copy(path.read_text(encoding="utf-8"), path.name, code)


def write(folder, lesson, text):
    path = X.find_lesson(lesson)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / path.name).write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A class of twelve students over lessons 03, 06 and 13, graded once for every test."""
    root = tmp_path_factory.mktemp("class")
    subs = root / "submissions"
    for lesson in ("03", "06", "13"):
        write(subs / "correct", lesson, filled_copy(lesson))
    write(subs / "wrong", "03", filled_copy("03", {1: wrong("03", 1)}))
    write(subs / "wrong", "06", filled_copy("06", {1: wrong("06", 1), 2: wrong("06", 2)}))
    write(subs / "wrong", "13", filled_copy("13", {k: wrong("13", k) for k in (1, 2, 3, 4)}))
    write(subs / "first_wrong", "13", filled_copy("13", {1: wrong("13", 1)}))
    commented = filled_copy("06", {1: wrong("06", 1)}).replace("common.check(", "# common.check(")
    write(subs / "commented", "06", commented)
    write(subs / "exits", "06", filled_copy("06", {1: reference("06", 1) + "import sys\nsys.exit(0)\n"}))
    write(subs / "rebinds", "06", filled_copy("06", {2: "common.check = lambda *a, **k: None\n" + reference("06", 2)}))
    patches = "T = mg.Tensor\nT.sigmoid = T.tanh\n"       # only the harness can see this one
    write(subs / "patches", "06", filled_copy("06", {1: patches + reference("06", 1)}))
    write(subs / "shortcut", "06", filled_copy("06", {1: SHORTCUT_06_1}))
    write(subs / "loops", "03", filled_copy("03", {1: "while True:\n    pass\n"}))
    write(subs / "syntax", "13", filled_copy("13", {3: "logits, _ = self.decoder(tgt[:, :-1], state, summary\n"}))
    lazy, _ = X.student_copy(X.find_lesson("06").read_text(encoding="utf-8"), X.find_lesson("06").name)
    write(subs / "lazy", "06", lazy)
    jupytext = pytest.importorskip("jupytext")
    notebook = jupytext.reads(filled_copy("06", {2: wrong("06", 2)}), fmt="py:percent")
    (subs / "notebook").mkdir()
    jupytext.write(notebook, subs / "notebook" / (X.find_lesson("06").stem + ".ipynb"))
    out = root / "out"
    assert grade.main([str(subs), "--out", str(out), "--lessons", "03,06,13", "--timeout", "30",
                       "--jobs", "2"]) == 0
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows, out


def statuses(rows, student):
    return {(r[1], int(r[2])): r[5] for r in rows[1:] if r[0] == student}


MISSING = {"03": ["missing"], "06": ["missing"] * 2, "13": ["missing"] * 4}


def expect(**given):
    table = {lesson: list(s) for lesson, s in MISSING.items()}
    table.update(given)
    return {(lesson, k): status for lesson, s in table.items() for k, status in enumerate(s, 1)}


@pytest.mark.notebook_tools      # the graded fixture writes a notebook (jupytext)
def test_the_gradebook_has_exactly_the_columns_and_one_row_per_exercise(graded):
    rows, _ = graded
    assert rows[0] == ["student", "lesson", "exercise", "points", "max_points", "status"]
    assert len(rows) - 1 == 12 * (1 + 2 + 4)
    assert all(r[5] in grade.STATUSES for r in rows[1:])
    assert all(int(r[3]) == (int(r[4]) if r[5] == "passed" else 0) for r in rows[1:])


@pytest.mark.notebook_tools      # the graded fixture writes a notebook (jupytext)
def test_correct_and_wrong_answers(graded):
    rows, _ = graded
    assert [r for r in rows[1:] if r[0] == "correct"] == [
        ["correct", "03", "1", "2", "2", "passed"],
        ["correct", "06", "1", "1", "1", "passed"], ["correct", "06", "2", "2", "2", "passed"],
        ["correct", "13", "1", "1", "1", "passed"], ["correct", "13", "2", "1", "1", "passed"],
        ["correct", "13", "3", "1", "1", "passed"], ["correct", "13", "4", "1", "1", "passed"]]
    assert statuses(rows, "wrong") == expect(**{"03": ["failed"], "06": ["failed"] * 2, "13": ["failed"] * 4})


@pytest.mark.notebook_tools      # the graded fixture writes a notebook (jupytext)
def test_one_mistake_costs_that_exercise_only(graded):
    rows, _ = graded
    assert statuses(rows, "first_wrong") == expect(**{"13": ["failed", "passed", "passed", "passed"]})
    assert statuses(rows, "notebook") == expect(**{"06": ["passed", "failed"]})
    assert statuses(rows, "syntax") == expect(**{"13": ["passed", "passed", "error", "passed"]})


@pytest.mark.notebook_tools      # the graded fixture writes a notebook (jupytext)
def test_commented_out_checks_still_run(graded):
    rows, out = graded
    assert statuses(rows, "commented") == expect(**{"06": ["failed", "passed"]})
    feedback = (out / "feedback" / "commented.md").read_text(encoding="utf-8")
    assert "Edits outside the exercise blocks are ignored" in feedback
    assert "changed or removed: `common.check(" in feedback


@pytest.mark.notebook_tools      # the graded fixture writes a notebook (jupytext)
def test_exits_tampering_and_shortcuts(graded):
    rows, out = graded
    assert statuses(rows, "exits") == expect(**{"06": ["disqualified", "passed"]})
    assert statuses(rows, "rebinds") == expect(**{"06": ["passed", "disqualified"]})
    assert statuses(rows, "patches") == expect(**{"06": ["disqualified", "passed"]})
    assert statuses(rows, "shortcut") == expect(**{"06": ["failed", "passed"]})
    feedback = {s: (out / "feedback" / f"{s}.md").read_text(encoding="utf-8")
                for s in ("exits", "rebinds", "patches", "shortcut")}
    assert "imports sys: a block may import only numpy, minigrad" in feedback["exits"]
    handed_in = filled_copy("06", {1: reference("06", 1) + "import sys\nsys.exit(0)\n"}).splitlines()
    line = [text.strip() for text in handed_in].index("import sys") + 1
    assert f"(line {line} of your file: `import sys`)" in feedback["exits"], "the feedback quotes the line"
    assert "assigns to common.check" in feedback["rebinds"]
    # found while the block ran: T is an alias the syntax tree cannot follow
    assert "your block assigns .sigmoid of Tensor: a block must not patch" in feedback["patches"]
    assert "`T.sigmoid = T.tanh`" in feedback["patches"]
    assert "uses nn.LSTMCell, which this exercise asks you to write by hand" in feedback["shortcut"]


@pytest.mark.notebook_tools      # the graded fixture writes a notebook (jupytext)
def test_loops_not_attempted_and_missing(graded):
    rows, _ = graded
    assert statuses(rows, "loops") == expect(**{"03": ["timeout"]})
    assert statuses(rows, "lazy") == expect(**{"06": ["not_attempted"] * 2})
    assert statuses(rows, "correct") == expect(**{"03": ["passed"], "06": ["passed"] * 2, "13": ["passed"] * 4})


@pytest.mark.notebook_tools      # the graded fixture writes a notebook (jupytext)
def test_feedback_names_the_exercise_the_check_and_the_hints(graded):
    _, out = graded
    text = (out / "feedback" / "wrong.md").read_text(encoding="utf-8")
    assert "## 06_lstm.py: 0 / 3 points" in text
    assert "### Exercise 1: the LSTM's gates by hand — failed, 0 / 1" in text
    assert "check failed: C_t[" in text and ", nn.LSTMCell " in text   # the first entry that differs
    assert ": yours " in text                                      # what the code gave
    assert "exercise 1 (the LSTM's gates by hand): check failed:" in text
    assert "    hints:\n    - each gate:" in text


def test_grade_file_needs_no_folders(tmp_path):
    path = tmp_path / "anywhere.py"
    path.write_text(filled_copy("03", {1: wrong("03", 1)}), encoding="utf-8")
    result = grade.grade_file("03", path)
    assert list(result) == [1]
    points, max_points, status, message = result[1]
    assert (points, max_points, status) == (0, 2, "failed")
    assert message.startswith("exercise 1 (backpropagation through time by hand): check failed: dU[")
    assert "\nhints:\n- dh = dlogits V^T + dh_next" in message
    assert grade.grade_file("03", tmp_path / "nothing.py")[1][:3] == (0, 2, "missing")


@pytest.mark.parametrize("code, reason", [
    ("os._exit(0)\n", "os._exit"),
    ("import os\n", "imports os"),
    ("getattr(loss, '_grad')\n", "._grad"),
    ("x = globals()\n", "globals"),
    ("T = mg.Tensor\nT.__call__ = print\n", "T.__call__"),
    ("class A:\n    def __del__(self):\n        pass\n", "defines __del__"),
    ("raise SystemExit\n", "SystemExit"),
    ("exit()\n", "exit"),
    ("quit()\n", "quit"),
    ("setattr(common, 'check', print)\n", "setattr"),
    ("common.check.__code__ = None\n", "__code__"),
    ("import builtins\n", "builtins"),
    ("mg.Tensor.sum = None\n", "mg.Tensor.sum"),
    ("F = None\n", "rebinds F"),
    ("def common():\n    pass\n", "defines common"),
    ("common.check(True, 'a pass for free', exercise=2)\n", "uses common.check"),
])
def test_tampering_is_found_in_the_syntax_tree(code, reason):
    tree = ast.parse(code)
    found = grade.tampering(list(ast.walk(tree)))
    assert found is not None and reason in found


@pytest.mark.parametrize("path", X.lesson_files(), ids=[p.stem for p in X.lesson_files()])
def test_reference_solutions_pass_the_static_checks(path):
    """The teacher's own blocks neither tamper nor use what they declare off limits."""
    text = path.read_text(encoding="utf-8")
    exercises = X.parse_lesson(text, path.name)
    source, ranges = grade.splice(text, exercises, {})
    tree = ast.parse(source)
    for ex in exercises:
        nodes = grade.block_nodes(tree, *ranges[ex.number])
        assert grade.violation(nodes, *grade.block_protection(text, ex)) is None, (path.name, ex.number)
        assert grade.off_limits_used(nodes, ex.off_limits) is None, (path.name, ex.number)


def test_off_limits_names_match_their_uses():
    assert policy.matches("mg.nn.LSTMCell", "nn.LSTMCell") and policy.matches("LSTMCell", "nn.LSTMCell")
    assert policy.matches("loss.backward", "backward") and policy.matches("mg.optim.SGD", "mg.optim")
    assert not policy.matches("nn.LSTMCellX", "nn.LSTMCell") and not policy.matches("nn.LSTM", "nn.LSTMCell")


TOY = '''# %% [markdown]
# # Lesson 99 — A toy
#
# **Learning goals**
# 1. Double.
#
# %%
from minigrad_lessons import common

run = common.setup()


def double(x):
    # BEGIN SOLUTION
    # TITLE: double
    # HINT: twice x
    return 2 * x
    # END SOLUTION


common.check(double(2) == 4, f"double(2) is 4 (got {double(2)})", exercise=1)


def quadruple(x):
    # BEGIN SOLUTION
    # TITLE: quadruple, with double
    # POINTS: 3
    # HINT: double twice
    return double(double(x))
    # END SOLUTION


common.check(quadruple(1) == 4, f"quadruple(1) is 4 (got {quadruple(1)})", exercise=2)


def half(x):
    # BEGIN SOLUTION
    # TITLE: half
    # HINT: x / 2
    return x / 2
    # END SOLUTION


if half(2) == 3:                        # never: so exercise 3 has no check that runs
    common.check(True, "unreachable", exercise=3)
common.finish()
'''


@pytest.mark.parametrize("code, want, runs", [
    ({}, [(1, 1, "passed"), (3, 3, "passed"), (0, 1, "error")], 1),
    # exercise 2 calls exercise 1's double: it is judged again with the reference double
    ({1: "return 3 * x\n"}, [(0, 1, "failed"), (3, 3, "passed"), (0, 1, "error")], 2),
    # the error stopped the lesson before exercise 3's block ran: one more run for it
    ({2: "raise ValueError('no idea')\n"}, [(1, 1, "passed"), (0, 3, "error"), (0, 1, "error")], 2),
    ({1: "return 3 * x\n", 2: "return 8 * x\n"}, [(0, 1, "failed"), (0, 3, "failed"), (0, 1, "error")], 3),
])
def test_independence_and_checks_that_never_ran(tmp_path, code, want, runs):
    lesson = tmp_path / "99_toy.py"
    lesson.write_text(TOY, encoding="utf-8")
    submission = tmp_path / "student.py"
    submission.write_text(X.solved_copy(TOY, lesson.name, code), encoding="utf-8")
    details = {}
    result = grade.grade_file(lesson, submission, timeout=60, _details=details)
    assert [v[:3] for v in result.values()] == want
    assert details["runs"] == runs
    assert "none of this exercise's checks ran" in result[3][3]
    if code.get(1) == "return 3 * x\n":
        assert "double(2) is 4 (got 6)" in result[1][3]
    if "raise" in code.get(2, ""):
        assert "your block raised ValueError: no idea (line " in result[2][3]


def test_the_class_at_a_glance_is_written_beside_the_gradebook(graded):
    rows, out = graded
    sums = {}
    for student, lesson, _, points, max_points, _ in rows[1:]:
        got, most = sums.get((student, lesson), (0, 0))
        sums[student, lesson] = (got + int(points), most + int(max_points))
    with open(out / "totals.csv", newline="", encoding="utf-8") as f:
        totals = list(csv.DictReader(f))
    assert list(totals[0]) == ["student", "03", "06", "13", "total", "max"]
    assert len(totals) == 12
    for row in totals:
        cells = [sums[row["student"], n] for n in ("03", "06", "13")]
        assert [int(row[n]) for n in ("03", "06", "13")] == [g for g, _ in cells]
        assert (int(row["total"]), int(row["max"])) == (sum(g for g, _ in cells), sum(t for _, t in cells))
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "timeout 30 s per run, sandbox on" in summary
    assert "| 03.1 " in summary and "timeout" in summary
    pytest.importorskip("matplotlib")
    page = (out / "report.html").read_text(encoding="utf-8")
    assert 'href="feedback/wrong.md"' in page and page.count("data:image/png;base64,") == 2


SPY = '''from minigrad_lessons import common
from minigrad_lessons import _seq2seq_tasks

run = common.setup()


def answer():
    # BEGIN SOLUTION
    # TITLE: anything
    # HINT: return 1
    return 1
    # END SOLUTION


# the teacher's line, not the student's: where the helpers were imported from
common.check(answer() == 1 and common.__file__.endswith("common.py")
             and not any(f.startswith(INSTALLED) for f in (common.__file__, _seq2seq_tasks.__file__)),
             f"the helpers come from the run's own folder: {common.__file__}, {_seq2seq_tasks.__file__}",
             exercise=1)
common.finish()
'''


def test_a_run_imports_the_helpers_from_its_own_folder_not_the_installed_course(tmp_path):
    """The installed minigrad_lessons holds the solutions: a run gets a package of its own
    with only common and the helper modules."""
    lesson = tmp_path / "99_spy.py"
    installed = str(pathlib.Path(X.__file__).resolve().parent)    # the installed course, with its solutions
    lesson.write_text(SPY.replace("INSTALLED", repr(installed)), encoding="utf-8")
    submission = tmp_path / "student.py"
    submission.write_text(X.solved_copy(lesson.read_text(encoding="utf-8"), lesson.name), encoding="utf-8")
    result = grade.grade_file(lesson, submission, timeout=60)
    assert result[1][:3] == (1, 1, "passed"), result[1][3]


def test_every_reference_solution_passes_the_policy_and_the_sandbox(tmp_path):
    """One student hands in every lesson with the reference solutions as their blocks: each
    of the 58 blocks in 21 lessons passes, through the runtime guard and in the sandbox."""
    student = tmp_path / "class" / "all_lessons"
    student.mkdir(parents=True)
    expected = 0
    for path in X.lesson_files():
        text = path.read_text(encoding="utf-8")
        (student / path.name).write_text(X.solved_copy(text, path.name), encoding="utf-8")
        expected += len(X.parse_lesson(text, path.name))
    result = grade.grade_folder(tmp_path / "class", tmp_path / "out", timeout=300, jobs=2, echo=lambda s: None)
    assert result.settings["sandboxed"] is True
    assert len(result.rows) == expected == 58
    assert [r for r in result.rows if r["status"] != "passed"] == []
