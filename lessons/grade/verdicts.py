"""Verdicts: what one run says about each of the student's blocks."""
import dataclasses

from ..i18n import reword, say
from .splice import check_statements, parse

STATUSES = ("passed", "failed", "error", "timeout", "not_attempted", "missing", "disqualified")


@dataclasses.dataclass
class Verdict:
    status: str
    message: str = ""
    certain: bool = True        # False: another failing block may have caused it


def quote_line(line, first, student_line, student_text, lang="en"):
    """'line N of your file: `code`' for line ``line`` of a spliced lesson whose block starts
    at ``first`` and stands at ``student_line`` (its BEGIN marker) in the student's file."""
    if not student_line or line is None:
        return say("line {n}", lang, n=line)
    number = student_line + line - first + 1
    text = ""
    if student_text is not None:
        lines = student_text.splitlines()
        if 0 < number <= len(lines):
            text = lines[number - 1].strip()[:200]
    return say("line {n} of your file", lang, n=number) + (f": `{text}`" if text else "")


def _block_of(line, ranges):
    for k, (first, last) in ranges.items():
        if first - 1 <= line <= last:       # first - 1: the probe on the BEGIN marker's line
            return k
    return None


def _top_statement(tree, line):
    """Index of the top-level statement of ``tree`` that holds ``line``."""
    for index, statement in enumerate(tree.body):
        if statement.lineno <= line <= statement.end_lineno:
            return index
    return None


# What a run that stopped in the student's own block says of it: its outcome -> the verdict and
# its message (a template of lessons/zh/grader.po: {what} the reason, {where} the quoted line).
_BLAMED = {
    "exit": ("disqualified", "your block ended the process ({what}, {where})"),
    "policy": ("disqualified", "your block {what} ({where})"),
    "offlimits": ("failed", "your block {what}, which this exercise asks you to write by hand ({where})"),
    "tampered": ("disqualified", "tampering detected while your block ran: {what}"),
    "timeout": ("timeout", "{what}, in your block ({where} or code it called)"),
    "exception": ("error", "your block raised {what} ({where})"),
}


def judge(run, dirty, exercises, spliced_source, ranges, student_lines, student_text=None, lang="en"):
    """Verdicts from one run for each exercise in ``dirty`` (the blocks with the student's
    code that have not passed yet), their messages in ``lang``; None where this run cannot tell."""
    tree = parse(spliced_source)
    checks_at = check_statements(tree, exercises)
    verdicts, entered = {}, []
    checks = {k: [] for k in dirty}
    for event in run.events:
        if event["kind"] == "enter":
            entered.append(event["exercise"])
        elif event["kind"] == "check" and event["exercise"] in checks:
            checks[event["exercise"]].append((event, list(entered)))

    def where(line, k):
        return quote_line(line, ranges[k][0], student_lines.get(k), student_text, lang)

    blamed, blamed_line = None, None
    for line in reversed(run.lines):            # innermost first: the block whose code ran last
        blamed = _block_of(line, ranges)
        if blamed is not None:
            blamed_line = line
            break
    if run.outcome in ("tampered", "vanished") or (run.outcome in ("policy", "offlimits") and blamed is None):
        blamed = entered[-1] if entered else None
    stopped_at = _top_statement(tree, run.lines[0]) if run.lines else None

    def complete(k):        # every check of k had its turn before the run stopped
        return run.outcome == "completed" or (
            stopped_at is not None and checks_at[k] and max(checks_at[k]) < stopped_at)

    passes = {k for k in dirty if checks[k] and all(e["passed"] for e, _ in checks[k]) and complete(k)}
    suspects = set(dirty) - passes      # blocks that may have misled the others' checks

    def alone(k, before):   # no other suspect block ran before this verdict
        return not (set(before) & suspects) - {k}

    for k in dirty:
        mine = checks[k]
        failed = [(e, before) for e, before in mine if not e["passed"]]
        if failed:
            event, before = failed[0]
            # the check's message only: what the lesson printed before it (its learning goals,
            # the teacher's values) is not the student's to read in the feedback
            message = say("check failed: {message}", lang, message=event["message"])
            verdicts[k] = Verdict("failed", message, certain=alone(k, before))
            continue
        if blamed == k and run.outcome in _BLAMED:
            status, template = _BLAMED[run.outcome]
            message = say(template, lang, what=_words(run, lang), where=where(blamed_line, k))
            # an exception may come from another block's wrong value; the others are the block's own
            certain = alone(k, entered) if run.outcome == "exception" else True
            verdicts[k] = Verdict(status, message, certain=certain)
            continue
        if k in passes:
            verdicts[k] = Verdict("passed", say("all {n} checks passed", lang, n=len(mine)))
        elif run.outcome == "completed" and not mine:
            verdicts[k] = Verdict("error", say("none of this exercise's checks ran, so it cannot pass", lang),
                                  certain=alone(k, entered))
        else:
            verdicts[k] = None
    ran = [e for e in dict.fromkeys(entered) if e in dirty]
    if run.outcome != "completed" and blamed is None and len(ran) == 1 and verdicts[ran[0]] is None:
        # the lesson stopped in the teacher's code, and only one failing block had run
        verdicts[ran[0]] = _crash_verdict(run, ran[0], lang)
    return verdicts


def _words(run, lang, message=None):
    """The run's ``message`` (default: all of it) in ``lang``: the reasons the guard, the harness
    and the runner give are the grader's words; what the block raised or exited with is
    Python's (and the student's), left as it is."""
    message = run.message if message is None else message
    return message if run.outcome in ("exception", "exit") else reword(message, lang)


def _crash_verdict(run, k, lang="en"):
    """Exercise k is the only block with the student's code and the run did not finish."""
    what = _words(run, lang)
    if run.outcome == "timeout":
        return Verdict("timeout", say("{what} (the lesson did not finish with your block in it)", lang, what=what))
    if run.outcome == "tampered":
        return Verdict("disqualified", say("tampering detected with your block in the lesson: {what}", lang,
                                           what=what))
    if run.outcome == "policy":
        return Verdict("disqualified", say("your block {what}", lang, what=what))
    if run.outcome == "offlimits":
        return Verdict("failed", say("your block {what}, which this exercise asks you to write by hand", lang,
                                     what=what))
    if run.outcome == "vanished" and "exit status 0)" in run.message:
        return Verdict("disqualified", say("the lesson ended early with exit status 0 with your block in "
                                           "it (os._exit?)", lang))
    if run.outcome == "completed":
        return Verdict("error", say("none of this exercise's checks ran, so it cannot pass", lang))
    return Verdict("error", say("the lesson crashed after your block ran, in the teacher's code: {what}", lang,
                                what=_words(run, lang, run.message.split(";")[0])))
