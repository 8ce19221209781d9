"""The Chinese edition (lessons/i18n.py, lessons/zh/*.po, docs/glossary.md).

What a Chinese-speaking student reads must be Chinese, run the very code the English edition
runs, and write every term as the glossary does."""
import ast
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from lessons import _terminal as terminal
from lessons import i18n
from lessons.exercises import solved_copy

ROOT = pathlib.Path(__file__).resolve().parent.parent
LESSONS = ROOT / "lessons"
TRANSLATED = [LESSONS / f"{stem}.py" for stem in i18n.TRANSLATED]

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
LATIN_WORD = re.compile(r"[A-Za-z]{3,}")
# Left out when judging whether a line is Chinese: parenthesised ASCII (the English terms, shapes,
# flags), `code`, and ASCII tokens that are code names, numbers or units (a '_', '.', '/', digit,
# operator or bracket in them: W_aa, nn.RNNCell, 1e-6, it/s, [[1.0, ...]]).
ASCII_PARENS = re.compile(r"\([\x20-\x7e]*\)")
BACKTICKS = re.compile(r"`[^`]*`")
CODE_TOKEN = re.compile(r"(?<![\x21-\x7e])[\x21-\x7e]*[_./\\=<>\[\]{}@^*|#0-9][\x21-\x7e]*")


def is_text_line(line):
    """A line with at least one word: three or more Latin letters, or any CJK character."""
    return bool(LATIN_WORD.search(line) or CJK.search(line))


def is_chinese_line(line):
    """CJK characters make up most of the line's letters, once code names, units and
    parenthesised English are left out."""
    rest = CODE_TOKEN.sub(" ", BACKTICKS.sub(" ", ASCII_PARENS.sub(" ", line)))
    cjk = len(CJK.findall(rest))
    latin = len(re.findall(r"[A-Za-z]", rest))
    return cjk > latin


@pytest.mark.parametrize("line, text, chinese", [
    ("检查通过: 手推的 dL/dW_aa 与自动求导相同", True, True),
    ("eps = 1e-01   |有限差分 - 自动求导| 的最大值 = 7.41e-03", True, True),
    ("check passed: hand-derived dL/dW_aa equals autograd", True, False),
    ("[[-0.3093  0.8983 -0.6532 -0.7492]", False, False),
    ("x * 2 + 1 = [[3.0, 5.0, 7.0]]", False, False),
    ("tensor([[1., 2., 3.],", True, False),
    ("多对一 (many-to-one)                 输出 (2, 5)", True, True),
    ("gradient descent (梯度下降)", True, False),
])
def test_line_classes(line, text, chinese):
    assert is_text_line(line) is text
    assert is_chinese_line(line) is chinese


# ----------------------------------------------------------------------------- glossary

def glossary():
    """[(chinese, english, [spellings not used])] from docs/glossary.md's table."""
    rows = []
    for line in (ROOT / "docs" / "glossary.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 3 and CJK.search(cells[0]) and cells[0] != "中文":
            rows.append((cells[0], cells[1], [v.strip() for v in cells[2].split(",") if v.strip()]))
    return rows


def zh_texts(path):
    """Everything a Chinese student reads of a lesson, in file order: its Markdown cells and
    exercise texts as the zh edition has them, then the catalogue's other entries (the
    lesson's own: common.po's shared words, 自动求导 among them, are no lesson's first use)."""
    cat = i18n.Catalogue(i18n.read_po(path.parent / "zh" / f"{path.stem}.po"))
    pieces = []
    for ctx, english in i18n.english_texts(path.read_text(encoding="utf-8")):
        pieces.append((cat.cell if ctx == "cell" else cat.exercise)(english) or "")
    used = {text for text in pieces}
    pieces += [v for (ctx, _), v in cat.entries.items() if ctx is None and v not in used]
    return "\n".join(pieces)


def test_glossary_is_a_table_of_distinct_terms():
    rows = glossary()
    assert len(rows) >= 40
    chinese = [c for c, _, _ in rows]
    english = [e.lower() for _, e, _ in rows]
    assert len(set(chinese)) == len(chinese) and len(set(english)) == len(english)
    for c, e, avoid in rows:
        assert LATIN_WORD.search(e) and not CJK.search(e), e
        assert c not in avoid
    for must in ("遗忘门", "梯度裁剪", "集束搜索", "教师强制", "曝光偏差", "长度标准化", "随时间反向传播"):
        assert must in chinese


def _terms_in(text, rows):
    """[(start, chinese, english)] for every glossary term in ``text``, a longer term claiming
    its characters first (双向循环神经网络 is not also 循环神经网络). Citations of the notes'
    section titles, 「...」, are names, not uses."""
    text = re.sub(r"「[^」]*」", lambda m: "　" * len(m.group()), text)
    claimed, found = [False] * len(text), []
    for c, e, _ in sorted(rows, key=lambda r: -len(r[0])):
        for m in re.finditer(re.escape(c), text):
            if not any(claimed[m.start():m.end()]):
                claimed[m.start():m.end()] = [True] * len(c)
                found.append((m.start(), c, e))
    return sorted(found)


@pytest.mark.parametrize("path", sorted((LESSONS / "zh").glob("*.po")), ids=lambda p: p.stem)
def test_no_spelling_the_glossary_rules_out(path):
    """Every catalogue, translated in full or not: its translations, not the English it keys
    them by (lesson 06's English quotes notes 003's formula as written there, with 忘记门)."""
    text = "\n".join(i18n.read_po(path).values())
    for c, e, avoid in glossary():
        for wrong in avoid:
            assert wrong not in text.replace(c, "　"), f"{path.stem}: {wrong!r}; the glossary writes {c} ({e})"


@pytest.mark.parametrize("path", TRANSLATED, ids=lambda p: p.stem)
def test_terms_bring_their_english_once_at_first_use(path):
    """The first time a glossary term appears, '(English' follows it; a parenthesised English
    term of the glossary follows its own Chinese term."""
    rows = glossary()
    text = zh_texts(path)
    seen = set()
    for start, c, e in _terms_in(text, rows):
        after = text[start + len(c):start + len(c) + len(e) + 6]
        if c not in seen:
            assert re.match(r"(\*\*)?\s?[(（]" + re.escape(e), after, re.I), \
                f"{path.stem}: the first {c} has no ({e}) after it: {text[start:start + 40]!r}"
            seen.add(c)
    for m in re.finditer(r"[(（]([A-Za-z][A-Za-z -]+?)[,，)）]", text):
        for c, e, _ in rows:
            if m.group(1).lower() == e.lower():
                before = text[:m.start()].rstrip().rstrip("*`")
                assert before.endswith(c), f"{path.stem}: ({e}) after {before[-12:]!r}, not after {c}"


# ----------------------------------------------------------------------------- editions

@pytest.mark.parametrize("path", TRANSLATED, ids=lambda p: p.stem)
def test_translated_lessons_lack_no_entry(path):
    assert i18n.missing(path) == []


@pytest.mark.parametrize("path", TRANSLATED, ids=lambda p: p.stem)
def test_both_editions_run_the_same_code(path):
    english = path.read_text(encoding="utf-8")
    chinese = i18n.edition(english, path.stem, "zh", strict=True)
    assert chinese != english and CJK.search(chinese)
    assert i18n.code_lines(chinese) == i18n.code_lines(english)
    assert ast.dump(ast.parse(chinese)) == ast.dump(ast.parse(english))     # the same program
    # every Markdown cell of the zh edition is Chinese; no code line is
    for kind, _, body in i18n.cells(chinese):
        if kind == "markdown":
            assert CJK.search(i18n.markdown_text(body)), body[:2]


def test_a_changed_english_cell_shows_as_missing(tmp_path):
    src = LESSONS / "02_rnn_cell.py"
    (tmp_path / "zh").mkdir()
    shutil.copy(LESSONS / "zh" / "02_rnn_cell.po", tmp_path / "zh")
    text = src.read_text(encoding="utf-8").replace("## 3. The library's cell computes the same",
                                                   "## 3. The library's cell computes the very same")
    (tmp_path / "02_rnn_cell.py").write_text(text, encoding="utf-8")
    lacking = i18n.missing(tmp_path / "02_rnn_cell.py")
    assert [ctx for ctx, _ in lacking] == ["cell"] and "very same" in lacking[0][1]
    with pytest.raises(KeyError, match="02_rnn_cell: no zh entry for 1 texts"):
        i18n.edition(text, "02_rnn_cell", "zh", strict=True)


def test_po_reader_round_trips_what_it_writes(tmp_path):
    entries = [("cell", "line one\n\"quoted\" \\ back\nlast", "第一行\n第二行"), (None, "check {x}", "检查 {x}")]
    body = "\n".join(i18n.write_po_entry(*e) for e in entries)
    (tmp_path / "t.po").write_text('msgid ""\nmsgstr ""\n"Language: zh_CN\\n"\n\n' + body, encoding="utf-8")
    read = i18n.read_po(tmp_path / "t.po")
    assert read == {(c, en): zh for c, en, zh in entries}
    cat = i18n.Catalogue(read)
    assert cat.text("check W_aa") == "检查 W_aa" and cat.text("  check 3") == "  检查 3"
    assert cat.text("unchecked W_aa") is None


# ----------------------------------------------------------------------------- runs

def _run(args, env_extra, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MINIGRAD_LANG"}
    env.update({"MINIGRAD_QUICK": "1", "MINIGRAD_LESSONS_OUT": str(tmp_path / "out"), "MPLBACKEND": "Agg",
                **env_extra})
    # a Chinese label drawn in a font without its glyphs is an error, not a box
    return subprocess.run([sys.executable, "-W", "error:Glyph:UserWarning", *args], capture_output=True,
                          text=True, env=env,
                          timeout=300, cwd=tmp_path)


@pytest.mark.parametrize("path", TRANSLATED, ids=lambda p: p.stem)
def test_a_zh_run_prints_mostly_chinese(path, tmp_path):
    done = _run([str(path)], {"MINIGRAD_LANG": "zh"}, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    text = [ln for ln in done.stdout.splitlines() if is_text_line(ln)]
    chinese = [ln for ln in text if is_chinese_line(ln)]
    assert len(text) >= 10
    assert len(chinese) >= len(text) / 2, "\n".join(ln for ln in text if not is_chinese_line(ln))
    assert "学习目标" in done.stdout and "本次运行证明了" in done.stdout
    english = _run([str(path)], {"MINIGRAD_LANG": "en"}, tmp_path)
    assert english.returncode == 0
    assert "Learning goals" in english.stdout and "本次运行证明了" not in english.stdout


def test_a_chinese_student_copy_speaks_chinese_by_its_language_line(tmp_path):
    """A copy says '# LANGUAGE: zh': run with no option, it prints Chinese; --lang en overrides."""
    src = LESSONS / "02_rnn_cell.py"
    copy = tmp_path / src.name
    copy.write_text(solved_copy(i18n.edition(src.read_text(encoding="utf-8"), src.stem, "zh"), src.name),
                    encoding="utf-8")
    assert i18n.LANGUAGE_LINE.search(copy.read_text(encoding="utf-8")).group("lang") == "zh"
    done = _run([str(copy)], {}, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "检查通过: 每种 RNN 都给出了应有的形状" in done.stdout
    done = _run([str(copy), "--lang", "en"], {}, tmp_path)
    assert "check passed: every kind of RNN gives its shape" in done.stdout


def test_exercises_cli_writes_chinese_copies(tmp_path):
    done = subprocess.run([sys.executable, "-m", "lessons.exercises", str(tmp_path), "01", "--lang", "zh"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "01_tensors_autograd.py").read_text(encoding="utf-8")
    assert "# LANGUAGE: zh" in text and "# BEGIN EXERCISE 1" in text
    titles = re.findall(r"# TITLE: (.*)", text)
    assert len(titles) == 3 and all(CJK.search(t) for t in titles)
    assert all(CJK.search(h) for h in re.findall(r"# HINT: (.*)", text))


# ----------------------------------------------------------------------------- figures

FONT_PROBE = """
import sys, warnings
warnings.simplefilter("error", UserWarning)      # matplotlib's missing-glyph warning included
from minigrad_lessons import common
common._lang[0] = "zh"
plt = common.pyplot()
if sys.argv[1] == "none":
    common._plt[1] = None                          # as on a machine with no CJK font
print(repr(common.label("hidden states", "隐藏状态")), repr(common.label("loss", "损失")))
fig, ax = common.figure()
ax.set_title(common.label("hidden states", "隐藏状态"))
fig.savefig(sys.argv[2])
print("font", common._plt[1])
"""


def _probe(mode, tmp_path):
    return subprocess.run([sys.executable, "-c", FONT_PROBE, mode, str(tmp_path / "f.png")],
                          capture_output=True, text=True, cwd=tmp_path)


def test_without_a_cjk_font_figures_keep_english_and_say_so_once(tmp_path):
    done = _probe("none", tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[1] == "'hidden states' 'loss'"
    assert sum("fonts-noto-cjk" in ln for ln in lines) == 1 and "未安装中文字体" in lines[0]


def test_with_a_cjk_font_chinese_labels_render(tmp_path):
    """The 'zh' and 'dev' extras bring mplfonts (Noto Sans CJK SC): there, and on a machine
    with fonts-noto-cjk, a Chinese title draws without a missing-glyph warning."""
    done = _probe("font", tmp_path)
    if "font None" in done.stdout:
        pytest.skip("no CJK font here: pip install -e '.[zh]' (CI's dev extra has it)")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[0] == "'隐藏状态' '损失'"


# ----------------------------------------------------------------------------- grading

def test_chinese_copies_are_graded_as_english_ones(tmp_path):
    """A zh copy with the reference answers passes every exercise; one wrong block fails
    that exercise only. (Our own code, so without the sandbox: test_grade runs it sandboxed.)"""
    src = LESSONS / "02_rnn_cell.py"
    zh = i18n.edition(src.read_text(encoding="utf-8"), src.stem, "zh")
    for student, code in [("bob", None), ("amy", {1: "    return (x_t @ U + h_prev @ W).tanh()\n"})]:
        (tmp_path / "class" / student).mkdir(parents=True)
        (tmp_path / "class" / student / src.name).write_text(solved_copy(zh, src.name, code), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "lessons.grade", str(tmp_path / "class"), "--out",
                           str(tmp_path / "out"), "--no-sandbox"], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = (tmp_path / "out" / "gradebook.csv").read_text(encoding="utf-8").splitlines()
    status = {tuple(r.split(",")[:3:2]): r.split(",")[-1] for r in rows if r[:3] in ("amy", "bob")}
    assert status == {("bob", "1"): "passed", ("bob", "2"): "passed", ("bob", "3"): "passed", ("bob", "4"): "passed",
                      ("amy", "1"): "failed", ("amy", "2"): "passed", ("amy", "3"): "passed", ("amy", "4"): "passed"}
    # the copy's '# LANGUAGE: zh' line: its check messages come back in Chinese
    feedback = (tmp_path / "out" / "feedback" / "amy.md").read_text(encoding="utf-8")
    assert "我们写的一步等于 nn.RNNCell" in feedback
    done = subprocess.run([sys.executable, "-m", "lessons.grade", str(tmp_path / "class"), "--out",
                           str(tmp_path / "en"), "--no-sandbox", "--lang", "en", "--lessons", "02"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    feedback = (tmp_path / "en" / "feedback" / "amy.md").read_text(encoding="utf-8")
    assert "check failed: our step equals nn.RNNCell" in feedback


# ----------------------------------------------------------------------------- the grader's words

WRONG_STEP = "    return (x_t @ U + h_prev @ W).tanh()\n"         # 02, exercise 1: the bias forgotten


def _zh_copy(lesson, code=None, lang="zh"):
    src = LESSONS / f"{lesson}.py"
    return solved_copy(i18n.edition(src.read_text(encoding="utf-8"), src.stem, lang), src.name, code)


def _sandboxed():
    """The sandbox where this machine has one (CI); the words are the same without it."""
    from minigrad_lessons.grade import runner, sandbox
    try:
        runner.Runner(True).prepare().close()
        return True
    except sandbox.SandboxUnavailable:
        return False


@pytest.fixture(scope="module")
def zh_class(tmp_path_factory):
    """A class with copies in both languages, graded once: every student's feedback must come
    back in that student's language, whatever the others handed in."""
    from minigrad_lessons import grade
    root = tmp_path_factory.mktemp("zh_class")
    subs = root / "class"
    copies = {
        ("zh_right", "01_tensors_autograd"): _zh_copy("01_tensors_autograd"),
        ("zh_right", "02_rnn_cell"): _zh_copy("02_rnn_cell"),
        # wrong step; a module the policy refuses; the placeholder left; a syntax error
        ("zh_wrong", "02_rnn_cell"): _zh_copy("02_rnn_cell", {1: WRONG_STEP, 2: "import os\nreturn None\n",
                                                               3: None, 4: "y_m1 = V(h_n[-1]\n"}),
        # a name built at run time, which only the guard sees
        ("zh_guard", "02_rnn_cell"): _zh_copy("02_rnn_cell", {2: 'getattr(mg, "_" + "_dict__")\n'
                                                                 "return (W_a @ mg.cat([a_prev, x_col], axis=0)"
                                                                 " + b_a).tanh()\n"}),
        ("en_wrong", "02_rnn_cell"): _zh_copy("02_rnn_cell", {1: WRONG_STEP}, lang="en"),
        # a Chinese copy whose language line was made hostile: no language the course has
        ("hostile", "02_rnn_cell"): _zh_copy("02_rnn_cell", {1: WRONG_STEP}).replace(
            "# LANGUAGE: zh", "# LANGUAGE: zh; import os\n# LANGUAGE: ../../zh", 1),
    }
    for (student, stem), text in copies.items():
        (subs / student).mkdir(parents=True, exist_ok=True)
        (subs / student / f"{stem}.py").write_text(text, encoding="utf-8")
    grades = grade.grade_folder(subs, root / "out", ["01", "02"], jobs=2, sandboxed=_sandboxed(), echo=lambda *a: None)
    status = {(r["student"], r["lesson"], r["exercise"]): r["status"] for r in grades.rows}
    feedback = {s: (root / "out" / "feedback" / f"{s}.md").read_text(encoding="utf-8") for s in grades.settings["students"]}
    return status, feedback, grades, subs, root


def test_a_chinese_copy_with_the_reference_passes_with_chinese_headings(zh_class):
    status, feedback, grades, _, _ = zh_class
    assert {k: v for k, v in status.items() if k[0] == "zh_right"} == {
        ("zh_right", lesson, k): "passed" for lesson, n in (("01", 3), ("02", 4)) for k in range(1, n + 1)}
    text = feedback["zh_right"]
    assert text.startswith("# zh_right 的评语")
    assert "## 02_rnn_cell.py: 4 / 4 分" in text
    assert "### 练习 1: 用笔记 003 的记号写 RNN 的一步 — 通过 (passed)，1 / 1 分" in text
    assert grades.settings["languages"]["zh_right"] == "zh"


def test_a_wrong_chinese_copy_fails_in_chinese(zh_class):
    """The lesson's check message and the grader's own words, the title and the hints: all
    Chinese; every status as for an English copy."""
    status, feedback, _, _, _ = zh_class
    assert [status["zh_wrong", "02", k] for k in (1, 2, 3, 4)] == ["failed", "disqualified", "not_attempted", "error"]
    assert status["zh_wrong", "01", 1] == "missing"
    text = feedback["zh_wrong"]
    assert "练习 1（用笔记 003 的记号写 RNN 的一步）: 检查未通过: 我们写的一步等于 nn.RNNCell" in text
    assert "\n    提示:\n    - " in text and "hints:" not in text
    assert "你的代码块导入了 os: 代码块只能导入 numpy, minigrad" in text
    assert "（你的文件第 " in text and "`import os`" in text
    assert "占位语句还在: 这道练习还没有写" in text
    assert "语法错误: '(' 没有闭合 ('(' was never closed)（你的文件第 " in text
    assert "没有交上 01_tensors_autograd.py 或 01_tensors_autograd.ipynb" in text
    assert "### 练习 2: 用笔记 004 的记号写 RNN 的一步 — 取消资格 (disqualified)，0 / 1 分" in text
    # nothing of the grader's English is left in it
    for english in ("check failed", "your block", "placeholder", "syntax error", "Feedback for", "points",
                    "Exercise", "of your file", "was handed in"):
        assert english not in text, english


def test_the_guard_disqualifies_in_chinese(zh_class):
    status, feedback, _, _, _ = zh_class
    assert status["zh_guard", "02", 2] == "disqualified"
    assert "你的代码块访问了 .__dict__: 以 _ 开头的名字和栈帧的内部属于 Python 和评分程序（你的文件第 " in feedback["zh_guard"]
    assert [status["zh_guard", "02", k] for k in (1, 3, 4)] == ["passed"] * 3


def test_each_student_gets_feedback_in_their_own_language(zh_class):
    """In the same class: an English copy's feedback is English, a lesson not handed in is
    reported in the student's language, and a language line no language of the course fits
    (a student's attempt to inject) reads as English."""
    status, feedback, grades, _, _ = zh_class
    assert feedback["en_wrong"].startswith("# Feedback for en_wrong")
    assert "exercise 1 (one RNN step in notes 003's notation): check failed: our step equals nn.RNNCell" in feedback["en_wrong"]
    assert "no 01_tensors_autograd.py or 01_tensors_autograd.ipynb was handed in" in feedback["en_wrong"]
    assert not CJK.search(feedback["en_wrong"])
    assert status["hostile", "02", 1] == "failed" and status["hostile", "02", 2] == "passed"
    assert "check failed: our step equals nn.RNNCell" in feedback["hostile"]
    assert grades.settings["languages"] == {"en_wrong": "en", "hostile": "en", "zh_guard": "zh", "zh_right": "zh",
                                            "zh_wrong": "zh"}


def test_the_teachers_lang_overrides_every_copy(zh_class):
    from minigrad_lessons import grade
    _, _, _, subs, root = zh_class
    grades = grade.grade_folder(subs, root / "zh_all", ["02"], sandboxed=False, lang="zh", echo=lambda *a: None)
    text = (root / "zh_all" / "feedback" / "en_wrong.md").read_text(encoding="utf-8")
    assert text.startswith("# en_wrong 的评语") and "检查未通过: 我们写的一步等于 nn.RNNCell" in text
    assert set(grades.settings["languages"].values()) == {"zh"}


@pytest.mark.parametrize("line, lang", [
    ("# LANGUAGE: zh", "zh"), ("# LANGUAGE: ZH", "zh"), ("# LANGUAGE: zh_CN", "zh"), ("# LANGUAGE:zh-Hans", "zh"),
    ("# LANGUAGE: en", "en"), ("# LANGUAGE: xx", "en"), ("# LANGUAGE: ../../zh", "en"), ("# LANGUAGE: zh; rm -rf /", "en"),
    ("# LANGUAGE: zh\x00", "en"), ("# LANGUAGE: zh ../common", "en"), ("#LANGUAGE: zh", "en"), ("x = 1  # LANGUAGE: zh", "en"),
    ("# LANGUAGE: {0.__class__}", "en"), ("# LANGUAGE: 中文", "en"),
])
def test_the_language_line_is_read_strictly(line, lang):
    """Whatever a student writes there picks one of the course's languages, or English."""
    assert i18n.copy_language(f"import numpy\n{line}\nx = 1\n") == lang
    assert i18n.copy_language(None) == "en"
    # the line itself is read by a strict pattern: letters, '_' and '-' or nothing at all
    value = line.partition("LANGUAGE:")[2].strip()
    if not re.fullmatch(r"[A-Za-z_-]+", value) or not line.startswith("# LANGUAGE:"):
        assert i18n.LANGUAGE_LINE.search(f"x\n{line}\n") is None


def test_every_phrase_the_grader_says_has_its_chinese(tmp_path):
    """Each ``say(...)`` of the grader, the markers and the nbgrader writer has an entry in
    lessons/zh/grader.po; each reason the policy, the guard, the harness and the runner build
    (their f-strings, the fields filled in) has one that matches it whole."""
    cat = i18n.catalogue("grader", "zh")
    said, reasons = [], []
    for path in [*(LESSONS / "grade").glob("*.py"), LESSONS / "markers.py", LESSONS / "nbgrader_source.py"]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "say":
                first = node.args[0]
                if isinstance(first, ast.Constant):
                    ctx = node.args[2].value if len(node.args) > 2 else "grader"
                    said.append((path.name, ctx, first.value))
            if path.name in ("policy.py", "guard.py", "harness.py", "runner.py") and isinstance(node, ast.JoinedStr):
                text = "".join(v.value if isinstance(v, ast.Constant) else "x_y" for v in node.values)
                words = LATIN_WORD.search(text.replace("x_y", ""))        # a sentence, not a path or "{type}: {e}"
                if words and " " in text and not text.startswith(("import ", "File ")) and "/" not in text:
                    reasons.append((path.name, text))
    from minigrad_lessons import markers, nbgrader_source
    from minigrad_lessons.grade import runner, verdicts
    said += [("named", "grader", english) for english in (markers.PLACEHOLDER, nbgrader_source.KEEP_GOING,
                                                          runner.UNSANDBOXED)]
    said += [("verdicts.py", "grader", english) for _, english in verdicts._BLAMED.values()]
    assert len(said) >= 40 and len(reasons) >= 25
    for name, ctx, english in said:
        assert CJK.search(cat.entries.get((ctx, english), "")), f"{name}: no zh entry for {english!r}"
    for name, english in reasons:
        if english.startswith(("x_y at line", "attribute name must be", "the trial run did not start")):
            continue        # the guard's exception for its tests, Python's TypeError, the teacher's refusal
        assert CJK.search(i18n.reword(english, "zh") or ""), f"{name}: no zh entry matches {english!r}"
    for status in ("passed", "failed", "error", "timeout", "not_attempted", "missing", "disqualified"):
        assert CJK.search(i18n.say(status, "zh", "status"))


def test_a_chinese_copy_shows_its_placeholder_in_chinese_and_the_grader_knows_it(tmp_path):
    from minigrad_lessons.grade import submissions
    text = _zh_copy("02_rnn_cell", {1: None})
    block = re.search(r"# BEGIN EXERCISE 1\n(.*?)# END EXERCISE 1", text, re.S).group(1)
    assert 'raise NotImplementedError("02_rnn_cell.py，练习 1: 用笔记 003 的记号写 RNN 的一步 —— 还没有写' in block
    assert submissions.placeholder_left(block, "02_rnn_cell.py", 1)
    assert not submissions.placeholder_left(block, "02_rnn_cell.py", 2)
    english = solved_copy((LESSONS / "02_rnn_cell.py").read_text(encoding="utf-8"), "02_rnn_cell.py", {1: None})
    assert "exercise 1: one RNN step in notes 003's notation -- not written yet" in english
    assert submissions.placeholder_left(english, "02_rnn_cell.py", 1)
    # run as it is handed out, the copy stops at the placeholder, in Chinese
    (tmp_path / "02_rnn_cell.py").write_text(text, encoding="utf-8")
    done = _run([str(tmp_path / "02_rnn_cell.py")], {}, tmp_path)
    assert done.returncode != 0 and "NotImplementedError: 02_rnn_cell.py，练习 1:" in done.stderr


# ----------------------------------------------------------------------------- wide characters

def _starts(line, cells):
    """The terminal column where each of ``cells`` begins in ``line``."""
    return [terminal.display_width(line[:line.index(c)]) for c in cells]


def test_display_width_counts_wide_characters_twice():
    assert terminal.display_width("学习目标") == 8 and terminal.display_width("goal") == 4
    assert terminal.display_width("C\u0303_t") == 3 and terminal.display_width("（，）") == 6
    assert terminal.pad("损失", 6) == "损失  " and terminal.pad("loss", 6, ">") == "  loss"
    assert terminal.display_width(terminal.pad("多对一 (many-to-one)", 27)) == 27


def test_a_translated_table_keeps_its_columns():
    """Rows printed with f"{kind:27s} output {got:12s} expected {want}" and translated:
    each column starts at the same terminal column in every row, as in English."""
    rows = [("one-to-one", "一对一 (one-to-one)", "(2, 5)"), ("many-to-many (T_x = T_y)", "多对多 (T_x = T_y)", "(2, 7, 5)"),
            ("x", "非常长的一个中文名字", "(2,)")]
    laid = []
    for english_kind, zh_kind, shape in rows:
        english = f"{english_kind:27s} output {shape:12s} expected {shape}"
        translated = f"{zh_kind}  输出 {shape}  应为 {shape}"
        laid.append(terminal.align_like(english, translated))
        assert _starts(english, [f"output {shape}", f"expected {shape}"]) == _starts(laid[-1], [f"输出 {shape}", f"应为 {shape}"])
    assert len({tuple(_starts(line, ["输出", "应为"])) for line in laid}) == 1, "\n".join(laid)
    # a cell too wide for its column pushes the rest along, two spaces after it
    wide = terminal.align_like("ab  cd", "非常非常宽  乙")
    assert wide == "非常非常宽  乙"
    # a line that is no table, or whose cells do not pair up, is left as translated
    assert terminal.align_like("loss went down", "损失  下降了  很多") == "损失  下降了  很多"
    assert terminal.align_like("a  b  c", "甲  乙") == "甲  乙"


@pytest.mark.parametrize("width", [12, 20, 31])
def test_wrapping_counts_terminal_columns(width):
    text = ("用笔记的记号写出 tanh RNN 语言模型 (language model) 的前向传播，并且亲手写出它的反向传播 "
            "(backpropagation through time)：每一步的梯度都要流回之前的隐藏状态。")
    lines = terminal.wrap(text, width, "  1. ")
    assert all(terminal.display_width(ln) <= width for ln in lines if " " in ln.strip() or CJK.search(ln)), lines
    assert lines[0].startswith("  1. ") and all(ln.startswith("     ") for ln in lines[1:])
    assert "".join(ln[5:].replace(" ", "") for ln in lines) == text.replace(" ", "")
    assert not any(ln.lstrip()[:1] in "，。：）" for ln in lines), "no line opens with closing punctuation"


def test_a_zh_run_prints_its_tables_aligned(tmp_path):
    done = _run([str(LESSONS / "02_rnn_cell.py")], {"MINIGRAD_LANG": "zh"}, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [ln for ln in done.stdout.splitlines() if re.match(r"(一对一|一对多|多对一|多对多) ", ln)]
    assert len(rows) == 5
    assert len({tuple(_starts(ln, ["输出", "应为"])) for ln in rows}) == 1, "\n".join(rows)


# ----------------------------------------------------------------------------- documents

def _notes_rows(path, heading):
    """{(note, section): lessons} from a notes page's tables, under '## <heading> NNN' headings."""
    parts = re.split(rf"^## {heading} (\d{{3}}) ", path.read_text(encoding="utf-8"), flags=re.M)
    rows = {}
    for number, body in zip(parts[1::2], parts[2::2]):
        rows[number, "title"] = re.match(r"— 「([^」]+)」", body).group(1)
        for line in body.splitlines():
            m = re.match(r"\| 「([^」]+)」 \|.*\| ([\d, —]+) \|$", line)
            if m:
                rows[number, m.group(1)] = m.group(2)
    return rows


def test_the_chinese_notes_page_lists_what_the_english_one_does():
    """docs/course-notes.zh-CN.md: every note and section of docs/course-notes.md, with the
    same lessons; written in Chinese, in the glossary's spellings."""
    english = _notes_rows(ROOT / "docs" / "course-notes.md", "Notes")
    chinese = _notes_rows(ROOT / "docs" / "course-notes.zh-CN.md", "笔记")
    assert len(english) > 50 and chinese == english
    text = (ROOT / "docs" / "course-notes.zh-CN.md").read_text(encoding="utf-8")
    prose = [ln for ln in text.splitlines() if is_text_line(ln) and not ln.startswith("|---")]
    assert sum(map(is_chinese_line, prose)) >= 0.9 * len(prose)
    for c, e, avoid in glossary():
        for wrong in avoid:
            assert wrong not in text.replace(c, "　"), f"{wrong!r}; the glossary writes {c} ({e})"


@pytest.mark.parametrize("path", sorted((LESSONS / "zh").glob("[0-9][0-9]_*.po")), ids=lambda p: p.stem)
def test_chinese_citations_name_sections_of_the_notes_page(path):
    """'笔记 004「前向传播」' in a catalogue names a section docs/course-notes.zh-CN.md lists
    under that note, as 'notes 004「...」' does in English."""
    rows = _notes_rows(ROOT / "docs" / "course-notes.zh-CN.md", "笔记")
    text = path.read_text(encoding="utf-8")
    for m in re.finditer(r"笔记\s*(\d{3})((?:[，、和及与\s]*「[^」\n]+」(?:\s*\(\d+\)(?:\s*[-–]\s*\(\d+\))?)?)+)", text):
        for title in re.findall(r"「([^」\n]+)」", m.group(2)):
            assert (m.group(1), title) in rows or rows.get((m.group(1), "title")) == title, \
                f"{path.stem}: 笔记 {m.group(1)}「{title}」 is not a section of that note"


@pytest.mark.notebook_tools
def test_a_chinese_notebook_speaks_chinese_without_being_told(tmp_path):
    """README.zh-CN.md's notebook route: the zh edition made a notebook by jupytext and run by
    nbconvert, with no MINIGRAD_LANG. A notebook has no file to read: common finds the
    '# LANGUAGE: zh' line and the lesson in the cell that calls setup."""
    for module in ("nbconvert", "ipykernel", "jupytext"):
        pytest.importorskip(module)
    # this Python's own tools: its kernel is the one with this checkout's minigrad_lessons
    jupytext, nbconvert = [sys.executable, "-m", "jupytext"], [sys.executable, "-m", "nbconvert"]
    done = subprocess.run([sys.executable, "-m", "lessons.i18n", "edition", "02", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    env = {k: v for k, v in os.environ.items() if k != "MINIGRAD_LANG"}
    # whichever Python the kernel is: this checkout's minigrad, and its lessons as minigrad_lessons
    (tmp_path / "path").mkdir()
    (tmp_path / "path" / "minigrad_lessons").symlink_to(LESSONS, target_is_directory=True)
    env.update(MINIGRAD_QUICK="1", MINIGRAD_LESSONS_OUT=str(tmp_path / "out"), OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path / "path"), str(ROOT), os.environ.get("PYTHONPATH")])))
    subprocess.run([*jupytext, "--to", "notebook", "--set-kernel", "python3", str(tmp_path / "02_rnn_cell.py")],
                   check=True, capture_output=True, env=env, timeout=120)
    proc = subprocess.run([*nbconvert, "--to", "notebook", "--execute", str(tmp_path / "02_rnn_cell.ipynb")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json
    executed = json.loads((tmp_path / "02_rnn_cell.nbconvert.ipynb").read_text(encoding="utf-8"))
    text = "".join("".join(o.get("text", "")) for c in executed["cells"] if c["cell_type"] == "code"
                   for o in c.get("outputs", []))
    assert "检查通过: 我们写的一步等于 nn.RNNCell" in text, text[:2000]        # the lesson's own words
    assert "check passed" not in text


def _lesson_rows(text):
    """{number: (file, follows)} from a README's lesson table."""
    return {m.group(1): (m.group(2), m.group(3).strip()) for m in
            re.finditer(r"^\| (\d\d) \| \[[^\]]+\]\((lessons/\d\d_\w+\.py)\) \| ([^|]+) \|", text, re.M)}


def test_the_chinese_readme_leads_through_the_whole_course():
    """README.zh-CN.md: the set-up commands of README.md, all 21 lessons with the notes they
    follow as README.md cites them, the Chinese edition, the teacher's route and the notes
    page; its links resolve; its prose is Chinese in the glossary's spellings."""
    chinese = (ROOT / "README.zh-CN.md").read_text(encoding="utf-8")
    english = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "README.zh-CN.md" in english.split("\n\n")[1], "README.md links to it at the top"
    for command, in_chinese in (("pip install -e '.[lessons]' && python lessons/14_attention.py",
                                 "pip install -e '.[lessons,zh]' && python lessons/14_attention.py --lang zh"),
                                ("pip install -e '.[dev]' && python -m pytest -q", None)):
        assert command in english and (in_chinese or command) in chinese     # the Chinese edition, its font
    rows = _lesson_rows(chinese)
    assert sorted(rows) == [f"{n:02d}" for n in range(1, 22)]
    assert all((ROOT / path).is_file() for path, _ in rows.values())
    assert {n: follows for n, (_, follows) in rows.items()} == {
        n: follows.replace("; all", "; 全部") for n, (_, follows) in _lesson_rows(english).items()}
    for must in ("--lang zh", "MINIGRAD_LANG=zh", "fonts-noto-cjk", "'.[zh]'", "minigrad-exercises", "minigrad-grade",
                 "--format nbgrader --lang zh", "# LANGUAGE: zh", "docs/course-notes.zh-CN.md", "docs/glossary.md"):
        assert must in chinese, must
    for link in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", chinese):
        assert (ROOT / link).exists(), link
    prose = [ln for ln in chinese.splitlines() if is_text_line(ln) and not ln.startswith(("|", "    ", "#!", "`"))
             and not re.match(r"^(pip|python|minigrad|jupy|cd |MINIGRAD|grade_file|from |```)", ln)]
    assert sum(map(is_chinese_line, prose)) >= 0.8 * len(prose), [ln for ln in prose if not is_chinese_line(ln)]
    for c, e, avoid in glossary():
        for wrong in avoid:
            assert wrong not in chinese.replace(c, "　"), f"{wrong!r}; the glossary writes {c} ({e})"


# ----------------------------------------------------------------------------- zh figures and headers

@pytest.fixture
def zh_common(monkeypatch):
    """lessons/common.py as in a Chinese run of a lesson (set its stem: ``common._stem[0]``)."""
    from minigrad_lessons import common
    common.pyplot()
    if not common._plt[1]:
        pytest.skip("no CJK font here: pip install -e '.[zh]' (CI's dev extra has it)")
    monkeypatch.setattr(common, "_lang", ["zh"])
    monkeypatch.setattr(common, "_stem", [""])
    return common


def _label_calls(path):
    """[(english, chinese)] of the lesson's ``common.label(english, "中文")`` calls whose term is
    written out; an f-string's fields read as '0' (a tick labelled by a word of the data, whose
    term is a variable, is left out)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "label"
                and len(node.args) == 2 and isinstance(node.args[1], ast.Constant)):
            english = node.args[0]
            if isinstance(english, ast.JoinedStr):
                english = "".join(v.value if isinstance(v, ast.Constant) else "0" for v in english.values)
            elif isinstance(english, ast.Constant):
                english = english.value
            else:
                continue
            found.append((english, node.args[1].value))
    return found


@pytest.mark.parametrize("path", TRANSLATED, ids=lambda p: p.stem)
def test_every_figure_title_has_its_whole_translation(path):
    """A title says more than its term ('what the chosen 15.0% of the tokens became', not just
    掩码): the Chinese edition shows the catalogue's translation of the whole English."""
    cat = i18n.catalogue(path.stem, "zh", path.parent)
    calls = _label_calls(path)
    for english, term in calls:
        assert cat.text(english), f"{path.stem}: no entry for the title {english!r} (its term: {term})"


def test_a_zh_title_is_the_whole_translation_else_the_term(zh_common):
    common = zh_common
    common._stem[0] = "20_bert_masking"
    assert common.label("what the chosen 15.7% of the tokens became", "掩码") == "被选中的 15.7% 词元变成了什么"
    assert common.label("a title the catalogue lacks", "掩码") == "掩码"
    common._stem[0] = "06_lstm"
    assert common.label("naming the key", "长程记忆") == "说出关键符号"


def test_a_zh_figure_translates_ticks_sup_labels_and_texts(zh_common):
    common = zh_common
    common._stem[0] = "12_sentiment_classification"
    fig, (ax1, ax2) = common.figure(2)
    ax1.bar(["all", "b"], [1, 2])                                 # categorical ticks
    ax2.bar(range(3), [1, 2, 3])
    ax2.set_xticks(range(3), ["plain ('good')", "negated ('not good')", "x"], fontsize=7)
    ax2.text(0, 1, "all")
    fig.supxlabel("all")
    fig.supylabel("all")
    numbers = [t.get_text() for t in ax2.get_yticklabels()]
    common._translate_figure(fig)
    fig.canvas.draw()                                             # a draw makes tick labels anew
    assert [t.get_text() for t in ax1.get_xticklabels()] == ["全部", "b"]
    assert [t.get_text() for t in ax2.get_xticklabels()] == ["普通句（'good'）", "否定句（'not good'）", "x"]
    assert ax2.get_xticklabels()[0].get_fontsize() == 7
    assert [t.get_text() for t in ax2.get_yticklabels()] == numbers
    assert ax2.texts[0].get_text() == fig._supxlabel.get_text() == fig._supylabel.get_text() == "全部"
    common.pyplot().close(fig)


def test_the_two_editions_keep_their_figures_apart(zh_common, monkeypatch, tmp_path):
    """A student who runs a lesson in English and then in Chinese keeps both figures."""
    common = zh_common
    monkeypatch.setenv("MINIGRAD_LESSONS_OUT", str(tmp_path))
    paths = [common.savefig(common.figure()[0], "99_demo")]
    monkeypatch.setattr(common, "_lang", ["en"])
    paths.append(common.savefig(common.figure()[0], "99_demo"))
    assert paths == [tmp_path / "99_demo.zh.png", tmp_path / "99_demo.png"]
    assert all(p.is_file() for p in paths)


def test_wrapped_goals_join_chinese_without_a_space_and_the_rest_with_one(tmp_path):
    from minigrad_lessons import common
    lesson = tmp_path / "99_demo.py"
    lesson.write_text("# %% [markdown]\n# # 第 99 课 — 演示\n#\n# 学习目标：\n"
                      "# 1. 用两个单向 RNN 搭出双向 RNN，验证它与\n#    `nn.RNN(bidirectional=True)` 相同，\n"
                      "#    并弄清它的输出\n#    为什么有 2 × hidden_size 个特征。\n"
                      "# 2. 写出一步：\n#    `h_t = tanh(z)`\n#    ，再验证它。\n"
                      "# 3. An English goal that wraps\n#    onto the next line.\n\n# %%\nx = 1\n", encoding="utf-8")
    title, goals = common.lesson_header(lesson)
    assert title == "第 99 课 — 演示"
    assert goals == ["用两个单向 RNN 搭出双向 RNN，验证它与 `nn.RNN(bidirectional=True)` 相同，"
                     "并弄清它的输出为什么有 2 × hidden_size 个特征。", "写出一步：`h_t = tanh(z)`，再验证它。",
                     "An English goal that wraps onto the next line."]


def test_words_the_lessons_share_live_in_common_po():
    """compare()'s 'expected', 'autograd', the checkpoint line and scatter_words' axes are
    translated once, in common.po, so that every lesson says them alike."""
    shared = {en for ctx, en in i18n.read_po(LESSONS / "zh" / "common.po") if ctx is None}
    assert {"expected", "autograd", "checkpoint written: {path}", "PC 1"} <= shared
    for path in sorted((LESSONS / "zh").glob("[0-9][0-9]_*.po")):
        again = shared & {en for ctx, en in i18n.read_po(path) if ctx is None}
        assert not again, f"{path.name} translates again what common.po has: {sorted(again)}"


def test_a_zh_comparison_puts_no_space_beside_chinese_punctuation(zh_common, capsys):
    """compare() glues the lesson's name into common's template: '（展平） 等于' would show a gap."""
    common = zh_common
    common._stem[0] = "04_gradient_clipping"
    common.compare("the gradients after clip_by_value (flattened)", [1.0], [1.0], exercise=None,
                   against="nn.utils.clip_grad_value_")
    line = capsys.readouterr().out.strip()
    assert line == "检查通过: clip_by_value 之后的梯度（展平）等于 nn.utils.clip_grad_value_", line


@pytest.mark.parametrize("stem, rows, marks", [
    ("14_attention", [("dot       scores {s}: {v}", {"s": "(2, 1, 6)", "v": "[-4.79  3.96]"}),
                      ("general   scores {s}: {v}", {"s": "(2, 1, 6)", "v": "[ 0.59 -2.99]"}),
                      ("additive  scores {s}: {v}", {"s": "(2, 1, 6)", "v": "[-0.7   0.24]"})], ["打分"]),
    ("17_exposure_bias", [("teacher forcing    greedy {a}   beam 3 {b}", {"a": "  0.0%   0.0%", "b": "  0.0%   0.0%"}),
                          ("scheduled sampling greedy {a}   beam 3 {b}", {"a": " 96.5%  97.0%", "b": "100.0%  99.5%"})],
     ["贪心搜索", "集束搜索"]),
])
def test_rows_whose_names_grow_in_chinese_stay_aligned(stem, rows, marks):
    """A translator pads the Chinese names to one width; the English columns, narrower, must not
    undo it (lesson 14's 打分 column, lesson 17's 贪心搜索 and 集束搜索 columns)."""
    cat = i18n.catalogue(stem)
    laid = []
    for template, fields in rows:
        english = template.format(**fields)
        laid.append(terminal.align_like(english, cat.text(english)))
    assert len({tuple(_starts(line, marks)) for line in laid}) == 1, "\n".join(laid)


@pytest.mark.parametrize("path", sorted((LESSONS / "zh").glob("*.po")), ids=lambda p: p.stem)
def test_an_entrys_fields_are_names_and_its_literal_braces_doubled(path):
    """'{k}' in a line's English is a field that matches any text; a brace the line prints (a
    dict) is written '{{'. A single one would make "{'plain': 'never'}" a field named 'plain'
    that matches every such line, and print one run's translation for all of them."""
    import string
    for (ctx, english), chinese in i18n.read_po(path).items():
        if ctx in ("cell", "exercise"):
            continue
        for text in (english, chinese):
            fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
            assert all(f.isidentifier() for f in fields), f"{path.stem}: {english[:70]!r} has fields {fields}"
