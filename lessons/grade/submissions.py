"""Reading submissions: a student's file, its blocks, and what was edited outside them."""
import difflib
import pathlib
import re

from .. import i18n, markers
from ..exercises import student_copy
from ..i18n import say


def read_submission(path):
    """A submission's text: a .py file as it is, a notebook as its code cells."""
    path = pathlib.Path(path)
    if path.suffix == ".ipynb":
        import nbformat
        nb = nbformat.read(str(path), as_version=4)
        return "\n".join(cell.source.rstrip("\n") + "\n" for cell in nb.cells if cell.cell_type == "code")
    return path.read_text(encoding="utf-8")


def find_submission(folder, lesson_path):
    """The student's file for a lesson: NN_name.py, else NN_name.ipynb, else any NN_*.py/ipynb.
    Only plain files inside ``folder`` count: a symbolic link is not a hand-in."""
    folder = pathlib.Path(folder)
    candidates = [folder / lesson_path.name, folder / (lesson_path.stem + ".ipynb")]
    candidates += sorted(folder.glob(lesson_path.name[:3] + "*.py")) + sorted(folder.glob(lesson_path.name[:3] + "*.ipynb"))
    for candidate in candidates:
        if candidate.is_file() and not candidate.is_symlink():
            return candidate
    return None


def submission_blocks(text, name):
    """{k: (code, line of its BEGIN marker)} of a filled-in copy."""
    blocks = markers.parse_submission(text, name)
    starts = {int(m["k"]): i + 1 for i, line in enumerate(text.splitlines())
              if (m := markers.STUDENT_BEGIN.match(line))}
    return {k: (code, starts[k]) for k, code in blocks.items()}


def outside_edits(teacher_text, submission_text, name, limit=8, lang="en"):
    """Code lines the student changed outside the exercise blocks (ignored by the grader), in
    ``lang``. Comments are left out, so a check commented out shows as removed."""
    copy, _ = student_copy(teacher_text, name)

    def outside(text):
        keep, inside = [], False
        for line in text.splitlines():
            if markers.STUDENT_BEGIN.match(line):
                inside = True
            elif markers.STUDENT_END.match(line):
                inside = False
            elif not inside and line.strip() and not line.lstrip().startswith("#"):
                keep.append(line.rstrip())      # code only: a notebook has no markdown comments
        return keep

    a, b = outside(copy), outside(submission_text)
    if a == b:
        return []
    edits = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag in ("replace", "delete"):
            edits += [say("changed or removed: `{line}`", lang, line=line.strip()) for line in a[i1:i2]]
        if tag in ("replace", "insert"):
            edits += [say("added: `{line}`", lang, line=line.strip()) for line in b[j1:j2]]
    more = len(edits) - limit
    return edits[:limit] + ([say("... and {n} more", lang, n=more)] if more > 0 else [])


def placeholder_left(code, name, k):
    """True when the block still raises the placeholder a copy is handed out with, in any of
    the course's languages (a student may hand in the English copy of a Chinese class)."""
    for lang in i18n.LANGUAGES:
        opening = re.escape(markers.placeholder_opening(name, k, lang))
        if re.search(rf'raise NotImplementedError\(\s*["\']{opening}', code):
            return True
    return False


def only_comments(code):
    return all(not line.strip() or line.strip().startswith("#") for line in code.splitlines())
