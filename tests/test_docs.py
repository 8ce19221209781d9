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
