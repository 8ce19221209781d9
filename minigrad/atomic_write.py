"""Writing a file atomically: a crash mid-write never leaves a half-written file.

``atomic_write(path, write)`` writes through a temporary file in the same folder, named after
the target (``.m.npz.tmp-<random>``), flushes it to disk and renames it over the target in one
step. A save killed mid-write leaves its temporary file behind; the next save of the same
target removes it, and only it: a running save holds an OS lock (``fcntl``) on its temporary
file until the rename, so a file whose lock can be taken belongs to no one. Without ``fcntl``
(Windows) the write is still atomic, and nothing stale is removed.
"""
import contextlib
import errno
import os
import uuid

try:                                     # POSIX: the writer's lock on its temporary file
    import fcntl
except ImportError:                      # Windows: no cleanup of stale temporary files
    fcntl = None


def _lock(fp):
    """Take the writer's lock on its temporary file (blocking: a cleaner holds it only for the
    moment it takes to delete a stale file)."""
    if fcntl is not None:
        fcntl.flock(fp.fileno(), fcntl.LOCK_EX)


def _temporary_prefix(base):
    # Named after the target (cut to stay within the 255 bytes a file name may have).
    return f".{base[:200]}.tmp-"


def _new_temporary(folder, base):
    """Create and lock a temporary file named after the target: ``.m.npz.tmp-<random>``."""
    while True:
        tmp = os.path.join(folder, _temporary_prefix(base) + uuid.uuid4().hex[:16])
        # A fresh name opened exclusively: unlike mkstemp's (always 0600), the file gets the
        # usual permissions, so a checkpoint is as readable as any other file the user writes.
        fp = open(tmp, "xb")
        _lock(fp)
        try:
            # Between open and lock, another save's cleanup may have taken the lock and
            # deleted the file as stale; then start again under a new name.
            if os.stat(tmp).st_ino == os.fstat(fp.fileno()).st_ino:
                return tmp, fp
        except FileNotFoundError:
            pass
        fp.close()


def _remove_stale_temporaries(folder, base):
    """Delete the temporary files of earlier saves of this target that were killed mid-write.

    A running save holds an OS lock on its temporary file until it has renamed it, so a
    temporary file whose lock can be taken belongs to no one. (Age cannot tell: a file left a
    moment ago by ``kill -9`` looks like a running save.) Without fcntl (Windows) nothing is
    removed.
    """
    if fcntl is None:
        return
    prefix = _temporary_prefix(base)
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(prefix)]
    except OSError:
        return
    for entry in entries:
        try:
            fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.stat(entry.path).st_ino == os.fstat(fd).st_ino:
                os.unlink(entry.path)
        except OSError:          # locked by a save still running, or already gone
            pass
        finally:
            os.close(fd)


def atomic_write(path, write):
    """Run ``write(fp)`` on a new temporary file beside ``path``, then put it in ``path``'s place
    in one step (``os.replace``), and clean up what killed saves of ``path`` left."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(errno.ENOENT, f"mg.save: cannot write {path}: folder {folder} "
                                "does not exist", folder)
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, f"mg.save: {path} is a folder; give a file name "
                                "such as model.npz", path)
    tmp, fp = _new_temporary(folder, os.path.basename(path))
    try:
        with fp:
            write(fp)
            fp.flush()
            os.fsync(fp.fileno())
            if fcntl is not None:
                os.replace(tmp, path)    # still locked: no cleanup can take it for stale
        if fcntl is None:
            os.replace(tmp, path)        # Windows renames only a closed file
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
    _remove_stale_temporaries(folder, os.path.basename(path))


__all__ = ["atomic_write"]
