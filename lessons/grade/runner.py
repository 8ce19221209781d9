"""One run of a spliced lesson: staged in a fresh folder, started in the sandbox (or not, with
``--no-sandbox``), timed, and read back from the results channel."""
import dataclasses
import itertools
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from .. import course_files
from . import sandbox

HARNESS_PACKAGE = "minigrad_grade"
HERE = pathlib.Path(__file__).resolve().parent
BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); "
        f"from {HARNESS_PACKAGE} import harness; harness.main(sys.argv[2])")
UNSANDBOXED = ("GRADED WITHOUT A SANDBOX (--no-sandbox): the students' code ran with the grader's "
               "own rights, and a student could have forged a verdict or harmed this machine")
_counter = itertools.count()


@dataclasses.dataclass
class RunResult:
    events: list
    outcome: str    # completed, exception, exit, tampered, policy, offlimits, timeout, vanished
    message: str = ""
    lines: list = dataclasses.field(default_factory=list)     # lesson lines, outermost first
    seconds: float = 0.0


def _stage_harness(folder):
    package = folder / HARNESS_PACKAGE
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""The grader\'s harness, staged for one run."""\n', encoding="utf-8")
    for name in ("harness.py", "guard.py"):
        shutil.copy(HERE / name, package / name)


class Runner:
    """How runs start: in the sandbox (the default), or without one. ``prepare`` makes a
    trial run first, so that a sandbox that cannot start refuses before any student is
    graded, with the fix in its message."""

    def __init__(self, sandboxed=True, limits=None):
        self.sandboxed = sandboxed
        self.limits = limits or sandbox.Limits()
        self.bwrap = None
        self.cgroup_root = None
        self.cache = pathlib.Path(tempfile.mkdtemp(prefix="minigrad-grade-cache-"))
        self.ready = False
        self._lock = threading.Lock()

    def prepare(self):
        """Find the parts, make the trial run; raise SandboxUnavailable with the reason."""
        with self._lock:
            if self.ready:
                return self
            if self.sandboxed:
                self.bwrap = sandbox.bwrap_path()
                sandbox.check_limits_can_hold()
                if sandbox.is_root():
                    self.cgroup_root = sandbox.pids_cgroup_root()
            (self.cache / "mpl").mkdir(exist_ok=True)
            result = self.run(None, "trial.py", 120, True, trial=True)
            ready = [e for e in result.events if e.get("kind") == "ready"]
            if not ready:
                why = result.message if self.sandboxed else "the trial run failed"
                if self.sandboxed and result.outcome == "vanished":
                    raise sandbox.SandboxUnavailable(sandbox.describe_failure(result.message))
                raise sandbox.SandboxUnavailable(f"the trial run did not start: {why}")
            self.trial = ready[0]
            self.ready = True
            return self

    def close(self):
        shutil.rmtree(self.cache, ignore_errors=True)

    # ------------------------------------------------------------------ one run
    def run(self, source, lesson_name, timeout, quick=True, blocks=(), trial=False, lang="en"):
        """Run ``source`` (a spliced lesson) with ``blocks`` [(first, last, off_limits)] of the
        student's lines guarded. Returns a RunResult."""
        if not trial and not self.ready:
            self.prepare()
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="minigrad-grade-") as tmp:
            stage = pathlib.Path(tmp)
            (stage / "src").mkdir()
            course_files.stage_package(stage / "src")
            _stage_harness(stage / "bin")
            if source is not None:
                (stage / "src" / lesson_name).write_text(source, encoding="utf-8")
            if trial:
                (stage / "mpl-writable").touch()
            shutil.copytree(self.cache / "mpl", stage / "mpl")
            if self.sandboxed:
                paths = {"src": sandbox.SRC, "bin": sandbox.BIN, "run": sandbox.RUN, "mpl": sandbox.MPL,
                         "site": [sandbox.SITE]}
            else:
                run_folder = stage / "run"
                run_folder.mkdir()
                site = stage / "site"
                site.mkdir()
                for host, name in sandbox.site_binds():
                    os.symlink(host, site / name)
                paths = {"src": str(stage / "src"), "bin": str(stage / "bin"), "run": str(run_folder),
                         "mpl": str(stage / "mpl"), "site": [str(site)]}
            events_path, dump_path, log_path = stage / "events.jsonl", stage / "dump.txt", stage / "output.txt"
            events_fd = os.open(events_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            dump_fd = os.open(dump_path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
            lesson = f"{paths['src']}/{lesson_name}"
            config = {"events_fd": events_fd, "dump_fd": dump_fd, "lesson": lesson, "quick": quick,
                      "timeout": timeout, "blocks": [list(b) for b in blocks], "trial": trial,
                      "limits": self.limits.rlimits(timeout) if self.sandboxed else {},
                      "run": paths["run"], "src": paths["src"], "site": paths["site"],
                      "mpl_cache": paths["mpl"], "package": course_files.PACKAGE,
                      "aliases": [p.stem for p in course_files.support_files()]}
            (stage / "src" / "_grade_config.json").write_text(json.dumps(config), encoding="utf-8")
            env = {"PATH": "/usr/bin:/bin", "HOME": paths["run"], "TMPDIR": f"{paths['run']}/tmp",
                   "LANG": "C.UTF-8", "MPLBACKEND": "Agg", "MPLCONFIGDIR": f"{paths['run']}/mpl",
                   "MINIGRAD_LESSONS_OUT": f"{paths['run']}/out", "MINIGRAD_QUICK": "1" if quick else "0",
                   "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                   "MINIGRAD_LANG": lang}        # the copy's language: its check messages in it
            if trial:
                env["MPLCONFIGDIR"] = paths["mpl"]
            python = [os.path.realpath(sys.executable), "-I", "-S", "-B", "-X", "faulthandler", "-c", BOOT,
                      paths["bin"], f"{paths['src']}/_grade_config.json"]
            cgroup = None
            if self.sandboxed:
                args = sandbox.command(self.bwrap, stage, self.limits, env) + python
                if self.cgroup_root is not None:
                    cgroup = sandbox.PidsCgroup(self.cgroup_root, f"minigrad-grade-{os.getpid()}-{next(_counter)}",
                                                self.limits.processes)
                    # the shell joins the cgroup before bwrap starts: every process of the run is in it
                    args = ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(cgroup.path)] + args
                popen_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
            else:
                args, popen_env = python, env
            try:
                with open(log_path, "w", encoding="utf-8") as out:
                    proc = subprocess.Popen(args, cwd=paths["run"] if not self.sandboxed else tmp, env=popen_env,
                                            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                            pass_fds=(events_fd, dump_fd), start_new_session=True)
                    try:
                        proc.wait(timeout=timeout + 15)
                        killed = False
                    except subprocess.TimeoutExpired:
                        killed = True
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)   # whatever the run left in its group
                    except (ProcessLookupError, PermissionError):
                        pass
                    proc.wait()
            finally:
                os.close(events_fd)
                os.close(dump_fd)
                if cgroup is not None:
                    cgroup.kill_all()
            seconds = time.perf_counter() - start
            return _result(events_path, dump_path, log_path, lesson, proc.returncode, killed, timeout, seconds)


def _result(events_path, dump_path, log_path, lesson, returncode, killed, timeout, seconds):
    events = []
    for line in events_path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and "kind" in event:
            events.append(event)
    last = events[-1] if events else {}
    if last.get("kind") in ("completed", "exception", "exit", "tampered", "policy", "offlimits", "ready"):
        return RunResult(events, last["kind"], last.get("message", last.get("what", "")),
                         last.get("lines", []), seconds)
    dumped = dump_path.read_text(encoding="utf-8", errors="replace")
    if killed or "Timeout" in dumped:
        # faulthandler lists the innermost frame first: turn it round, outermost first
        lines = [int(n) for n in re.findall(rf'File "{re.escape(lesson)}", line (\d+)', dumped)][::-1]
        return RunResult(events, "timeout", f"still running after {timeout:g} s", lines, seconds)
    with open(log_path, "rb") as f:
        f.seek(max(0, log_path.stat().st_size - 2000))
        tail = f.read().decode("utf-8", errors="replace").strip()
    return RunResult(events, "vanished", f"the process ended without finishing (exit status {returncode})"
                     + (f"; {tail.splitlines()[-1]}" if tail and returncode not in (0, 3) else ""), [], seconds)
