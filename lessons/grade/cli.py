"""The command line: ``python -m minigrad_lessons.grade SUBMISSIONS --out DIR`` (also ``minigrad-grade``)."""
import argparse
import pathlib
import sys

from .. import markers, report
from . import grading, sandbox


def parser():
    p = argparse.ArgumentParser(prog="python -m minigrad_lessons.grade",
                                description="Grade a class: every student's blocks, spliced into the "
                                            "teacher's lessons, run in a sandbox.")
    p.add_argument("submissions", help="a folder with one sub-folder per student")
    p.add_argument("--out", required=True, help="where gradebook.csv and feedback/ go")
    p.add_argument("--lessons", help="comma-separated lesson numbers (default: every lesson handed in)")
    p.add_argument("--timeout", type=float, help="seconds per run (default 60 in quick mode, 600 with --full)")
    p.add_argument("--jobs", type=int, default=1, help="runs at a time (default 1)")
    p.add_argument("--lang", choices=("en", "zh"),
                   help="the feedback's language for every student: the lessons' check messages and the "
                        "grader's own words (default: each copy's own '# LANGUAGE:' line, else English)")
    p.add_argument("--full", action="store_true", help="the lessons' full runs, not --quick")
    p.add_argument("--lms", choices=report.LMS_SHAPES,
                   help="also write DIR/canvas.csv or DIR/moodle.csv, the shape that LMS imports")
    d = sandbox.Limits()
    p.add_argument("--memory-mb", type=int, default=d.memory_mb, help=f"address space per process (default {d.memory_mb})")
    p.add_argument("--cpu-seconds", type=int, default=d.cpu_seconds,
                   help="CPU seconds per run (default: the time limit plus 10)")
    p.add_argument("--processes", type=int, default=d.processes,
                   help=f"processes and threads per run (default {d.processes})")
    p.add_argument("--open-files", type=int, default=d.open_files, help=f"open files per process (default {d.open_files})")
    p.add_argument("--disk-mb", type=int, default=d.disk_mb,
                   help=f"size of the run's writable folder, and of any one file (default {d.disk_mb})")
    p.add_argument("--no-sandbox", action="store_true",
                   help="run the students' code without the sandbox (only code you would run yourself); "
                        "every file written then says so")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    if not pathlib.Path(args.submissions).is_dir():
        print(f"grade: {args.submissions} is not a folder", file=sys.stderr)
        return 2
    lessons = [n.strip() for n in args.lessons.split(",") if n.strip()] if args.lessons else None
    limits = sandbox.Limits(memory_mb=args.memory_mb, cpu_seconds=args.cpu_seconds, processes=args.processes,
                            open_files=args.open_files, disk_mb=args.disk_mb)
    try:
        grading.grade_folder(args.submissions, args.out, lessons, args.timeout, args.jobs, quick=not args.full,
                             sandboxed=not args.no_sandbox, limits=limits, lms=args.lms, lang=args.lang)
    except sandbox.SandboxUnavailable as e:
        print(f"grade: refusing to grade: {e}", file=sys.stderr)
        return 3
    except (FileNotFoundError, markers.ExerciseError) as e:
        print(f"grade: {e}", file=sys.stderr)
        return 1
    return 0
