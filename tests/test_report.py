"""The class at a glance (lessons/report.py): totals.csv, summary.md, report.html and the LMS
shapes, against a small class with known results. The rows are built here as the grader
writes them; tests/test_grade.py checks that grading a class writes the same files."""
import base64
import csv
import re
import struct
import sys

import pytest

from minigrad_lessons import report

# lesson 03 has one exercise worth 2 points, lesson 06 two worth 1 and 2 (the real lessons,
# so that the exercises' titles are found)
CLASS = {
    "ann": {("03", 1): "passed", ("06", 1): "passed", ("06", 2): "passed"},
    "ben": {("03", 1): "failed", ("06", 1): "passed", ("06", 2): "failed"},
    "cy": {("03", 1): "failed", ("06", 1): "timeout", ("06", 2): "disqualified"},
    "dee": {("03", 1): "missing", ("06", 1): "error", ("06", 2): "passed"},
    "eve": {("03", 1): "passed", ("06", 1): "not_attempted", ("06", 2): "not_attempted"},
}
POINTS = {("03", 1): 2, ("06", 1): 1, ("06", 2): 2}
MESSAGES = {
    ("ben", "03", 1): "exercise 1 (backpropagation through time by hand): check failed: dU[0, 1]: yours 0.31, "
                      "autograd 0.12\nhints:\n- dh = ...",
    ("cy", "03", 1): "exercise 1 (backpropagation through time by hand): check failed: dU[1, 1]: yours -2.5e-05, "
                     "autograd 0.1\nhints:\n- dh = ...",
    ("ben", "06", 2): "exercise 2 (the LSTM step's backward by hand): check failed: dx[0, 0]: yours 1.5, autograd 0.2",
    ("cy", "06", 1): "exercise 1 (the LSTM's gates by hand): still running after 60 s, in your block (line 12)",
    ("cy", "06", 2): "exercise 2 (the LSTM step's backward by hand): your block uses sys.exit: a block must not end the process",
    ("dee", "06", 1): "exercise 1 (the LSTM's gates by hand): your block raised NameError: name 'W' is not defined (line 3)",
}
SETTINGS = {"quick": True, "timeout": 60.0, "sandbox": False, "jobs": 2, "seconds": 84.2, "date": "2026-12-07 20:00"}


def rows():
    return [{"student": s, "lesson": lesson, "exercise": k,
             "points": POINTS[lesson, k] if status == "passed" else 0, "max_points": POINTS[lesson, k],
             "status": status}
            for s, graded in CLASS.items() for (lesson, k), status in graded.items()]


@pytest.fixture
def written(tmp_path):
    said = []
    paths = report.write_reports(tmp_path, rows(), MESSAGES, SETTINGS, echo=said.append)
    return tmp_path, paths, said


def test_totals_one_row_per_student_one_column_per_lesson(written):
    out, paths, _ = written
    with open(out / "totals.csv", newline="", encoding="utf-8") as f:
        table = list(csv.reader(f))
    assert table == [["student", "03", "06", "total", "max"],
                     ["ann", "2", "3", "5", "5"],
                     ["ben", "0", "1", "1", "5"],
                     ["cy", "0", "0", "0", "5"],
                     ["dee", "0", "2", "2", "5"],
                     ["eve", "2", "0", "2", "5"]]
    assert [p.name for p in paths] == ["totals.csv", "summary.md", "report.html"]


def _exercise_table(summary):
    lines = summary.split("## Exercises", 1)[1].strip().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| exercise |"))
    cells = [[c.strip() for c in line.strip("|").split(" | ")] for line in lines[header:] if line.startswith("|")]
    return cells[0], {row[0]: dict(zip(cells[0], row)) for row in cells[2:]}


def test_summary_has_the_points_and_the_class_statistics(written):
    out, _, _ = written
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "5 students, 2 lessons; quick (--quick runs), timeout 60 s per run, sandbox off" in summary
    assert "| student | 03 | 06 | total |" in summary
    assert "| ann | 2/2 | 3/3 | 5/5 |" in summary and "| dee | 0/2 | 2/3 | 2/5 |" in summary
    header, table = _exercise_table(summary)
    assert header[:6] == ["exercise", "passed", "failed", "error", "timeout", "disqualified"]
    titles = report.exercise_titles(["03", "06"])
    assert list(table) == [f"{n}.{k} {titles[n, k]}" for n, k in (("03", 1), ("06", 1), ("06", 2))]
    first, gates, backward = table.values()
    counts = lambda row: [int(row[c]) for c in ("passed", "failed", "error", "timeout", "disqualified",
                                                 "not attempted", "missing")]
    assert counts(first) == [2, 2, 0, 0, 0, 0, 1] and first["pass rate"] == "40%"
    assert counts(gates) == [2, 0, 1, 1, 0, 1, 0]
    assert counts(backward) == [2, 1, 0, 0, 1, 1, 0]
    # ben's and cy's failures differ only in their numbers: one kind, two students
    assert first["most common failure"] == "check failed: dU[#, #]: yours #, autograd # (2 students)"
    assert backward["most common failure"].endswith("(1 student)")


def test_failure_kinds_keep_the_words_and_drop_the_numbers():
    assert report.failure_kind("exercise 2 (a (nested) title): check failed: x[3]: yours -1.5e-07, expected 2\n"
                               "the lesson printed just before:\n...") == "check failed: x[#]: yours #, expected #"
    assert report.failure_kind("") == ""


def _images(page):
    return re.findall(r'<img [^>]*src="([^"]*)"', page)


def test_the_page_holds_its_images_and_loads_nothing(written):
    out, _, _ = written
    page = (out / "report.html").read_text(encoding="utf-8")
    images = _images(page)
    assert len(images) == 2, "the histogram and the pass rates"
    for uri in images:
        assert uri.startswith("data:image/png;base64,")
        png = base64.b64decode(uri.split(",", 1)[1], validate=True)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", png[16:24])
        assert width >= 300 and height >= 150, (width, height)
    outside = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)
    for link in ("http:", "https:", "ftp:", "file:", "//", "@import", "url(", "<link", "<iframe"):
        assert link not in outside.lower(), f"the page refers to something outside it: {link}"
    assert re.findall(r"\bsrc=", outside) == ['src=', 'src='], "every src is one of the two data: images"
    assert "img-src data:" in page and "default-src 'none'" in page, "the page forbids itself any load"
    for student in CLASS:
        assert f'<a href="feedback/{student}.md">{student}</a>' in page
    assert "<table class=\"sortable\">" in page and "addEventListener(\"click\"" in page
    for setting in ("quick (--quick runs)", "60 s", "<dt>sandbox</dt><dd>off</dd>", "84 s"):
        assert setting in page, setting


def test_student_names_are_escaped_and_links_quoted(tmp_path):
    hostile = [dict(r, student='<b>x"&y z</b>') for r in rows() if r["student"] == "ann"]
    page = report.report_html(hostile, settings=SETTINGS)
    assert '<b>x"' not in page and "&lt;b&gt;x&quot;&amp;y z&lt;/b&gt;" in page
    assert 'href="feedback/%3Cb%3Ex%22%26y%20z%3C/b%3E.md"' in page


@pytest.mark.parametrize("lms, expected", [
    ("canvas", [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "minigrad lesson 03", "minigrad lesson 06"],
                ["Points Possible", "", "", "", "", "2", "3"],
                ["ann", "", "ann", "ann", "", "2", "3"],
                ["ben", "", "ben", "ben", "", "0", "1"]]),
    ("moodle", [["student", "minigrad lesson 03", "minigrad lesson 06"],
                ["ann", "2", "3"],
                ["ben", "0", "1"]]),
])
def test_lms_shapes(tmp_path, lms, expected):
    paths = report.write_reports(tmp_path, rows(), MESSAGES, SETTINGS, lms=lms, echo=lambda *a: None)
    assert tmp_path / f"{lms}.csv" in paths
    with open(tmp_path / f"{lms}.csv", newline="", encoding="utf-8") as f:
        table = list(csv.reader(f))
    assert table[:len(expected)] == expected
    assert len(table) == len(expected) - 2 + len(CLASS)
    assert all(not re.search(r"\(\d+\)$", c) for c in table[0]), "Canvas reads '(number)' as an assignment id"
    with pytest.raises(ValueError, match="lms must be one of canvas, moodle, got 'blackboard'"):
        report.write_lms(tmp_path / "x.csv", rows(), "blackboard")


def test_without_matplotlib_the_csv_and_summary_are_still_written(tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")] + ["matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)        # import matplotlib... raises ImportError
    said = []
    paths = report.write_reports(tmp_path, rows(), MESSAGES, SETTINGS, echo=said.append)
    assert [p.name for p in paths] == ["totals.csv", "summary.md"]
    assert (tmp_path / "totals.csv").exists() and (tmp_path / "summary.md").exists()
    assert not (tmp_path / "report.html").exists()
    assert any("report.html needs matplotlib" in s and "minigrad[lessons]" in s for s in said), said


def _browser():
    import shutil
    return next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


@pytest.mark.skipif(_browser() is None, reason="no headless Chromium (Debian's chromium package) to render the page")
def test_the_tables_sort_in_a_browser(written, tmp_path):
    """The page's script, run by headless Chromium: a click on 'total' sorts the students
    from the lowest total up, a second click turns the order round."""
    import subprocess
    out, _, _ = written
    page = (out / "report.html").read_text(encoding="utf-8")
    orders = []
    for clicks in (1, 2):
        click = ('<script>var th = document.querySelectorAll("table.sortable")[1].querySelectorAll("th")[3];'
                 f'for (var i = 0; i < {clicks}; i++) th.click();</script></body>')
        probe = tmp_path / f"sorted{clicks}.html"
        probe.write_text(page.replace("</body>", click), encoding="utf-8")
        dom = subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu",
                              "--disable-background-networking", "--dump-dom", probe.as_uri()],
                             capture_output=True, text=True, timeout=60).stdout
        orders.append(re.findall(r'href="feedback/(\w+)\.md"', dom))
    totals = {"ann": 5, "ben": 1, "cy": 0, "dee": 2, "eve": 2}
    assert [totals[s] for s in orders[0]] == [0, 1, 2, 2, 5]
    assert [totals[s] for s in orders[1]] == [5, 2, 2, 1, 0]
