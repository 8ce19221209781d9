"""The class at a glance, from a graded class's gradebook rows. Beside ``gradebook.csv``:

    DIR/totals.csv     one row per student: one column per lesson (points), then total and max
    DIR/summary.md     the students x lessons table and per-exercise class statistics
    DIR/report.html    one self-contained page: score histogram, pass rate per exercise,
                       a sortable student table linking to feedback/<student>.md, the settings
    DIR/canvas.csv     with lms="canvas": Canvas's gradebook-import shape (see the README)
    DIR/moodle.csv     with lms="moodle": Moodle's grade-import shape (see the README)

``report.html`` needs matplotlib (the ``lessons`` extra); without it the other files are still
written and ``write_reports`` says what is missing. The page loads nothing: its charts are PNGs
inside it as ``data:`` URIs, its script and style are inline.
"""
import base64
import collections
import csv
import html
import io
import pathlib
import re
import urllib.parse

STATUS_COLUMNS = ("passed", "failed", "error", "timeout", "disqualified", "not_attempted", "missing")
FAILURES = ("failed", "error", "timeout", "disqualified")
LMS_SHAPES = ("canvas", "moodle")
# how a lesson's column is named in an LMS: a name that says where it comes from, with no
# "(number)" at its end (Canvas reads that as an assignment's id)
LMS_COLUMN = "minigrad lesson {}"
NEEDS_MATPLOTLIB = ("report.html needs matplotlib for its charts: pip install 'minigrad[lessons]' "
                    "(the lessons extra), then grade again")


# ----------------------------------------------------------------------------- numbers

def totals(rows):
    """(students, lessons, {(student, lesson): (points, max_points)}) from gradebook rows
    (dicts with student, lesson, exercise, points, max_points, status), in first-seen order."""
    students, lessons, points = {}, {}, {}
    for r in rows:
        students.setdefault(r["student"], None)
        lessons.setdefault(r["lesson"], None)
        got, most = points.get((r["student"], r["lesson"]), (0, 0))
        points[r["student"], r["lesson"]] = (got + int(r["points"]), most + int(r["max_points"]))
    return list(students), sorted(lessons), points


def failure_kind(message):
    """A failure message reduced to what students share: its first line, without the
    exercise's name and with every number as '#' ('check failed: C_t[#, #]: yours #, ...')."""
    first = (message or "").strip().splitlines()[0] if (message or "").strip() else ""
    first = re.sub(r"^exercise \d+ \(.*?\): ", "", first)
    return re.sub(r"(?<![\w.-])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?!\w)", "#", first)


def exercise_statistics(rows, messages=None):
    """[(lesson, exercise, {status: count}, most common failure or '', its count)], one per
    exercise, in lesson and exercise order. ``messages[(student, lesson, exercise)]`` is the
    grader's message for that row."""
    messages = messages or {}
    counts, kinds = {}, {}
    for r in rows:
        key = (r["lesson"], int(r["exercise"]))
        counts.setdefault(key, collections.Counter())[r["status"]] += 1
        if r["status"] in FAILURES:
            kind = failure_kind(messages.get((r["student"], r["lesson"], int(r["exercise"])), ""))
            kinds.setdefault(key, collections.Counter())[kind or r["status"]] += 1
    out = []
    for key in sorted(counts):
        common = kinds.get(key, collections.Counter()).most_common(1)
        kind, n = common[0] if common else ("", 0)
        out.append((key[0], key[1], counts[key], kind, n))
    return out


def exercise_titles(lessons):
    """{(lesson, k): title} for the lessons the course has; a lesson it lacks has none."""
    from minigrad_lessons import exercises
    titles = {}
    for lesson in lessons:
        try:
            path = exercises.find_lesson(str(lesson))
            for ex in exercises.parse_lesson(path.read_text(encoding="utf-8"), path.name):
                titles[lesson, ex.number] = ex.title
        except (FileNotFoundError, ValueError, OSError):
            pass
    return titles


# ----------------------------------------------------------------------------- files

def _warn(f, warning):
    # a class graded without the sandbox says so in every file, this one included
    if warning:
        f.write(f"# WARNING: {warning}\n")


def write_totals(path, rows, warning=None):
    students, lessons, points = totals(rows)
    with open(path, "w", newline="", encoding="utf-8") as f:
        _warn(f, warning)
        writer = csv.writer(f)
        writer.writerow(["student", *lessons, "total", "max"])
        for s in students:
            cells = [points.get((s, n), (0, 0)) for n in lessons]
            writer.writerow([s, *(g for g, _ in cells), sum(g for g, _ in cells), sum(t for _, t in cells)])


def write_lms(path, rows, lms, warning=None):
    """The shape an LMS imports. Canvas: its gradebook export's columns (Student, ID, SIS User
    ID, SIS Login ID, Section), the student folder in both SIS columns (Canvas matches a row by
    its ID, else by either: the folder may hold a login or an SIS user id), a Points Possible
    row, one column per lesson. Moodle: the student folder and one column per lesson (no total:
    Moodle sums its own)."""
    if lms not in LMS_SHAPES:
        raise ValueError(f"lms must be one of {', '.join(LMS_SHAPES)}, got {lms!r}")
    students, lessons, points = totals(rows)
    columns = [LMS_COLUMN.format(n) for n in lessons]
    most = [max(points.get((s, n), (0, 0))[1] for s in students) for n in lessons]
    with open(path, "w", newline="", encoding="utf-8") as f:
        _warn(f, warning)
        writer = csv.writer(f)
        if lms == "canvas":
            writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *columns])
            writer.writerow(["Points Possible", "", "", "", "", *most])
            for s in students:
                writer.writerow([s, "", s, s, "", *(points.get((s, n), (0, 0))[0] for n in lessons)])
        else:
            writer.writerow(["student", *columns])
            for s in students:
                writer.writerow([s, *(points.get((s, n), (0, 0))[0] for n in lessons)])


def _settings_line(settings):
    mode = "quick (--quick runs)" if settings.get("quick", True) else "full runs (--full)"
    parts = [mode, f"timeout {settings['timeout']:g} s per run" if settings.get("timeout") else None,
             f"sandbox {'on' if settings.get('sandbox') else 'off'}",
             f"--jobs {settings['jobs']}" if settings.get("jobs") else None,
             f"graded in {settings['seconds']:.0f} s" if settings.get("seconds") is not None else None,
             settings.get("date")]
    return ", ".join(p for p in parts if p)


def _label(lesson, k, titles):
    title = titles.get((lesson, k))
    return f"{lesson}.{k}" + (f" {title}" if title else "")


def summary_markdown(rows, messages=None, settings=None, titles=None):
    students, lessons, points = totals(rows)
    titles = titles or {}
    out = ["# Class summary", ""]
    if (settings or {}).get("warning"):
        out += [f"**WARNING: {settings['warning']}.**", ""]
    out += [f"{_students(len(students))}, {len(lessons)} lesson{'s' * (len(lessons) != 1)}; "
           f"{_settings_line(settings or {})}.", "", "## Points (students x lessons)", "",
           "| student | " + " | ".join(lessons) + " | total |",
           "|---|" + "---:|" * (len(lessons) + 1)]
    for s in students:
        cells = [points.get((s, n), (0, 0)) for n in lessons]
        out.append(f"| {_md(s)} | " + " | ".join(f"{g}/{t}" for g, t in cells)
                   + f" | {sum(g for g, _ in cells)}/{sum(t for _, t in cells)} |")
    out += ["", "## Exercises", "", "Pass rate over all students; the most common failure counts "
            "the failures that share their first line, numbers left out (#).", "",
            "| exercise | " + " | ".join(c.replace("_", " ") for c in STATUS_COLUMNS)
            + " | pass rate | most common failure |",
            "|---|" + "---:|" * (len(STATUS_COLUMNS) + 1) + "---|"]
    for lesson, k, counts, kind, n in exercise_statistics(rows, messages):
        total = sum(counts.values())
        common = f"{_md(kind)} ({_students(n)})" if n else ""
        out.append(f"| {_md(_label(lesson, k, titles))} | "
                   + " | ".join(str(counts.get(c, 0)) for c in STATUS_COLUMNS)
                   + f" | {counts.get('passed', 0) / total:.0%} | {common} |")
    return "\n".join(out) + "\n"


def _students(n):
    return f"{n} student{'s' * (n != 1)}"


def _md(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


# ----------------------------------------------------------------------------- the page

def _png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def charts(rows, titles=None):
    """(histogram, pass rates) as data: URIs of PNGs, drawn without pyplot (no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    titles = titles or {}
    students, lessons, points = totals(rows)
    percent = []
    for s in students:
        got = sum(points.get((s, n), (0, 0))[0] for n in lessons)
        most = sum(points.get((s, n), (0, 0))[1] for n in lessons)
        percent.append(100.0 * got / most if most else 0.0)
    fig = Figure(figsize=(4.6, 3.0), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.hist(percent, bins=10, range=(0, 100), color="#4c72b0", edgecolor="white")
    ax.set_xlabel("total score (% of the points)")
    ax.set_ylabel("students")
    ax.set_title(f"Scores of {len(students)} students")
    ax.set_xlim(0, 100)
    ax.yaxis.get_major_locator().set_params(integer=True)
    histogram = _png(fig)

    stats = exercise_statistics(rows)
    labels = [_label(lesson, k, titles) for lesson, k, *_ in stats]
    labels = [label if len(label) <= 48 else label[:47] + "…" for label in labels]
    rates = [100.0 * counts.get("passed", 0) / sum(counts.values()) for _, _, counts, *_ in stats]
    fig = Figure(figsize=(5.8, max(2.2, 0.9 + 0.3 * len(stats))), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    y = list(range(len(stats)))[::-1]
    ax.barh(y, rates, height=0.6, color=["#55a868" if r >= 50 else "#c44e52" for r in rates])
    ax.set_yticks(y, labels, fontsize=8)
    for yy, r in zip(y, rates):
        ax.text(min(r + 1, 88), yy, f"{r:.0f}%", va="center", fontsize=8)
    ax.set_xlim(0, 100)
    ax.set_xlabel("students who passed (%)")
    ax.set_title("Pass rate per exercise")
    return histogram, _png(fig)


SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0], column = th.cellIndex;
    var up = th.dataset.order !== "up";
    table.querySelectorAll("th").forEach(function (h) { delete h.dataset.order; });
    th.dataset.order = up ? "up" : "down";
    var rows = Array.from(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[column].dataset.v, y = b.cells[column].dataset.v;
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
      return up ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child, td.text { text-align: left; }
table.sortable th { cursor: pointer; background: #f2f2f2; user-select: none; white-space: nowrap; }
table.exercises td:first-child { min-width: 18em; }
table.exercises th { white-space: normal; }
div.why { color: #555; font-size: 0.85em; max-width: 40em; margin-top: 0.2em; }
table.sortable th::after { content: " \\2195"; color: #999; }
table.sortable th[data-order=up]::after { content: " \\25B2"; color: #222; }
table.sortable th[data-order=down]::after { content: " \\25BC"; color: #222; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.charts img { max-width: 100%; border: 1px solid #eee; }
td.low { background: #fbe3e4; } td.full { background: #e3f4e6; }
.warning { background: #fbe3e4; border: 1px solid #c33; padding: .5em 1em; }
dl { display: grid; grid-template-columns: repeat(4, max-content minmax(6em, auto)); gap: 0.2em 0.8em; }
dt { font-weight: 600; } dd { margin: 0; }
"""


def report_html(rows, messages=None, settings=None, titles=None, feedback="feedback"):
    """The page, as text. Each student links to ``<feedback>/<student>.md``."""
    settings, titles = settings or {}, titles or {}
    students, lessons, points = totals(rows)
    histogram, rates = charts(rows, titles)
    esc = html.escape
    head = "".join(f"<th>{esc(n)}</th>" for n in lessons)
    body = []
    for s in students:
        cells = [points.get((s, n), (0, 0)) for n in lessons]
        got, most = sum(g for g, _ in cells), sum(t for _, t in cells)
        link = f"{feedback}/{urllib.parse.quote(s)}.md"
        row = [f'<td class="text" data-v="{esc(s)}"><a href="{esc(link)}">{esc(s)}</a></td>']
        for g, t in cells:
            cls = "full" if t and g == t else ("low" if t and g < t / 2 else "")
            row.append(f'<td class="{cls}" data-v="{g}">{g}/{t}</td>')
        share = 100.0 * got / most if most else 0.0
        row.append(f'<td data-v="{got}">{got}/{most}</td><td data-v="{share:.4f}">{share:.0f}%</td>')
        body.append("<tr>" + "".join(row) + "</tr>")
    stats = []
    for lesson, k, counts, kind, n in exercise_statistics(rows, messages):
        total = sum(counts.values())
        rate = counts.get("passed", 0) / total
        why = f'<div class="why">most common failure: {esc(kind)} ({_students(n)})</div>' if n else ""
        stats.append(f'<tr><td class="text" data-v="{esc(lesson)}.{k:03d}">{esc(_label(lesson, k, titles))}{why}</td>'
                     + "".join(f'<td data-v="{counts.get(c, 0)}">{counts.get(c, 0)}</td>' for c in STATUS_COLUMNS)
                     + f'<td data-v="{rate:.4f}">{rate:.0%}</td></tr>')
    shown = {"mode": "quick (--quick runs)" if settings.get("quick", True) else "full runs (--full)",
             "timeout per run": f"{settings['timeout']:g} s" if settings.get("timeout") else "default",
             "sandbox": "on" if settings.get("sandbox") else "off",
             "jobs": settings.get("jobs"), "lessons": ", ".join(lessons),
             "students": len(students),
             "grading took": f"{settings['seconds']:.0f} s" if settings.get("seconds") is not None else None,
             "graded on": settings.get("date")}
    dl = "".join(f"<dt>{esc(k)}</dt><dd>{esc(str(v))}</dd>" for k, v in shown.items() if v not in (None, ""))
    warning = (f'<p class="warning"><strong>WARNING: {esc(settings["warning"])}.</strong></p>\n'
               if settings.get("warning") else "")
    status_head = "".join(f"<th>{esc(c.replace('_', ' '))}</th>" for c in STATUS_COLUMNS)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>minigrad: the class at a glance</title><style>{STYLE}</style></head>
<body>
<h1>The class at a glance</h1>
{warning}<dl>{dl}</dl>
<div class="charts"><img alt="histogram of the students' total scores" src="{histogram}">
<img alt="pass rate per exercise" src="{rates}"></div>
<h2>Exercises</h2>
<p>The most common failure counts the failures whose first line is the same once the numbers are left out (#).</p>
<table class="sortable exercises"><thead><tr><th>exercise</th>{status_head}<th>pass rate</th></tr></thead>
<tbody>{"".join(stats)}</tbody></table>
<h2>Students</h2>
<p>Click a column to sort; a name opens the student's feedback.</p>
<table class="sortable"><thead><tr><th>student</th>{head}<th>total</th><th>%</th></tr></thead>
<tbody>{"".join(body)}</tbody></table>
<script>{SCRIPT}</script>
</body></html>
"""


def write_reports(out_dir, rows, messages=None, settings=None, lms=None, echo=print):
    """Write totals.csv, summary.md, report.html (when matplotlib is installed) and, with
    ``lms``, canvas.csv or moodle.csv into ``out_dir``. ``rows``: the gradebook rows;
    ``messages[(student, lesson, exercise)]``: the grader's message for each; ``settings``:
    quick, timeout, sandbox, jobs, seconds, date. Returns the paths written."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = [dict(r, exercise=int(r["exercise"]), points=int(r["points"]), max_points=int(r["max_points"]))
            for r in rows]
    titles = exercise_titles(sorted({r["lesson"] for r in rows}))
    written = [out_dir / "totals.csv", out_dir / "summary.md"]
    warning = (settings or {}).get("warning")
    write_totals(written[0], rows, warning)
    written[1].write_text(summary_markdown(rows, messages, settings, titles), encoding="utf-8")
    if lms:
        written.append(out_dir / f"{lms}.csv")
        write_lms(written[-1], rows, lms, warning)
    try:
        page = report_html(rows, messages, settings, titles)
    except ImportError:
        echo(NEEDS_MATPLOTLIB)
    else:
        written.append(out_dir / "report.html")
        written[-1].write_text(page, encoding="utf-8")
    echo("the class at a glance: " + ", ".join(str(p) for p in written))
    return written

