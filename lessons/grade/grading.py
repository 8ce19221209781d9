"""Grading: one student's file (``grade_file``), and a class (``grade_folder``)."""
import atexit
import collections
import concurrent.futures
import csv
import dataclasses
import pathlib
import textwrap
import time

from .. import i18n, markers
from ..i18n import reword, say
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
               runner=None, lang=None, lang_if_missing="en", _details=None):
    """Grade one student's copy of one lesson.

    ``lesson``: a number ('06'), a file name or a path of a teacher's lesson.
    ``submission_path``: the student's ``.py`` or ``.ipynb`` (it may not exist: ``missing``).
    Returns {k: (points, max_points, status, message)} for every exercise k of the lesson.
    ``lang``: the language of the messages, the lesson's checks and the grader's own words
    ('en', 'zh'); by default the copy's own ('# LANGUAGE: zh' in a Chinese copy, read by
    ``i18n.copy_language``), else English; ``lang_if_missing`` when nothing was handed in.
    Runs in the sandbox unless ``sandboxed=False``; raises ``SandboxUnavailable`` (naming what is
    missing) where none can start."""
    for chosen in (lang, lang_if_missing):
        if chosen is not None and chosen not in i18n.LANGUAGES:
            raise ValueError(f"grade_file: lang {chosen!r}: the course is written in {', '.join(i18n.LANGUAGES)}")
    lesson_path = markers.find_lesson(str(lesson))
    teacher_text = lesson_path.read_text(encoding="utf-8")
    exercises = markers.parse_lesson(teacher_text, lesson_path.name)
    timeout = timeout or (QUICK_TIMEOUT if quick else FULL_TIMEOUT)
    details = _details if _details is not None else {}
    details.update(runs=0, seconds=0.0, outside=[], lang=lang or lang_if_missing)
    verdicts = {}
    path = pathlib.Path(submission_path) if submission_path else None
    if path is None or not path.is_file():
        for ex in exercises:
            verdicts[ex.number] = Verdict("missing", say("no {name} or {stem}.ipynb was handed in", details["lang"],
                                                         name=lesson_path.name, stem=lesson_path.stem))
        return _table(exercises, verdicts, lesson_path, details["lang"])
    text, unreadable = None, None
    try:
        text = submissions.read_submission(path)
        blocks = submissions.submission_blocks(text, path.name)
    except (markers.ExerciseError, ValueError, OSError) as e:
        unreadable = e
    # the copy's own line, never the grader's environment: a copy speaks for itself alone
    lang = details["lang"] = lang or i18n.copy_language(text)
    if unreadable is not None:
        for ex in exercises:
            verdicts[ex.number] = Verdict("error", say("the file could not be read: {error}", lang, error=unreadable))
        return _table(exercises, verdicts, lesson_path, lang)
    details["outside"] = submissions.outside_edits(teacher_text, text, lesson_path.name, lang=lang)
    runner = runner or default_runner(sandboxed, limits)

    student_code, student_lines = {}, {}
    for ex in exercises:
        k = ex.number
        if k not in blocks:
            verdicts[k] = Verdict("error", say("no '# BEGIN EXERCISE {k}' / '# END EXERCISE {k}' markers: "
                                               "the grader cannot find your code", lang, k=k))
            continue
        code, line = blocks[k]
        if submissions.placeholder_left(code, lesson_path.name, k) or submissions.only_comments(code):
            verdicts[k] = Verdict("not_attempted", say("the placeholder is still there: nothing was written", lang))
            continue
        source, ranges = splice(teacher_text, exercises, {k: code})
        first, last = ranges[k]
        try:
            tree = parse(source, lesson_path.name, check=True)
        except SyntaxError as e:
            inside = e.lineno is not None and first <= e.lineno <= last
            at = (say(" (line {n} of your file)", lang, n=line + e.lineno - first + 1) if inside
                  else say(" (after your block: is it complete?)", lang))
            verdicts[k] = Verdict("error", say("syntax error: {what}{at}", lang, what=_python_words(e.msg, lang), at=at))
            continue
        nodes = block_nodes(tree, first, last)
        problem = policy.violation(nodes, *policy.block_protection(teacher_text, ex))
        quote = lambda at: _quote(at, first, line, text, lang)     # noqa: E731 - one line, here only
        if problem:
            verdicts[k] = Verdict("disqualified", say("your block {what} ({where})", lang,
                                                      what=reword(problem[0], lang), where=quote(problem[1])))
            continue
        used = policy.off_limits_used(nodes, ex.off_limits)
        if used:
            verdicts[k] = Verdict("failed", say("your block uses {name}, which this exercise asks you to write by "
                                                "hand (off limits here: {names}; {where})", lang, name=used[0],
                                                names=", ".join(ex.off_limits), where=quote(used[1])))
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
        found = judge(result, pending, exercises, source, ranges, student_lines, text, lang)
        for k in list(pending):
            if found[k] is not None and found[k].status == "passed":
                verdicts[k] = found[k]
                passed_code[k] = student_code[k]
                pending.discard(k)
        if len(pending) == 1:
            (k,) = pending
            verdicts[k] = found[k] or _crash_verdict(result, k, lang)
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
            verdicts[k] = (judge(result, {k}, exercises, source, ranges, student_lines, text, lang)[k]
                           or _crash_verdict(result, k, lang))
        break
    return _table(exercises, verdicts, lesson_path, lang)


def _quote(line, first, student_line, text, lang="en"):
    from .verdicts import quote_line
    return quote_line(line, first, student_line, text, lang)


def _python_words(message, lang):
    """Python's own syntax-error message, in ``lang`` with Python's words after it (what a
    student can search for); the words alone where the catalogue has no entry."""
    words = reword(message, lang, "python")
    return message if words == message else f"{words} ({message})"


def exercise_texts(lesson_path, exercise, lang):
    """(title, hints) of ``exercise`` as a copy in ``lang`` shows them (the lesson's catalogue)."""
    if lang == "en":
        return exercise.title, list(exercise.hints)
    cat = i18n.catalogue(lesson_path.stem, lang, lesson_path.parent)
    return cat.exercise(exercise.title) or exercise.title, [cat.exercise(h) or h for h in exercise.hints]


def _table(exercises, verdicts, lesson_path=None, lang="en"):
    """{k: (points, max_points, status, message)}; a message that is not a pass names the
    exercise and ends with its hints, in ``lang``."""
    table = {}
    for ex in exercises:
        v = verdicts[ex.number]
        message = v.message
        if v.status != "passed":
            title, hints = exercise_texts(lesson_path, ex, lang) if lesson_path else (ex.title, ex.hints)
            message = say("exercise {k} ({title}): {message}", lang, k=ex.number, title=title, message=message)
            if v.status in ("failed", "error", "timeout", "not_attempted"):
                message += "\n" + say("hints:", lang) + "\n" + "".join(f"- {h}\n" for h in hints)
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
    results, details, elapsed, languages = graded
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
                "runs": runs, "languages": languages}
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
        (out_dir / "feedback" / f"{student}.md").write_text(
            _feedback(student, graded_lessons, warning, languages[student]), encoding="utf-8")
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


def student_language(folder, lesson_paths):
    """The language of a student's feedback: the one most of their copies say they speak
    (``i18n.copy_language``; English when none was handed in)."""
    said = []
    for lesson_path in lesson_paths:
        path = submissions.find_submission(folder, lesson_path)
        if path is not None:
            try:
                said.append(i18n.copy_language(submissions.read_submission(path)))
            except (ValueError, OSError):
                pass
    return collections.Counter(said).most_common(1)[0][0] if said else "en"


def _grade_all(run, submissions_dir, students, lesson_paths, timeout, jobs, quick, lang=None):
    """Grade every (student, lesson). Returns (results, details, seconds, languages):
    ``languages[student]``, ``lang`` when the teacher chose one, else the language of the
    student's copies, is their feedback's (a lesson not handed in is reported in it)."""
    languages = {s: lang or student_language(submissions_dir / s, lesson_paths) for s in students}

    def one(job):
        student, lesson_path = job
        details = {}
        table = grade_file(lesson_path, submissions.find_submission(submissions_dir / student, lesson_path),
                           timeout=timeout, quick=quick, runner=run, lang=lang,
                           lang_if_missing=languages[student], _details=details)
        return student, lesson_path, table, details

    results = {s: {} for s in students}
    details = {s: {} for s in students}
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for student, lesson_path, table, detail in pool.map(one, [(s, p) for s in students for p in lesson_paths]):
            results[student][lesson_path.name] = table
            details[student][lesson_path.name] = detail
    return results, details, time.perf_counter() - start, languages


def _feedback(student, graded, warning=None, lang="en"):
    """A student's feedback file: its headings in the student's language ``lang``, each
    lesson's part in the language of that lesson's copy."""
    out = [say("# Feedback for {student}", lang, student=student) + "\n"]
    if warning:
        out.append(f"**{warning}.**\n")
        if lang != "en":
            out.append(f"**{say(runners.UNSANDBOXED, lang)}。**\n")
    for lesson_path, table, details in graded:
        here = details.get("lang", lang)
        exercises = {ex.number: ex for ex in markers.parse_lesson(lesson_path.read_text(encoding="utf-8"),
                                                                  lesson_path.name)}
        got, total = sum(v[0] for v in table.values()), sum(v[1] for v in table.values())
        out.append(say("## {lesson}: {got} / {total} points", here, lesson=lesson_path.name, got=got, total=total)
                   + "\n")
        for k, (points, max_points, status, message) in table.items():
            title = exercise_texts(lesson_path, exercises[k], here)[0]
            out.append(say("### Exercise {k}: {title} — {status}, {points} / {max_points}", here, k=k, title=title,
                           status=say(status, here, "status"), points=points, max_points=max_points) + "\n")
            if status != "passed":
                out.append(textwrap.indent(message.strip(), "    ") + "\n")
        if details.get("outside"):
            out.append(say("Edits outside the exercise blocks are ignored (the teacher's lesson runs instead):", here)
                       + "\n" + "".join(f"- {e}\n" for e in details["outside"]))
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
