"""The course in other languages: one lesson file, its text translated by a message catalogue.

A lesson is written once, in English. Its Chinese edition is the same file with its text
swapped for the entries of ``lessons/zh/<lesson>.po`` (gettext's format: Poedit, Weblate and
``msgfmt --check`` read it; ``lessons/zh/common.po`` holds the words of ``common`` itself):

- ``msgctxt "cell"``: a Markdown cell, keyed by its English text (the cell's lines without
  their leading ``# ``); ``edition()`` writes the zh percent-script with each Markdown cell
  replaced by its translation and every code line left as it is, except the text after
  ``# TITLE:`` / ``# HINT:`` (``msgctxt "exercise"``), which a student copy shows;
- no context: a line the lesson prints, a check message, a figure's title or axis label.
  ``{name}`` in an entry matches any text and carries it into the translation, so one entry
  covers ``f"hand-derived dL/d{name} equals autograd"`` for every name. A brace the line
  prints itself (a dict, ``C_{t-1}``) is doubled, ``{{`` and ``}}``, in both strings, as in
  ``str.format``.

At run time (``MINIGRAD_LANG=zh`` or ``--lang zh``, or a copy that says ``# LANGUAGE: zh``)
``common`` translates what it prints itself (header, checks, summary, figure text) and the
lines the lesson prints (a line with no entry is printed as it is: English that shows,
never text that vanishes). ``missing()`` lists the English a lesson has and its catalogue
lacks; tests/test_zh.py requires none for the lessons in ``TRANSLATED``.

    python -m minigrad_lessons.i18n edition 01 OUT_DIR      # write the zh percent-script
    python -m minigrad_lessons.i18n missing 01               # what 01's catalogue lacks
    python -m minigrad_lessons.i18n template 04 > lessons/zh/04_gradient_clipping.po

Translating a lesson: write its .po from ``template`` (fill every msgstr: terms as in
docs/glossary.md, the English once in parentheses at a term's first use in the lesson), then
run it with ``MINIGRAD_LANG=zh --quick`` and add an entry (no msgctxt, ``{name}`` for what
varies) for each English line it still prints and each figure label; its file in ``zh/``
is what puts it in ``TRANSLATED``, so that tests/test_zh.py holds it to the rules.
"""
import argparse
import os
import pathlib
import re
import string
import sys

HERE = pathlib.Path(__file__).resolve().parent
LANGUAGES = ("en", "zh")
# The lessons whose Chinese edition is complete: every lesson with a catalogue in zh/. Having a
# .po file is the claim, and tests/test_zh.py holds it to it (every Markdown cell, exercise title
# and hint has an entry; most printed lines are Chinese). The others print English.
TRANSLATED = tuple(sorted(p.stem for p in (HERE / "zh").glob("[0-9][0-9]_*.po")))
LANGUAGE_LINE = re.compile(r"^# LANGUAGE:[ \t]*(?P<lang>[A-Za-z_-]+)[ \t]*$", re.M)
CELL = re.compile(r"^# %%(?P<rest>.*)$")
EXERCISE_TEXT = re.compile(r"^(?P<head>[ \t]*# (?:TITLE|HINT):[ \t]*)(?P<text>.*?)[ \t]*$")


# ----------------------------------------------------------------------------- .po files

_PO_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def _unquote(s):
    """A .po line's quoted string, its C escapes read by hand: no syntax tree is built, so the
    grader's threads may read catalogues at once (CPython 3.11's parser is not thread-safe)."""
    if not (len(s) >= 2 and s[0] == s[-1] == '"'):
        raise ValueError(f"not a quoted .po string: {s!r}")
    out, i, body = [], 0, s[1:-1]
    while i < len(body):
        c = body[i]
        if c == "\\":
            if i + 1 == len(body) or body[i + 1] not in _PO_ESCAPES:
                raise ValueError(f"an escape .po files do not use in {s!r}")
            c, i = _PO_ESCAPES[body[i + 1]], i + 1
        elif c == '"':
            raise ValueError(f"an unescaped quote inside {s!r}")
        out.append(c)
        i += 1
    return "".join(out)


def read_po(path):
    """{(context or None, msgid): msgstr} from a .po file; entries with an empty msgstr (not
    yet translated) and the header are left out."""
    entries, entry, key = {}, {}, None

    def close():
        if entry.get("msgid") and entry.get("msgstr"):
            entries[(entry.get("msgctxt"), entry["msgid"])] = entry["msgstr"]

    for line in pathlib.Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"(msgctxt|msgid|msgstr)\s+(\".*\")$", line)
        if m:
            if m.group(1) in ("msgctxt", "msgid") and "msgstr" in entry:
                close()
                entry = {}
            key = m.group(1)
            entry[key] = _unquote(m.group(2))
        elif line.startswith('"') and key:
            entry[key] += _unquote(line)
        else:
            raise ValueError(f"{path}: cannot read the line {line!r}")
    close()
    return entries


def _po_string(text):
    """A msgid/msgstr value, one source line per line of text (as msgcat writes them)."""
    lines = text.split("\n")
    parts = [ln + "\n" for ln in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    quoted = ['"' + p.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"' for p in parts]
    return quoted[0] if len(quoted) == 1 else '""\n' + "\n".join(quoted)


def write_po_entry(context, msgid, msgstr=""):
    head = f"msgctxt {_po_string(context)}\n" if context else ""
    return f"{head}msgid {_po_string(msgid)}\nmsgstr {_po_string(msgstr) if msgstr else chr(34) * 2}\n"


# ----------------------------------------------------------------------------- catalogues

class Catalogue:
    """A lesson's translations: ``cell(english)``, ``exercise(english)``, ``text(english)``."""

    def __init__(self, entries=None):
        self.entries = dict(entries or {})
        self.templates = {}
        for (ctx, msgid), msgstr in self.entries.items():
            if ctx not in ("cell", "exercise") and "{" in msgid:
                self.templates.setdefault(ctx, []).append((_template_regex(msgid), msgstr))

    def merged(self, other):
        return Catalogue({**other.entries, **self.entries})

    def cell(self, english):
        return self.entries.get(("cell", english))

    def exercise(self, english):
        return self.entries.get(("exercise", english))

    def text(self, english, context=None):
        """The translation of a printed line or message, or None when there is none.
        ``context`` 'common' holds the pieces common.py builds its own lines from."""
        found = self.entries.get((context, english))
        if found is not None or not english.strip():
            return found
        for template, translation in self.templates.get(context, ()):
            m = template.regex.fullmatch(english)
            if m:
                return translation.format(**dict(zip(template.names, m.groups())))
        stripped = english.strip()
        if stripped != english and stripped:
            inner = self.text(stripped, context)
            if inner is not None:
                start = english.index(stripped)
                return english[:start] + inner + english[start + len(stripped):]
        return None


def _template_regex(template):
    pattern, seen = "", {}
    for literal, field, _, _ in string.Formatter().parse(template):
        pattern += re.escape(literal)
        if field is not None:
            if field in seen:
                pattern += f"(?P={seen[field]})"
            else:
                seen[field] = f"g{len(seen)}"
                pattern += f"(?P<{seen[field]}>.+?)"
    return _Template(re.compile(pattern, re.S), list(seen))


class _Template:
    """An entry with ``{name}`` fields: the regex that matches it, the names in order."""

    def __init__(self, regex, names):
        self.regex, self.names = regex, names


_catalogues = {}


def catalogue(stem, lang="zh", directory=HERE):
    """The catalogue of lesson ``stem`` (e.g. '01_tensors_autograd') merged with common's;
    an empty one for English or a lesson with no file."""
    key = (stem, lang, str(directory))
    if key not in _catalogues:
        cat = Catalogue()
        if lang != "en":
            for name in ("common", stem):
                path = pathlib.Path(directory) / lang / f"{name}.po"
                if name and path.is_file():
                    cat = Catalogue(read_po(path)).merged(cat)
        _catalogues[key] = cat
    return _catalogues[key]


def _base(lang):
    """'zh' for 'zh', 'ZH', 'zh_CN' or 'zh-CN'."""
    return (lang or "en").lower().split("_")[0].split("-")[0]


def language(argv_lang=None, source_text=None):
    """The language a run uses: --lang, else MINIGRAD_LANG, else the copy's '# LANGUAGE:' line,
    else English."""
    lang = argv_lang or os.environ.get("MINIGRAD_LANG", "").strip()
    if not lang and source_text:
        m = LANGUAGE_LINE.search(source_text)
        lang = m.group("lang") if m else ""
    lang = _base(lang)
    if lang not in LANGUAGES:
        raise SystemExit(f"language {lang!r}: the course is written in {', '.join(LANGUAGES)}")
    return lang


def copy_language(text):
    """The language a copy says it speaks, as the grader reads it: the first '# LANGUAGE:' line
    (read by the strict LANGUAGE_LINE: letters, '_' and '-' only), when it names a language of
    the course; English otherwise (no line, or a value the course does not have). Never an
    error and never a path: whatever a student writes there picks one of LANGUAGES."""
    m = LANGUAGE_LINE.search(text or "")
    lang = _base(m.group("lang")) if m else "en"
    return lang if lang in LANGUAGES else "en"


def say(english, lang, context="grader", domain="grader", **fields):
    """One of a tool's own phrases in ``lang``: the entry for ``english`` (a ``str.format``
    template) under ``msgctxt context`` in ``lessons/<lang>/<domain>.po``, formatted with
    ``fields``; the English when ``lang`` is 'en' or the catalogue lacks the entry. The fields
    are filled in after the lookup, so what they hold (a student's line) is never matched."""
    text = english
    if lang != "en":
        text = catalogue(domain, lang).entries.get((context, english)) or english
    return text.format(**fields) if fields else text


def reword(phrase, lang, context="grader", domain="grader"):
    """A phrase another part built in English (a policy's reason, a run's message): its
    translation through an entry with ``{name}`` fields that matches it whole, or the phrase
    as it is."""
    if lang == "en" or not phrase:
        return phrase
    return catalogue(domain, lang).text(phrase, context) or phrase


# ----------------------------------------------------------------------------- editions

def cells(text):
    """The percent-script as [(kind, header_line, [body lines])]; kind is 'markdown', 'code'
    or 'preamble' (the lines before the first cell marker)."""
    out = [("preamble", None, [])]
    for line in text.split("\n"):
        m = CELL.match(line)
        if m:
            out.append(("markdown" if "[markdown]" in m.group("rest") else "code", line, []))
        else:
            out[-1][2].append(line)
    return out


def markdown_text(body):
    """A Markdown cell's text: its lines without the leading '# ' (trailing blank lines dropped)."""
    lines = [ln[2:] if ln.startswith("# ") else ln[1:] if ln.startswith("#") else ln for ln in body]
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def _as_comment(text, trailing):
    return [("# " + ln).rstrip() if ln else "#" for ln in text.split("\n")] + trailing


def edition(text, stem, lang="zh", strict=False):
    """The lesson ``text`` in ``lang``: Markdown cells and exercise titles/hints translated, a
    '# LANGUAGE:' line opening the first code cell, every other line unchanged. With
    ``strict`` a missing translation is an error; otherwise the English stays."""
    if lang == "en":
        return text
    cat, out, lacking, first_code = catalogue(stem, lang), [], [], True
    for kind, header, body in cells(text):
        if header is not None:
            out.append(header)
        if kind == "markdown":
            english = markdown_text(body)
            trailing = body[len(_strip_trailing(body)):]       # the blank lines before the next cell
            zh = cat.cell(english)
            if zh is None:
                lacking.append(english[:60])
                out += body
            else:
                out += _as_comment(zh, trailing)
            continue
        if kind == "code" and first_code:
            out.append(f"# LANGUAGE: {lang}")
            first_code = False
        for line in body:
            m = EXERCISE_TEXT.match(line)
            if kind == "code" and m:
                zh = cat.exercise(m.group("text"))
                if zh is None:
                    lacking.append(m.group("text")[:60])
                else:
                    line = m.group("head") + zh
            out.append(line)
    if strict and lacking:
        raise KeyError(f"{stem}: no {lang} entry for {len(lacking)} texts, the first: {lacking[0]!r}")
    return "\n".join(out)


def _strip_trailing(body):
    lines = list(body)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def code_lines(text):
    """The lines that run: code cells without the exercise titles/hints and the language line
    (the only code-cell lines an edition changes)."""
    kept = []
    for kind, _, body in cells(text):
        if kind == "code":
            kept += [ln for ln in body if not EXERCISE_TEXT.match(ln) and not LANGUAGE_LINE.match(ln)]
    return kept


def english_texts(text):
    """What a translation of the lesson must cover: [(context, english)] for its Markdown cells
    and exercise titles/hints."""
    found = []
    for kind, _, body in cells(text):
        if kind == "markdown":
            found.append(("cell", markdown_text(body)))
        elif kind == "code":
            found += [("exercise", m.group("text")) for m in map(EXERCISE_TEXT.match, body) if m]
    return found


def missing(path, lang="zh"):
    """The Markdown cells and exercise texts of the lesson at ``path`` its catalogue lacks."""
    path = pathlib.Path(path)
    cat = catalogue(path.stem, lang, path.parent)
    return [(ctx, en) for ctx, en in english_texts(path.read_text(encoding="utf-8"))
            if (ctx == "cell" and cat.cell(en) is None) or (ctx == "exercise" and cat.exercise(en) is None)]


def main(argv=None):
    from .markers import find_lesson
    parser = argparse.ArgumentParser(prog="python -m minigrad_lessons.i18n",
                                     description="Editions of the lessons in other languages.")
    sub = parser.add_subparsers(dest="command", required=True)
    ed = sub.add_parser("edition", help="write a lesson's edition (a percent-script) into a folder")
    ed.add_argument("lesson")
    ed.add_argument("out_dir")
    for name in ("missing", "template"):
        p = sub.add_parser(name, help="what a catalogue lacks" if name == "missing"
                           else "a .po file with an empty entry for each text the catalogue lacks")
        p.add_argument("lesson")
    for p in sub.choices.values():
        p.add_argument("--lang", default="zh", choices=[lang for lang in LANGUAGES if lang != "en"])
    args = parser.parse_args(argv)
    path = find_lesson(args.lesson)
    if args.command == "edition":
        out = pathlib.Path(args.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / path.name).write_text(edition(path.read_text(encoding="utf-8"), path.stem, args.lang),
                                     encoding="utf-8")
        print(out / path.name)
    elif args.command == "missing":
        lacking = missing(path, args.lang)
        for ctx, en in lacking:
            print(f"{ctx}: {en.splitlines()[0] if en else en!r}")
        return 1 if lacking else 0
    else:
        print(f"# lessons/{args.lang}/{path.stem}.po (lessons/i18n.py; terms as in docs/glossary.md)\n"
              f'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n"Language: {args.lang}\\n"\n')
        for ctx, en in missing(path, args.lang):
            print(write_po_entry(ctx, en))
    return 0


if __name__ == "__main__":
    sys.exit(main())
