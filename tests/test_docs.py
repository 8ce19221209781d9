"""The documentation stands on its own: docs/api.md names every public name, every citation of
the course notes in the lessons resolves to a section listed in docs/course-notes.md, and no
tracked file points outside the repository."""
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
LESSONS = ROOT / "lessons"
NOTES_PAGE = ROOT / "docs" / "course-notes.md"

# `notes 003「RNN」(1)-(3)`, `notes 004「3.2 集束搜索」「长度标准化」 and「误差分析」`: a note's
# number, then section titles in corner brackets, each with optional formula numbers; a
# citation may continue on the next comment line.
TITLE = r"「[^」\n]+」(?:\s*\(\d+\)(?:\s*[-–]?\s*\(\d+\))*)?"
CITATION = re.compile(r"notes (\d{3})((?:(?:[\s#]*(?:,|and)?)[\s#]*" + TITLE + r")+)")
BARE_NOTE = re.compile(r"\b[Nn]otes (\d{3})\b")


def notes_sections():
    """{'003': {'RNN', 'LSTM', ...}, ...} from the headings and tables of docs/course-notes.md."""
    text = NOTES_PAGE.read_text(encoding="utf-8")
    parts = re.split(r"^## Notes (\d{3}) ", text, flags=re.M)
    return {number: set(re.findall(r"「([^」\n]+)」", body))
            for number, body in zip(parts[1::2], parts[2::2])}


def _line(text, index):
    return text.count("\n", 0, index) + 1


def lesson_files():
    return sorted(LESSONS.glob("*.py"))


def test_the_notes_page_lists_five_notes_with_their_sections():
    sections = notes_sections()
    assert sorted(sections) == ["000", "001", "002", "003", "004"]
    assert all(len(titles) >= 4 for titles in sections.values()), sections


@pytest.mark.parametrize("path", lesson_files(), ids=lambda p: p.name)
def test_every_citation_resolves_to_the_notes_page(path):
    sections = notes_sections()
    text = path.read_text(encoding="utf-8")
    unresolved, covered = [], set()
    for match in CITATION.finditer(text):
        number = match.group(1)
        for title in re.finditer(r"「([^」\n]+)」", match.group(2)):
            covered.add(match.start(2) + title.start())
            if title.group(1) not in sections.get(number, ()):
                unresolved.append(f"{path.name}:{_line(text, match.start())}: "
                                  f"notes {number}「{title.group(1)}」")
    assert not unresolved, ("citations that docs/course-notes.md does not list:\n"
                            + "\n".join(unresolved))
    # a title in corner brackets outside a citation is a citation whose note number was lost
    orphans = [f"{path.name}:{_line(text, i)}" for i in
               (m.start() for m in re.finditer("「", text)) if i not in covered]
    assert not orphans, "「titles」 without 'notes NNN' in front:\n" + "\n".join(orphans)
    for match in BARE_NOTE.finditer(text):
        assert match.group(1) in sections, f"{path.name}: notes {match.group(1)} does not exist"


@pytest.mark.parametrize("path", [p for p in lesson_files() if p.name[:2].isdigit()],
                         ids=lambda p: p.name)
def test_every_lesson_header_cites_the_notes_by_section(path):
    header = path.read_text(encoding="utf-8").split("\n# %%", 1)[0]
    assert "**Notes followed**" in header and CITATION.search(header), \
        f"{path.name}: the header names the notes' sections it follows"


def test_lessons_quote_no_long_passages_of_the_notes():
    # the notes are restated, never copied: a run of more than 10 Chinese characters outside a
    # section title is a copied sentence (terms and titles are short)
    long_runs = []
    for path in lesson_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            rest = re.sub(r"「[^」]*」", "", line)
            if re.search(r"[\u4e00-\u9fff，、：；。？！]{11,}", rest):
                long_runs.append(f"{path.name}:{number}: {line.strip()}")
    assert not long_runs, "\n".join(long_runs)


def tracked_text_files():
    try:
        names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                               check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    for name in filter(None, names):
        path = ROOT / name
        if path.suffix in {".png", ".npz", ".ipynb"} or not path.is_file():
            continue
        try:
            yield name, path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue


def test_nothing_points_outside_the_repository():
    # built from pieces so that this file does not match itself
    outside = re.compile("|".join([re.escape(".." + "/shared"), re.escape("/work" + "/shared"),
                                   r"\b\d{3}_[0-9a-f]{16}\b"]))
    offenders = [f"{name}: {m.group(0)}" for name, text in tracked_text_files()
                 for m in outside.finditer(text)]
    assert not offenders, "references to files outside the repository:\n" + "\n".join(offenders)


# ----------------------------------------------------------------------------- docs/api.md

API_PAGE = ROOT / "docs" / "api.md"
# the modules (and classes) whose public names the page must name, each under its own
# "## `name`" heading
DOCUMENTED = ["minigrad", "minigrad.Tensor", "minigrad.cuda", "minigrad.nn", "minigrad.nn.Module",
              "minigrad.nn.init", "minigrad.nn.utils", "minigrad.functional", "minigrad.optim",
              "minigrad.optim.Optimizer", "minigrad.decoding", "minigrad.metrics",
              "minigrad.data", "minigrad.utils.data", "minigrad.models"]


def public_names(dotted):
    """A module's ``__all__``; without one, the names it defines itself that do not start with
    '_' (not imported modules or helpers). A class: its attributes not starting with '_'."""
    import importlib
    import inspect
    import types
    try:
        obj = importlib.import_module(dotted)
    except ImportError:
        module, _, name = dotted.rpartition(".")
        obj = getattr(importlib.import_module(module), name)
    if inspect.isclass(obj):
        return sorted(n for n in dir(obj) if not n.startswith("_"))
    if hasattr(obj, "__all__"):
        return list(obj.__all__)
    return sorted(n for n, v in vars(obj).items() if not n.startswith("_")
                  and not isinstance(v, types.ModuleType)
                  and (getattr(v, "__module__", None) or "").startswith(dotted))


def api_sections():
    text = API_PAGE.read_text(encoding="utf-8")
    parts = re.split(r"^## `([\w.]+)`[ \t]*$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def test_api_page_names_every_public_name():
    sections = api_sections()
    missing = []
    for dotted in DOCUMENTED:
        body = sections.get(dotted)
        if body is None:
            missing.append(f"{dotted}: no section headed ## `{dotted}`")
            continue
        # a name is documented when it starts or ends a code span: `name(...)`, `mg.name`
        spans = re.findall(r"`([^`\n]+)`", body)
        for name in public_names(dotted):
            pattern = re.compile(rf"(^|[.\s]){re.escape(name)}($|[(\s.,=\[])")
            if not any(pattern.search(span) for span in spans):
                missing.append(f"{dotted}.{name}")
    assert not missing, ("docs/api.md lacks these public names (add each, with its signature, "
                         "shapes and meaning, under its module's heading):\n  "
                         + "\n  ".join(missing))


def test_api_page_links_resolve():
    # the page's own anchors (#minigradnn ...) point at its headings
    text = API_PAGE.read_text(encoding="utf-8")
    anchors = {re.sub(r"[^\w-]", "", h.lower().replace(" ", "-"))
               for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}
    for target in re.findall(r"\]\(#([^)]+)\)", text):
        assert target in anchors, f"docs/api.md links to #{target}, which is no heading"


def test_readme_links_the_docs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/api.md" in readme and "docs/course-notes.md" in readme
    for link in re.findall(r"\]\(((?!https?:|#)[^)]+)\)", readme):
        assert (ROOT / link).exists(), f"README links to {link}, which is not in the repository"


def test_the_notes_page_lists_every_lesson_that_cites_a_section():
    text = NOTES_PAGE.read_text(encoding="utf-8")
    parts = re.split(r"^## Notes (\d{3}) ", text, flags=re.M)
    listed = {}
    for number, body in zip(parts[1::2], parts[2::2]):
        for title, lessons in re.findall(r"^\| 「([^」]+)」 \|.*\| ([^|]*) \|$", body, flags=re.M):
            listed[number, title] = {x.strip() for x in lessons.split(",")}
    unlisted = []
    for path in lesson_files():
        if not path.name[:2].isdigit():
            continue
        for match in CITATION.finditer(path.read_text(encoding="utf-8")):
            for title in re.findall(r"「([^」\n]+)」", match.group(2)):
                if path.name[:2] not in listed.get((match.group(1), title), ()):
                    unlisted.append(f"notes {match.group(1)}「{title}」: lesson {path.name[:2]}")
    assert not unlisted, ("docs/course-notes.md's lessons column misses:\n"
                          + "\n".join(sorted(set(unlisted))))
