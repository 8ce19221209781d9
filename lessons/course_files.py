"""The course's support files, copied in one place: ``common.py``, the helper modules
``_name.py`` that lessons import, and ``i18n.py`` with its catalogues (``zh/*.po``), which
common reads for the Chinese edition; never a numbered lesson (with its solutions) and never
the tools (exercises, grader)."""
import pathlib
import shutil

HERE = pathlib.Path(__file__).resolve().parent
PACKAGE = "minigrad_lessons"        # the name the course installs under


def support_files(directory=HERE):
    """``common.py``, the shared helper modules (``_name.py``) and ``i18n.py`` of the course,
    in order; the catalogues that i18n reads are ``catalogue_files``."""
    directory = pathlib.Path(directory)
    return [directory / "common.py"] + sorted(directory.glob("_[a-z]*.py")) + [directory / "i18n.py"]


def catalogue_files(directory=HERE):
    """The translations (``zh/*.po``: lessons/i18n.py), as paths relative to ``directory``."""
    directory = pathlib.Path(directory)
    return sorted(path.relative_to(directory) for path in directory.glob("[a-z][a-z]/*.po"))


def copy_support(folder, directory=HERE):
    """Copy the support files into ``folder`` (made if missing), flat: ``import common``
    works beside them. Returns the copied paths."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    copied = [pathlib.Path(shutil.copy(path, folder / path.name)) for path in support_files(directory)]
    for relative in catalogue_files(directory):
        (folder / relative).parent.mkdir(exist_ok=True)
        copied.append(pathlib.Path(shutil.copy(pathlib.Path(directory) / relative, folder / relative)))
    return copied


def stage_package(folder, directory=HERE):
    """Write ``folder/minigrad_lessons/``: the course package's ``__init__.py`` and its
    support files only, so that ``from minigrad_lessons import common`` works in a run
    folder without the lessons (and their solutions) beside it. Returns the package path."""
    package = pathlib.Path(folder) / PACKAGE
    copy_support(package, directory)
    shutil.copy(pathlib.Path(directory) / "__init__.py", package / "__init__.py")
    return package
