"""Grading: one student's file (``grade_file``), and a class (``grade_folder``)."""
import atexit
import concurrent.futures
import csv
import dataclasses
import pathlib
import textwrap
import time

from .. import i18n, markers
from .. import report as reports
from . import policy, runner as runners, submissions
from .splice import block_nodes, parse, splice
from .verdicts import STATUSES, Verdict, _crash_verdict, judge

COLUMNS = ("student", "lesson", "exercise", "points", "max_points", "status")
QUICK_TIMEOUT, FULL_TIMEOUT = 60.0, 600.0
_default = {}


def default_runner(sandboxed=True, limits=None):
    """One prepared Runner per (sandboxed, limits), shared by every grade_file call."""
    key = (sandboxed, limits)
    if key not in _default:
        _default[key] = runners.Runner(sandboxed, limits).prepare()
        atexit.register(_default[key].close)
    return _default[key]


def grade_file(lesson, submission_path, *, timeout=None, quick=True, sandboxed=True, limits=None,
               runner=None, lang=None, _details=None):
    """Grade one student's copy of one lesson.

    ``lesson``: a number ('06'), a file name or a path of a teacher's lesson.
    ``submission_path``: the student's ``.py`` or ``.ipynb`` (it may not exist: ``missing``).
    Returns {k: (points, max_points, status, message)} for every exercise k of the lesson.
    ``lang``: the language of the check messages ('en', 'zh'); by default the copy's own
    ('# LANGUAGE: zh' in a Chinese copy), else English.
    Runs in the sandbox unless ``sandboxed=False``; raises ``SandboxUnavailable`` (naming what is
    missing) where none can start."""
    lesson_path = markers.find_lesson(str(lesson))
    teacher_text = lesson_path.read_text(encoding="utf-8")
    exercises = markers.parse_lesson(teacher_text, lesson_path.name)
    timeout = timeout or (QUICK_TIMEOUT if quick else FULL_TIMEOUT)
    details = _details if _details is not None else {}
    details.update(runs=0, seconds=0.0, outside=[])
    verdicts = {}
    path = pathlib.Path(submission_path) if submission_path else None
    if path is None or not path.is_file():
        for ex in exercises:
            verdicts[ex.number] = Verdict("missing", f"no {lesson_path.name} or {lesson_path.stem}.ipynb was handed in")
        return _table(exercises, verdicts)
    try:
        text = submissions.read_submission(path)
        blocks = submissions.submission_blocks(text, path.name)
    except (markers.ExerciseError, ValueError, OSError) as e:
        for ex in exercises:
            verdicts[ex.number] = Verdict("error", f"the file could not be read: {e}")
        return _table(exercises, verdicts)
    details["outside"] = submissions.outside_edits(teacher_text, text, lesson_path.name)
    if not lang:                     # the copy's own line; never the grader's environment
        said = i18n.LANGUAGE_LINE.search(text)
        lang = said.group("lang").lower() if said and said.group("lang").lower() in i18n.LANGUAGES else "en"
    details["lang"] = lang
    runner = runner or default_runner(sandboxed, limits)

    student_code, student_lines = {}, {}
    for ex in exercises:
        k = ex.number
        if k not in blocks:
            verdicts[k] = Verdict("error", f"no '# BEGIN EXERCISE {k}' / '# END EXERCISE {k}' markers: "
                                           "the grader cannot find your code")
            continue
        code, line = blocks[k]
        if submissions.placeholder_left(code, lesson_path.name, k) or submissions.only_comments(code):
            verdicts[k] = Verdict("not_attempted", "the placeholder is still there: nothing was written")
            continue
        source, ranges = splice(teacher_text, exercises, {k: code})
        first, last = ranges[k]
        try:
            tree = parse(source, lesson_path.name, check=True)
        except SyntaxError as e:
            inside = e.lineno is not None and first <= e.lineno <= last
            at = f" (line {line + e.lineno - first + 1} of your file)" if inside else " (after your block: is it complete?)"
            verdicts[k] = Verdict("error", f"syntax error: {e.msg}{at}")
            continue
        nodes = block_nodes(tree, first, last)
        problem = policy.violation(nodes, *policy.block_protection(teacher_text, ex))
        quote = lambda at: _quote(at, first, line, text)     # noqa: E731 - one line, here only
        if problem:
            verdicts[k] = Verdict("disqualified", f"your block {problem[0]} ({quote(problem[1])})")
            continue
        used = policy.off_limits_used(nodes, ex.off_limits)
        if used:
            verdicts[k] = Verdict("failed", f"your block uses {used[0]}, which this exercise asks you to "
                                            f"write by hand (off limits here: {', '.join(ex.off_limits)}; "
                                            f"{quote(used[1])})")
            continue
        student_code[k], student_lines[k] = code, line

    def run(code):
        source, ranges = splice(teacher_text, exercises, code)
        guarded = [(*ranges[k], list(exercises[k - 1].off_limits)) for k in code]
        result = runner.run(source, lesson_path.name, timeout, quick, guarded,
                            **({"lang": lang} if lang != "en" else {}))
        details["runs"] += 1
        details["seconds"] += result.seconds
        return result, source, ranges

    passed_code = {}
    pending = set(student_code)
    while pending:
        result, source, ranges = run({**passed_code, **{k: student_code[k] for k in pending}})
        found = judge(result, pending, exercises, source, ranges, student_lines, text)
        for k in list(pending):
            if found[k] is not None and found[k].status == "passed":
                verdicts[k] = found[k]
                passed_code[k] = student_code[k]
                pending.discard(k)
        if len(pending) == 1:
            (k,) = pending
            verdicts[k] = found[k] or _crash_verdict(result, k)
            break
        certain = {k for k in pending if found[k] is not None and found[k].certain}
        if certain:
            for k in certain:
                verdicts[k] = found[k]
            pending -= certain
            continue
        # Several blocks failed and none is clearly at fault alone: judge each on its own,
        # with the reference standing in for the others.
        for k in sorted(pending):
            result, source, ranges = run({**passed_code, k: student_code[k]})
            verdicts[k] = (judge(result, {k}, exercises, source, ranges, student_lines, text)[k]
                           or _crash_verdict(result, k))
        break
    return _table(exercises, verdicts)


def _quote(line, first, student_line, text):
    from .verdicts import quote_line
    return quote_line(line, first, student_line, text)


def _table(exercises, verdicts):
    """{k: (points, max_points, status, message)}; a message that is not a pass names the
    exercise and ends with its hints."""
    table = {}
    for ex in exercises:
        v = verdicts[ex.number]
        message = v.message
        if v.status != "passed":
            message = f"exercise {ex.number} ({ex.title}): {message}"
            if v.status in ("failed", "error", "timeout", "not_attempted"):
                message += "\nhints:\n" + "".join(f"- {h}\n" for h in ex.hints)
        table[ex.number] = (ex.points if v.status == "passed" else 0, ex.points, v.status, message.rstrip("\n"))
    return table


# ----------------------------------------------------------------------------- a class

@dataclasses.dataclass
class ClassGrades:
    """What ``grade_folder`` returns, for a report writer: the gradebook's ``rows`` (dicts with
    COLUMNS), ``results[student][lesson file name] = {k: (points, max_points, status,
    message)}``, ``details`` likewise (runs, seconds, edits outside the blocks), and
    ``settings`` (sandboxed, limits, timeout, quick, jobs, lessons, students, seconds, runs)."""
    rows: list
    results: dict
    details: dict
    settings: dict


def grade_folder(submissions_dir, out_dir, lessons=None, timeout=None, jobs=1, quick=True, echo=print,
                 sandboxed=True, limits=None, lms=None, lang=None):
    """Grade every student folder of ``submissions_dir``; write the gradebook and feedback
    into ``out_dir``, and the class at a glance beside them (``minigrad_lessons.report``:
    totals.csv, summary.md, report.html; with ``lms``, the file that LMS imports). Refuses (``SandboxUnavailable``) before grading anyone when the sandbox
    cannot start. Returns a ClassGrades."""
    submissions_dir, out_dir = pathlib.Path(submissions_dir), pathlib.Path(out_dir)
    students = sorted(p.name for p in submissions_dir.iterdir()
                      if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))
    if lessons:
        lesson_paths = [markers.find_lesson(str(n)) for n in lessons]
    else:
        handed_in = {p.name[:2] for s in students for p in (submissions_dir / s).glob("[0-9][0-9]_*")}
        lesson_paths = [p for p in markers.lesson_files() if p.name[:2] in handed_in]
    run = runners.Runner(sandboxed, limits)
    try:
        run.prepare()
        graded = _grade_all(run, submissions_dir, students, lesson_paths, timeout, jobs, quick, lang)
    finally:
        run.close()
    results, details, elapsed = graded
    rows = []
    for student in students:
        for lesson_path in lesson_paths:
            for k, (points, max_points, status, _) in results[student][lesson_path.name].items():
                rows.append({"student": student, "lesson": lesson_path.name[:2], "exercise": k,
                             "points": points, "max_points": max_points, "status": status})
    runs = sum(d["runs"] for per in details.values() for d in per.values())
    settings = {"sandboxed": sandboxed, "limits": dataclasses.asdict(run.limits), "jobs": jobs,
                "timeout": timeout or (QUICK_TIMEOUT if quick else FULL_TIMEOUT), "quick": quick,
                "lessons": [p.name for p in lesson_paths], "students": students, "seconds": elapsed,
                "runs": runs}
    warning = None if sandboxed else runners.UNSANDBOXED
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "gradebook.csv", "w", newline="", encoding="utf-8") as f:
        if warning:
            f.write(f"# {warning}\n")
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    (out_dir / "feedback").mkdir(exist_ok=True)
    for student in students:
        graded_lessons = [(p, results[student][p.name], details[student][p.name]) for p in lesson_paths]
        (out_dir / "feedback" / f"{student}.md").write_text(_feedback(student, graded_lessons, warning),
                                                            encoding="utf-8")
    if warning:
        echo(f"WARNING: {warning}.\n")
    echo(_summary(students, lesson_paths, rows))
    messages = {(s, name[:2], k): v[3] for s, per in results.items() for name, table in per.items()
                for k, v in table.items()}
    reports.write_reports(out_dir, rows, messages,
                          dict(quick=quick, timeout=settings["timeout"], sandbox=sandboxed, warning=warning,
                               jobs=jobs, seconds=elapsed, date=time.strftime("%Y-%m-%d %H:%M")),
                          lms=lms, echo=echo)
    echo(f"\n{len(students)} students x {len(lesson_paths)} lessons graded in {elapsed:.1f} s "
         f"({runs} runs, --jobs {jobs}, {'in the sandbox' if sandboxed else 'WITHOUT a sandbox'}); "
         f"gradebook: {out_dir / 'gradebook.csv'}, feedback: {out_dir / 'feedback'}/")
    if warning:
        echo(f"WARNING: {warning}.")
    return ClassGrades(rows, results, details, settings)


def _grade_all(run, submissions_dir, students, lesson_paths, timeout, jobs, quick, lang=None):
    def one(job):
        student, lesson_path = job
        details = {}
        table = grade_file(lesson_path, submissions.find_submission(submissions_dir / student, lesson_path),
                           timeout=timeout, quick=quick, runner=run, lang=lang, _details=details)
        return student, lesson_path, table, details

    results = {s: {} for s in students}
    details = {s: {} for s in students}
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for student, lesson_path, table, detail in pool.map(one, [(s, p) for s in students for p in lesson_paths]):
            results[student][lesson_path.name] = table
            details[student][lesson_path.name] = detail
    return results, details, time.perf_counter() - start


def _feedback(student, graded, warning=None):
    out = [f"# Feedback for {student}\n"]
    if warning:
        out.append(f"**{warning}.**\n")
    for lesson_path, table, details in graded:
        exercises = {ex.number: ex for ex in markers.parse_lesson(lesson_path.read_text(encoding="utf-8"),
                                                                  lesson_path.name)}
        got, total = sum(v[0] for v in table.values()), sum(v[1] for v in table.values())
        out.append(f"## {lesson_path.name}: {got} / {total} points\n")
        for k, (points, max_points, status, message) in table.items():
            out.append(f"### Exercise {k}: {exercises[k].title} — {status}, {points} / {max_points}\n")
            if status != "passed":
                out.append(textwrap.indent(message.strip(), "    ") + "\n")
        if details.get("outside"):
            out.append("Edits outside the exercise blocks are ignored (the teacher's lesson runs "
                       "instead):\n" + "".join(f"- {e}\n" for e in details["outside"]))
    return "\n".join(out)


def _summary(students, lesson_paths, rows):
    points = {}
    for r in rows:
        key = r["student"], r["lesson"]
        got, total = points.get(key, (0, 0))
        points[key] = (got + r["points"], total + r["max_points"])
    lessons = [p.name[:2] for p in lesson_paths]
    width = max([len("student")] + [len(s) for s in students])
    lines = [f"{'student':{width}s}  " + "  ".join(f"{n:>6s}" for n in lessons) + "   total"]
    for s in students:
        cells = [points[s, n] for n in lessons]
        lines.append(f"{s:{width}s}  " + "  ".join(f"{f'{g}/{t}':>6s}" for g, t in cells)
                     + f"  {sum(g for g, _ in cells):3d}/{sum(t for _, t in cells)}")
    return "\n".join(lines)


__all__ = ["COLUMNS", "STATUSES", "ClassGrades", "grade_file", "grade_folder"]
