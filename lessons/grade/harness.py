"""Runs one spliced lesson inside the sandbox and reports what happened.

Started by ``runner`` as ``python -I -S -B -c BOOT CONFIG`` with this module staged beside
``guard`` in a package of its own (``minigrad_grade``). It sets the run's limits on itself
before anything else runs, puts the staged course package and the bound libraries on the
path, rewrites the student's blocks to call the guards, and runs the lesson as ``__main__``.

The results channel is a file descriptor the grader opened on a file outside the sandbox: no
path in the sandbox leads to it, no secret is needed, and a block (which may not import
``os`` nor name anything beginning with ``_``) has no handle on it.

Standard library only until the lesson imports what it imports.
"""
import ast
import faulthandler
import importlib
import importlib.abc
import importlib.util
import json
import os
import resource
import shutil
import sys
import types

from . import guard

LIMITS = {"memory": resource.RLIMIT_AS, "cpu": resource.RLIMIT_CPU, "processes": resource.RLIMIT_NPROC,
          "open_files": resource.RLIMIT_NOFILE, "disk": resource.RLIMIT_FSIZE}


def set_limits(limits):
    """Soft and hard limits on this process and all it starts; none can be raised again
    (the sandbox drops every capability)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for name, value in limits.items():
        if value:
            resource.setrlimit(LIMITS[name], (int(value), int(value)))


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``import common`` and ``import _helper`` give the modules of the staged course package
    (``minigrad_lessons.common``): one module object, whichever name a lesson uses."""

    def __init__(self, package, names):
        self.package, self.names = package, set(names)

    def find_spec(self, name, path=None, target=None):
        if name not in self.names:
            return None
        return importlib.util.spec_from_loader(name, self)

    def create_module(self, spec):
        return importlib.import_module(f"{self.package}.{spec.name}")

    def exec_module(self, module):
        sys.modules[module.__spec__.name.rpartition(".")[2]] = module


class Reporter:
    """Writes events, one JSON object a line, to the results channel."""

    def __init__(self, fd):
        self.fd = fd

    def emit(self, kind, **data):
        line = (json.dumps(dict(data, kind=kind)) + "\n").encode("utf-8", "replace")
        while line:
            line = line[os.write(self.fd, line):]

    def fatal(self, kind, **data):
        """Report and end the process on the spot: nothing the block wrote can catch it."""
        self.emit(kind, **data)
        os._exit(3)


def _frames(tb, lesson):
    lines = []
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == lesson:
            lines.append(tb.tb_lineno)
        tb = tb.tb_next
    return lines


class Watch:
    """The checking machinery and the library, as they were when the first block started:
    anything replaced since is tampering (the policy should have refused it first)."""

    def __init__(self, common, record):
        self.common, self.record, self.originals = common, record, {}

    def snapshot(self):
        mods = [self.common, sys.modules["numpy"]] + [
            m for n, m in list(sys.modules.items())
            if isinstance(m, types.ModuleType) and (n == "minigrad" or n.startswith("minigrad."))]
        for mod in mods:
            for name, value in list(vars(mod).items()):
                if name.startswith("__"):
                    continue
                if callable(value):
                    self.originals[(mod.__name__, name)] = (mod, name, value)
                if isinstance(value, type) and str(getattr(value, "__module__", "")).startswith(("minigrad", "common")):
                    for attr, member in list(vars(value).items()):
                        if not attr.startswith("__") or attr in ("__call__", "__init__", "__getattr__"):
                            self.originals[(value.__module__ + "." + value.__qualname__, attr)] = (value, attr, member)

    def intact(self):
        for (owner_name, name), (owner, attr, value) in self.originals.items():
            now = vars(owner).get(attr, None) if isinstance(owner, type) else getattr(owner, attr, None)
            if now is not value:
                return f"{owner_name}.{name} was replaced"
        if self.common._recorder is not self.record:
            return "the harness's recorder was replaced"
        return None


def prepare(config):
    """The run folder's layout, the path, the course package's aliases."""
    run = config["run"]
    for sub in ("out", "tmp", "mpl"):
        os.makedirs(os.path.join(run, sub), exist_ok=True)
    cache = config.get("mpl_cache")
    if cache and os.path.isdir(cache) and not config.get("trial"):
        for name in os.listdir(cache):
            if name.endswith(".json"):
                shutil.copy(os.path.join(cache, name), os.path.join(run, "mpl", name))
    sys.path[:0] = [config["src"]] + config["site"]
    sys.meta_path.insert(0, _Alias(config["package"], config["aliases"]))
    sys.stdin = open(os.devnull)


def trial(config, reporter):
    """Import what lessons import (and build matplotlib's font cache once, for every run)."""
    import numpy
    import minigrad
    versions = {"numpy": numpy.__version__, "minigrad": getattr(minigrad, "__version__", "?")}
    try:
        import matplotlib
        matplotlib.use("Agg")
        from matplotlib import font_manager     # builds the font cache, once for every run
        versions["matplotlib"] = matplotlib.__version__
        versions["fonts"] = len(font_manager.fontManager.ttflist)
    except ImportError:
        pass
    reporter.emit("ready", versions=versions, uid=os.getuid())


def run_lesson(config, reporter):
    """Run the spliced lesson with the student's blocks guarded; report every check."""
    lesson, ranges = config["lesson"], [tuple(r) for r in config["blocks"]]
    common = importlib.import_module(f"{config['package']}.common")
    sys.modules["common"] = common
    checker = guard.Guard(lambda kind, line, what: reporter.fatal(kind, lines=[line], message=what),
                          [(first, last, names) for first, last, names in config["blocks"]])
    entered = set()

    def record(exercise, passed, message):
        problem = watch.intact()
        if problem:
            reporter.fatal("tampered", what=problem)
        reporter.emit("check", exercise=exercise, passed=bool(passed), message=str(message)[:2000])

    watch = Watch(common, record)

    def enter(k):
        if k in entered:
            return
        if not watch.originals:
            watch.snapshot()
            modules = {n: m for n, m in list(sys.modules.items()) if isinstance(m, types.ModuleType)}
            checker.resolve(namespace, modules)
            checker.refuse_functions(modules)
        problem = watch.intact()
        if problem:
            reporter.fatal("tampered", what=problem)
        entered.add(k)
        reporter.emit("enter", exercise=k)

    common._recorder = record
    sys.argv = [lesson] + (["--quick"] if config["quick"] else [])
    with open(lesson, encoding="utf-8") as f:
        tree = ast.parse(f.read(), lesson)
    code = compile(guard.transform(tree, [(first, last) for first, last, _ in ranges]), lesson, "exec")
    namespace = {"__name__": "__main__", "__file__": lesson, "__builtins__": __builtins__,
                 "_grade_enter": enter, **checker.names()}
    try:
        exec(code, namespace)
    except SystemExit as e:
        reporter.emit("exit", lines=_frames(e.__traceback__, lesson), message=f"SystemExit({e.code!r})")
    except guard.Breach:                        # reported already; only without a reporter
        pass
    except BaseException as e:                  # noqa: B036 - whatever the lesson raised is its verdict
        reporter.emit("exception", lines=_frames(e.__traceback__, lesson),
                      message=f"{type(e).__name__}: {str(e)[:1500]}")
    else:
        problem = watch.intact() if watch.originals else None
        if problem:
            reporter.emit("tampered", what=problem)
        else:
            reporter.emit("completed")


def main(config_path):
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    set_limits(config["limits"])
    reporter = Reporter(config["events_fd"])
    dump = os.fdopen(config["dump_fd"], "w")
    faulthandler.dump_traceback_later(config["timeout"], exit=True, file=dump)
    prepare(config)
    if config.get("trial"):
        trial(config, reporter)
    else:
        run_lesson(config, reporter)
    sys.stdout.flush()
    os._exit(0)
