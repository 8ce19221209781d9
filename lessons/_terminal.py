"""Text in a terminal, by the columns it takes: a Chinese character is two columns wide, an
accent none. What common needs to pad, wrap and align the lines a lesson prints when they are
Chinese (``len`` counts characters, and a table of Chinese cells padded by ``len`` drifts).

A support module of the course (copied beside ``common`` wherever it runs); the standard
library's Unicode tables, nothing else.
"""
import re
import unicodedata

# Where a Chinese line may not break: before closing punctuation, after opening punctuation.
_NO_BREAK_BEFORE = set("，。、；：！？）\u300d』》〉”’,.;:!?)]}%")     # \u300d: the closing corner bracket
_NO_BREAK_AFTER = set("（\u300c『《〈“‘([{")                   # (tests/test_docs.py reads corner brackets as citations)


def char_width(ch):
    """Columns a terminal gives ``ch``: 2 for East Asian Wide and Fullwidth (中, ，, Ａ), 0 for
    what it draws over the character before (the tilde of C̃) or not at all, else 1."""
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def display_width(text):
    """Columns ``text`` takes in a terminal: '学习目标' 8, 'goal' 4, 'C̃' 1."""
    return sum(char_width(ch) for ch in text)


def pad(text, width, align="<"):
    """``text`` padded with spaces to ``width`` terminal columns ('<' left, '>' right, '^'
    centred), as ``format(text, '<12')`` does for ASCII; never cut."""
    room = max(0, width - display_width(text))
    left = {"<": 0, ">": room, "^": room // 2}[align]
    return " " * left + text + " " * (room - left)


def _pieces(text):
    """``text`` cut where a line may break: after a space (kept with the word before it) and
    between two wide characters, never before closing or after opening punctuation."""
    pieces, current = [], ""
    for ch in text:
        if current and (current[-1] == " " and ch != " " or (
                (char_width(ch) == 2 or char_width(current[-1]) == 2)
                and ch not in _NO_BREAK_BEFORE and current[-1] not in _NO_BREAK_AFTER and ch != " ")):
            pieces.append(current)
            current = ""
        current += ch
    return pieces + ([current] if current else [])


def wrap(text, width, indent="", subsequent=None):
    """``text`` as lines of at most ``width`` terminal columns (a word wider than that keeps
    its own line): English breaks at spaces, Chinese between any two characters (but not
    before '，' or after '（'). ``indent`` opens the first line, ``subsequent`` (default: as
    many spaces as ``indent`` is wide) the others."""
    subsequent = " " * display_width(indent) if subsequent is None else subsequent
    lines, line, used = [], indent, display_width(indent)
    for piece in _pieces(" ".join(text.split())):
        w = display_width(piece.rstrip())
        if used + w > width and line.strip():
            lines.append(line.rstrip())
            line, used = subsequent, display_width(subsequent)
        line += piece
        used += display_width(piece)
    return lines + [line.rstrip()] if line.strip() else lines


_COLUMN_GAP = re.compile(r" {2,}")


def _columns(line):
    """[(start column, cell)] of a line whose cells are separated by two or more spaces."""
    cells, column, last = [], 0, 0
    for m in _COLUMN_GAP.finditer(line):
        cells.append((column, line[last:m.start()]))
        column += display_width(line[last:m.end()])
        last = m.end()
    cells.append((column, line[last:]))
    return cells


def align_like(english, translated):
    """``translated`` laid out on the columns of ``english``: when both are rows of cells
    separated by two or more spaces (a table a lesson prints with ``f"{name:20s} ..."``), and
    have as many cells, each translated cell starts where its English one does, counted in
    terminal columns, or further right where the translation itself puts it (a translator
    who padded '点乘 (dot)      ' to the width of '加性 (additive) ' lines up the rows whose
    names are wider than the English ones); a wide cell pushes the rest to the right, two
    spaces after it. Otherwise the translation as it is."""
    lead = len(english) - len(english.lstrip(" "))
    ours = _columns(english[lead:])
    theirs = _columns(translated.strip(" "))
    if len(ours) < 2 or len(ours) != len(theirs):
        return translated
    out, used = " " * lead, lead
    for (start, _), (own, cell) in zip(ours, theirs):
        column = lead + max(start, own)
        gap = column - used if used == lead else max(2, column - used)
        out += " " * gap + cell
        used += gap + display_width(cell)
    return out.rstrip() if not english.endswith(" ") else out
