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
    exercise texts as the zh edition has them, then the catalogue's other entries."""
    cat = i18n.catalogue(path.stem, "zh", path.parent)
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
