"""What every lesson shares: options, device, seed, figures, progress bars, checks.

A lesson starts with

    from minigrad_lessons import common
    run = common.setup(__doc__)        # parses --quick / --device, seeds, picks the device

and then uses ``run.quick`` (or ``run.pick(full, quick)``) to size its data, ``common.figure``
and ``common.savefig`` for plots, ``common.progress`` around training loops,
``common.check(condition, message, exercise=k)`` for the checks that prove a step right, and
ends with ``common.finish()``. ``setup`` prints the lesson's title and learning goals (read from
its header), ``finish`` what the run showed: every check that passed. In a terminal both are
plain text (``plain``: no Markdown emphasis, LaTeX written out as ``C̃_t``); a notebook shows
the header as its first Markdown cell.

Exercises and checks. The k-th ``# BEGIN SOLUTION`` block of a lesson is its exercise k
(1, 2, ... in file order; ``lessons/exercises.py`` reads the blocks and what they declare:
title, points, library names off limits). Every check names the exercise it grades with
``exercise=k``; a check that needs several exercises' code belongs to the last of them. A
check of the lesson's own demonstration, which no student code can fail, says ``exercise=None``
(the default, but lessons write it out: tests/test_lessons.py asserts that every check in a
lesson names its exercise or None). ``lessons/grade.py`` grades exercise k by its checks only.

Options (command line, or environment for notebooks and tests):
    --quick            MINIGRAD_QUICK=1       shrink data and epochs: the lesson runs in seconds
    --device cuda      MINIGRAD_DEVICE=cuda   run on the GPU (CuPy); the default is the CPU
    --seed N                                  the random seed (default 0)
    --lang zh          MINIGRAD_LANG=zh       the Chinese edition (lessons/i18n.py; English is
                                              the default; a copy's '# LANGUAGE: zh' line too)
    MINIGRAD_LESSONS_OUT=DIR                  write figures to DIR instead of out/ beside the lesson

Figures go to ``out/`` in the folder of the lesson that runs (lessons/out/ for the teacher's,
class/bob/out/ for a copy saved there; a notebook's current folder). A quick run writes them
to ``out/quick/`` (unless MINIGRAD_LESSONS_OUT says otherwise) and titles each one
"(quick run)", so it never replaces a real run's figures. The Chinese edition's figures are
``NAME.zh.png`` beside the English ``NAME.png``.
"""
import argparse
import os
import pathlib
import re
import sys
import unicodedata

# The lessons multiply small matrices, where several BLAS threads on a 2-core laptop cost more
# than they save (often 3x slower under load), and where the thread count can change the last
# bits of a sum, and so what a lesson prints. One thread, unless the user chose otherwise.
_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_threads_chosen = any(os.environ.get(_var) for _var in _THREAD_VARS)
for _var in _THREAD_VARS:       # for the child processes, and for NumPy if it is not loaded yet
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402 - after the thread settings above

import minigrad as mg  # noqa: E402

try:
    from . import _terminal, i18n  # noqa: E402
except ImportError:     # common imported flat, beside its support files (course_files.copy_support)
    import _terminal  # noqa: E402
    import i18n  # noqa: E402


def _one_blas_thread():
    """Limit the BLAS that NumPy has already loaded to one thread, whatever the import order
    (a lesson may import NumPy before common). Returns the limit, which the module keeps for
    the whole process; None when the user chose a thread count or threadpoolctl is missing."""
    if _threads_chosen:
        return None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        print("note: threadpoolctl is not installed, so one BLAS thread only if NumPy loads "
              "after lessons/common.py (pip install threadpoolctl)")
        return None
    return threadpool_limits(limits=1)


_blas_limit = _one_blas_thread()

HERE = pathlib.Path(__file__).resolve().parent

# Fonts that carry Chinese glyphs, in order of preference. A figure uses Chinese labels only
# when one of them is installed; otherwise it labels in ASCII (no missing-glyph boxes).
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
             "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "SimHei", "Microsoft YaHei",
             "PingFang SC", "Heiti SC", "Arial Unicode MS")


class CheckFailed(AssertionError):
    """A lesson's check did not hold: the lesson stops and exits non-zero."""


class Run:
    """The options one lesson run was started with."""

    def __init__(self, quick, device, seed):
        self.quick, self.device, self.seed = quick, device, seed
        self.rng = np.random.default_rng(seed)      # host-side draws: data, shuffling

    def pick(self, full, quick):
        """``quick`` in a --quick run, ``full`` otherwise (sizes, epochs, thresholds)."""
        return quick if self.quick else full

    def __repr__(self):
        return f"Run(quick={self.quick}, device={self.device!r}, seed={self.seed})"


# ----------------------------------------------------------------------------- set-up

_runs = []      # the Run of this lesson, once setup() has been called: figures ask run.quick
_where = []     # the folder of the lesson file that called setup(): its figures go beside it

def in_notebook():
    """True inside a Jupyter kernel (the lesson opened as a notebook)."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _env_flag(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def parse_args(description=None, argv=None):
    """--quick, --device, --seed; a notebook has no command line, so only the environment.
    ``args.device_from`` says what chose the device, for error messages: '--device cuda',
    'MINIGRAD_DEVICE=cuda' or the default."""
    parser = argparse.ArgumentParser(description=(description or "").strip().split("\n")[0])
    parser.add_argument("--quick", action="store_true", default=_env_flag("MINIGRAD_QUICK"),
                        help="tiny data and few epochs: runs in seconds (also MINIGRAD_QUICK=1)")
    parser.add_argument("--device", default=None,
                        help="'cpu' (NumPy) or 'cuda' (CuPy); also MINIGRAD_DEVICE")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--lang", default=None, choices=i18n.LANGUAGES,
                        help="the language the lesson speaks: en (default) or zh; also MINIGRAD_LANG")
    if argv is None:
        argv = [] if in_notebook() else sys.argv[1:]
    args = parser.parse_args(argv)
    env = os.environ.get("MINIGRAD_DEVICE", "").strip()
    if args.device is not None:
        args.device_from = f"--device {args.device}"
    elif env:
        args.device, args.device_from = env, f"MINIGRAD_DEVICE={env}"
    else:
        args.device, args.device_from = "cpu", "the default device"
    return args


def _report_failed_check(kind, value, tb):
    # A failed check is the lesson's verdict, not a bug: one clear line, no traceback.
    if issubclass(kind, CheckFailed):
        print(f"\n{value}", file=sys.stderr)
        return
    sys.__excepthook__(kind, value, tb)


def setup(description=None, seed=None, argv=None):
    """Read the options, move minigrad to the device, seed everything; returns a ``Run``."""
    args = parse_args(description, argv)
    try:
        device = mg.backend.check_device(args.device)
    except ValueError as e:
        raise SystemExit(f"{args.device_from}: {e}") from None
    if device == "cuda" and not mg.cuda.is_available():
        raise SystemExit(f"{args.device_from}: no usable GPU (mg.cuda.is_available() is False); "
                         "install CuPy with pip install -e '.[gpu]' or run on the CPU")
    mg.set_default_device(device)
    seed = args.seed if seed is None else seed
    mg.manual_seed(seed)
    if not in_notebook():
        sys.excepthook = _report_failed_check
    run = Run(args.quick, device, seed)
    _runs[:] = [run]
    lesson = _caller_file()
    _where[:] = [lesson.resolve().parent] if lesson else []
    _set_language(args.lang, lesson)
    if not in_notebook():           # a notebook shows its header as the first markdown cell
        _print_header(lesson)
    print(_tr("{script}: quick={quick} device={device} seed={seed}",
              script=pathlib.Path(sys.argv[0]).name if not in_notebook() else "notebook",
              quick=run.quick, device=run.device, seed=run.seed))
    return run


def _caller_file():
    """The file of the lesson that called setup (None in a notebook or an interactive shell)."""
    frame = sys._getframe(2)
    name = frame.f_globals.get("__file__")
    return pathlib.Path(name) if name else None


def lesson_header(path):
    """(title, [learning goals]) from a lesson's first markdown cell: the '# # Lesson ...' line
    and the numbered list under 'Learning goals' (学习目标 in the Chinese edition, whose
    header is the translated cell); ("", []) when the file has neither."""
    try:
        text = pathlib.Path(path).read_text(encoding="utf-8")
    except (OSError, TypeError):
        return "", []
    if _lang[0] != "en":
        text = i18n.edition(text, pathlib.Path(path).stem, _lang[0])
    title, goals, in_goals = "", [], False
    lines = text.splitlines()
    for line in lines:
        if not line.startswith("#"):
            if title:
                break                   # the header cell ended
            continue
        text = line[1:].strip()
        if not title and text.startswith("# "):
            title = text[2:].strip()
        elif "Learning goals" in text or "学习目标" in text:
            in_goals = True
        elif in_goals:
            if not text:
                break
            number = re.match(r"\d+\.\s+", text)
            if number:
                goals.append(text[number.end():])
            elif goals:
                goals[-1] = _join_wrapped(goals[-1], text)
    return title, goals


def _join_wrapped(line, more):
    """Two pieces of one wrapped Markdown line: Chinese meets Chinese with no space (a space
    there is a visible gap), nor does anything meet Chinese punctuation ('一步：h_t'); the
    rest is joined with a space ('与 `nn.X`', 'the gate')."""
    def wide(ch):
        return unicodedata.east_asian_width(ch or " ") in "WF"

    def wide_punctuation(ch):
        return wide(ch) and unicodedata.category(ch).startswith("P")
    a, b = line[-1:], more[:1]
    tight = (wide(a) and wide(b)) or wide_punctuation(a) or wide_punctuation(b)
    return line + ("" if tight else " ") + more


def _print_header(path):
    title, goals = lesson_header(path) if path else ("", [])
    if not title:
        return
    print(plain(title))
    if goals:
        print(_tr("Learning goals:"))
        for k, goal in enumerate(goals, 1):
            print(_for_terminal(plain(goal), f"  {k}. "))
    print()


def _for_terminal(text, indent):
    """``indent + text``, wrapped to the terminal's width when stdout is one (by display
    width, so that a Chinese line breaks where it reaches the edge, not a character later);
    one line into a file, a pipe or a notebook."""
    stream = sys.stdout
    if in_notebook() or not getattr(stream, "isatty", lambda: False)():
        return indent + text
    import shutil
    return "\n".join(_terminal.wrap(text, max(40, shutil.get_terminal_size().columns - 1), indent))


# ----------------------------------------------------------------------------- language

_lang = ["en"]          # the language of this run: set by setup()
_stem = [""]            # the lesson's file name without .py: its catalogue's name


def language():
    """'en' or 'zh': the language this lesson run speaks."""
    return _lang[0]


def _catalogue():
    return i18n.catalogue(_stem[0], _lang[0])


def tr(english):
    """``english`` (a lesson's message, a figure's label) in the run's language: its catalogue
    entry, or the English itself when there is none."""
    return english if _lang[0] == "en" else (_catalogue().text(english) or english)


def _tr(english, **fields):
    """One of common's own phrases (msgctxt "common"), ``str.format``-ed with ``fields``."""
    text = english if _lang[0] == "en" else (_catalogue().text(english, "common") or english)
    return text.format(**fields) if fields else text


def _translated_line(line):
    """A printed line in the run's language: its catalogue entry, laid out on the English
    line's columns by terminal width (``_terminal.align_like``: a table's rows stay aligned when
    their cells are Chinese), or the line itself."""
    found = _catalogue().text(line)
    return line if found is None else _terminal.align_like(line, found)


class _TranslatedLines:
    """stdout for the Chinese edition: each whole line the lesson prints is replaced by its
    catalogue entry when it has one (so a lesson's ``print`` needs no change); the rest passes
    through as written."""

    def __init__(self, stream):
        self._stream, self._pending = stream, ""

    def write(self, text):
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._stream.write(_translated_line(line) + "\n")
        if self._pending and ("\r" in self._pending or len(self._pending) > 4096):
            self._stream.write(self._pending)       # a progress bar redrawing in place
            self._pending = ""
        return len(text)

    def flush(self):
        if self._pending:
            self._stream.write(_translated_line(self._pending))
            self._pending = ""
        self._stream.flush()

    def __getattr__(self, name):
        return getattr(self._stream, name)


# A notebook has no file to read a '# LANGUAGE:' line from: the first cell of a notebook in
# another language says which edition it is, (lesson file stem, language), before setup runs
# (minigrad_lessons.nbgrader_source writes it). MINIGRAD_LANG still overrides it.
notebook_edition = None


def _notebook_lesson():
    """(lesson stem, the running cell's text) in a notebook: the cell that calls setup is a
    lesson's first code cell, which an edition opens with its '# LANGUAGE:' line, and its
    ``common.setup(...)`` line names the lesson (each lesson's is its own). ("", None) when
    the cell is not a lesson's."""
    history = sys.modules["IPython"].get_ipython().user_ns.get("In") or [""]
    cell = history[-1] or ""
    called = re.search(r"^[^#\n]*common\.setup\(.*$", cell, re.M)
    if called:
        for path in sorted(HERE.glob("[0-9][0-9]_*.py")):
            if called.group(0).strip() in path.read_text(encoding="utf-8"):
                return path.stem, cell
    return "", cell


def _set_language(chosen, lesson):
    try:
        source = lesson.read_text(encoding="utf-8") if lesson else None
    except OSError:
        source = None
    stem = lesson.stem if lesson else ""
    if lesson is None and notebook_edition:
        stem, source = notebook_edition[0], f"# LANGUAGE: {notebook_edition[1]}"
    elif lesson is None and in_notebook():
        stem, source = _notebook_lesson()
    _lang[0] = i18n.language(chosen, source)
    _stem[0] = stem
    if _lang[0] != "en" and not isinstance(sys.stdout, _TranslatedLines):
        sys.stdout = _TranslatedLines(sys.stdout)


# ----------------------------------------------------------------------------- plain text

# What the lessons' Markdown and LaTeX become in a terminal. Accents combine with the letter
# they sit on (\tilde C -> C̃); a command not listed prints as its name (\tanh -> tanh).
_ACCENTS = {"tilde": "\u0303", "hat": "\u0302", "bar": "\u0304", "vec": "\u20d7", "dot": "\u0307",
            "underline": "\u0332"}
_SYMBOLS = {
    "cdot": "·", "times": "×", "approx": "≈", "mid": "|", "dots": "…", "ldots": "…", "cdots": "⋯",
    "sum": "Σ", "prod": "Π", "odot": "⊙", "otimes": "⊗", "oplus": "⊕", "leq": "≤", "le": "≤",
    "geq": "≥", "ge": "≥", "neq": "≠", "ne": "≠", "to": "→", "rightarrow": "→", "leftarrow": "←",
    "infty": "∞", "partial": "∂", "nabla": "∇", "in": "∈", "pm": "±", "propto": "∝",
    "alpha": "α", "beta": "β", "gamma": "γ", "Gamma": "Γ", "delta": "δ", "Delta": "Δ",
    "epsilon": "ε", "varepsilon": "ε", "eta": "η", "theta": "θ", "lambda": "λ", "mu": "μ",
    "pi": "π", "rho": "ρ", "sigma": "σ", "Sigma": "Σ", "tau": "τ", "phi": "φ", "omega": "ω",
    "quad": "  ", "qquad": "  ", "left": "", "right": "", "displaystyle": "",
    ",": " ", ";": " ", ":": " ", "!": "", " ": " ",
}
_TEXT = {"text", "mathrm", "mathbf", "mathit", "mathsf", "mathtt", "operatorname", "textbf", "textit"}
_MATH = re.compile(r"\$\$(.+?)\$\$|\$([^$\n]+?)\$")
_TOKEN = re.compile(r"\\([A-Za-z]+|.)|\{|\}|\s+|.", re.S)


def _latex_tokens(source):
    return [m.group(0) for m in _TOKEN.finditer(source)]


def _latex_argument(tokens, i):
    """(rendered argument, next index): a {group}, a command or one character; spaces skipped."""
    while i < len(tokens) and tokens[i].isspace():
        i += 1
    if i >= len(tokens):
        return "", i
    if tokens[i] == "{":
        depth, j = 1, i + 1
        while j < len(tokens) and depth:
            depth += {"{": 1, "}": -1}.get(tokens[j], 0)
            j += 1
        return _latex(tokens[i + 1:j - 1]), j
    return _latex(tokens[i:i + 1]), i + 1


def _atom(text):
    """``text`` as one piece of a fraction or script: in parentheses when it has several."""
    return text if re.fullmatch(r"[\w'′.\u0300-\u036f^]+|<[^<>\s]*>|.", text) else f"({text})"


def _latex(tokens):
    out, i = [], 0
    while i < len(tokens):
        token = tokens[i]
        name = token[1:] if token.startswith("\\") else None
        if name in _ACCENTS:
            argument, i = _latex_argument(tokens, i + 1)
            out.append(argument[:1] + _ACCENTS[name] + argument[1:])
        elif name == "frac":
            top, i = _latex_argument(tokens, i + 1)
            bottom, i = _latex_argument(tokens, i)
            out.append(f"{_atom(top)}/{_atom(bottom)}")
        elif name == "sqrt":
            argument, i = _latex_argument(tokens, i + 1)
            out.append(f"√{_atom(argument)}")
        elif name in _TEXT:
            argument, i = _latex_argument(tokens, i + 1)
            out.append(argument)
        elif token in ("^", "_"):
            argument, i = _latex_argument(tokens, i + 1)
            out.append(token + _atom(argument))
        elif name is not None:
            out.append(_SYMBOLS.get(name, name))
            i += 1
        elif token in "{}":
            i += 1                                  # a bare group: its content stays
        else:
            out.append(" " if token.isspace() else token)
            i += 1
    return "".join(out)


def plain(text):
    """A lesson's Markdown and LaTeX as terminal text: ``**by hand**`` -> ``by hand``,
    `` `nn.LSTM` `` -> ``nn.LSTM``, ``$\\tilde C_t$`` -> ``C̃_t``, ``$\\hat y - y$`` -> ``ŷ - y``."""
    pieces, last = [], 0
    for m in _MATH.finditer(text):
        pieces.append(_plain_markdown(text[last:m.start()]))
        pieces.append(_latex(_latex_tokens(m.group(1) or m.group(2))))
        last = m.end()
    pieces.append(_plain_markdown(text[last:]))
    # NFC: y + circumflex becomes the one character ŷ where there is one (C̃ stays two)
    return unicodedata.normalize("NFC", re.sub(r"  +", " ", "".join(pieces))).strip()


def _plain_markdown(text):
    text = re.sub(r"\[([^\]]+)\]\([^)\s]+\)", r"\1", text)          # [text](link)
    text = re.sub(r"`([^`]+)`", r"\1", text)
    text = re.sub(r"\*\*(\S(?:.*?\S)?)\*\*", r"\1", text)
    return re.sub(r"(?<![\w*])\*(\S(?:[^*]*?\S)?)\*(?![\w*])", r"\1", text)


# ----------------------------------------------------------------------------- checks

# Every check of this process, in order: (exercise or None, passed, message). A notebook
# graded by nbgrader asks ``passed(k)`` in each exercise's autograded cell.
results = []

# Set by the grader's harness (lessons/grade.py) in its subprocess: a function that takes
# (exercise, passed, message) and records it where the student's code does not write. While
# it is set a failed check does not stop the lesson, so that later exercises are graded too.
_recorder = None

# True in an nbgrader notebook (its first cell sets it): a failed check is recorded and
# printed, and the lesson goes on; each exercise's graded cell then asserts passed(k).
keep_going = False


def check(condition, message, exercise=None):
    """Prove a step right. A false ``condition`` stops the lesson with ``message`` and a
    non-zero exit status (in a notebook: an error in that cell).

    ``exercise`` is the number k of the exercise (the k-th ``# BEGIN SOLUTION`` block) whose
    code this check grades, or None for a check of the lesson's own demonstration."""
    passed = bool(condition)
    message = tr(message)
    results.append((exercise, passed, message))
    if _recorder is not None:
        _recorder(exercise, passed, message)
        print(_tr("check passed: {message}" if passed else "check FAILED: {message}", message=message))
        return
    if not passed:
        where = _tr(" (exercise {k})", k=exercise) if exercise is not None else ""
        if keep_going:
            print(_tr("CHECK FAILED{where}: {message}", where=where, message=message))
            return
        raise CheckFailed(_tr("CHECK FAILED{where}: {message}", where=where, message=message))
    print(_tr("check passed: {message}", message=message))


def to_host(x):
    """A NumPy copy of a Tensor, a backend (NumPy or CuPy) array or a number."""
    if isinstance(x, mg.Tensor):
        return np.array(x.numpy(force=True), copy=True)   # numpy() shares memory
    return np.asarray(mg.backend.to_numpy(x) if mg.backend.is_cupy_array(x) else x)


def compare(name, yours, expected, exercise=None, atol=1e-6, rtol=1e-5, against="expected",
            cause=None):
    """Check that ``yours`` equals ``expected`` (Tensors, arrays or numbers), elementwise
    within ``atol + rtol * |expected|``. A failure names the first place they differ:
    ``dU[1, 2]: yours 0.31, autograd 0.12`` (``against`` names where the expected values come
    from), or the shapes when they differ, and adds the likely ``cause``. Returns True when
    they are equal."""
    a, b = to_host(yours), to_host(expected)
    name, against = tr(name), tr(against)
    if a.shape != b.shape:
        ok, message = False, _tr("{name}: yours has shape {a}, {against} {b}", name=name, a=a.shape,
                                 against=against, b=b.shape)
    else:
        if a.dtype.kind in "biuf" and b.dtype.kind in "biuf":
            same = np.isclose(a, b, atol=atol, rtol=rtol)
        else:
            same = a == b
        ok = bool(np.all(same))
        if ok:
            worst = 0.0
            if a.dtype.kind in "biuf" and b.dtype.kind in "biuf":
                with np.errstate(invalid="ignore"):        # -inf - -inf: equal, not a difference
                    diff = np.abs(a.astype(np.float64) - b)
                diff = diff[np.isfinite(diff)]
                worst = float(diff.max()) if diff.size else 0.0
            message = _tr("{name} equals {against}", name=name, against=against) + (
                _tr(" (largest difference {worst})", worst=f"{worst:.1e}") if worst else "")
        else:
            at = tuple(int(i) for i in np.argwhere(~np.asarray(same))[0])
            where = f"[{', '.join(map(str, at))}]" if at else ""
            message = (_tr("{name}{where}: yours {y}, {against} {e}", name=name, where=where,
                           y=_show(a[at]), against=against, e=_show(b[at]))
                       + (_tr(" (tolerance {atol})", atol=f"{atol:g}") if a.dtype.kind == "f" else ""))
            if cause:
                message += _tr("; likely cause: {cause}", cause=tr(cause))
    check(ok, _tight_cjk_punctuation(message), exercise=exercise)
    return ok


# A space that a template puts next to Chinese punctuation ('（展平） 等于'): none is wanted there.
# (\u300c \u300d: the corner brackets, which tests/test_docs.py would read as a citation.)
_SPACE_AT_CJK_PUNCTUATION = re.compile(r"(?<=[）\u300d』》，。；：！？]) +| +(?=[（\u300c『《，。；：！？）])")


def _tight_cjk_punctuation(text):
    return _SPACE_AT_CJK_PUNCTUATION.sub("", text) if _lang[0] != "en" else text


def _show(value):
    return f"{value:.6g}" if isinstance(value, (float, np.floating)) else repr(value.item() if hasattr(value, "item") else value)


def not_checked(claim):
    """Say that a claim needs the full run: in quick mode nothing proves it, and saying
    "check passed" would claim what was not shown."""
    print(_tr("not checked in quick mode: {claim}", claim=tr(claim)))


def passed(exercise):
    """True when at least one check of ``exercise`` ran in this process and every one held."""
    mine = [ok for k, ok, _ in results if k == exercise]
    return bool(mine) and all(mine)


def finish():
    """Close a lesson: print what the run showed, every check that held, by exercise."""
    by_exercise = {}
    for k, ok, message in results:
        if ok:
            by_exercise.setdefault(k, []).append(message)
    print("\n" + _tr("What this run showed:"))
    for k in sorted(by_exercise, key=lambda k: (k is None, k or 0)):
        print("  " + (_tr("the lesson:") if k is None else _tr("exercise {k}:", k=k)))
        for message in by_exercise[k]:
            print(_for_terminal(plain(message), "    - "))
    counts = _tr(", ").join(_tr("lesson {n}", n=len(v)) if k is None else _tr("exercise {k} {n}", k=k, n=len(v))
                           for k, v in sorted(by_exercise.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)))
    print(_tr("checks passed: {counts}", counts=counts))


# ----------------------------------------------------------------------------- figures

_plt = []


# A CJK font that a Python package ships: mplfonts (the 'zh' extra) carries Noto Sans CJK SC.
# Its file is handed to matplotlib as it is; mplfonts itself is never imported (nor run).
PACKAGED_CJK_FONTS = (("mplfonts", "fonts/NotoSansCJKsc-Regular.otf"),)


def _add_packaged_cjk_font(font_manager):
    import importlib.util
    for package, relative in PACKAGED_CJK_FONTS:
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.origin:
            path = pathlib.Path(spec.origin).parent / relative
            if path.is_file():
                font_manager.fontManager.addfont(str(path))
                return


def _cjk_font():
    from matplotlib import font_manager
    _add_packaged_cjk_font(font_manager)
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def pyplot():
    """matplotlib.pyplot, set up once: Agg outside notebooks (figures go to files, nothing
    blocks), inline inside them, and a CJK font in front when the machine has one."""
    if not _plt:
        import matplotlib
        if in_notebook():
            # inline figures even when MPLBACKEND names another backend
            sys.modules["IPython"].get_ipython().run_line_magic("matplotlib", "inline")
        else:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        font = _cjk_font()
        if font:
            plt.rcParams["font.sans-serif"] = [font] + plt.rcParams["font.sans-serif"]
            plt.rcParams["axes.unicode_minus"] = False     # CJK fonts often lack U+2212
        _plt.extend([plt, font])
    return _plt[0]


def label(english, chinese):
    """'english (中文)' when a CJK font is installed, else just 'english'. In the Chinese
    edition the catalogue's translation of the whole ``english`` where it has one (a title
    says more than its term), else the term ``chinese``; 'english' (with a one-line warning,
    once) when no CJK font is installed."""
    pyplot()
    if _lang[0] == "zh":
        return (_catalogue().text(english) or chinese) if _cjk_or_warn() else english
    return f"{english} ({chinese})" if _plt[1] else english


_warned_font = []


def _cjk_or_warn():
    """True when figures can draw Chinese; otherwise say once why they are in English."""
    if _plt[1]:
        return True
    if not _warned_font:
        _warned_font.append(True)
        print("注意: 未安装中文字体, 图中文字用英文 (no CJK font: pip install -e '.[zh]' or apt install fonts-noto-cjk)")
    return False


def _translate_figure(fig):
    """The Chinese edition's figure text: titles, axis labels and legends from the catalogue
    (a text with no entry stays as it is); nothing when no CJK font can draw it."""
    if _lang[0] == "en" or not _cjk_or_warn():
        return
    def swap(text_object):
        text = text_object.get_text()
        zh = _catalogue().text(text) if text else None
        if zh is not None:
            text_object.set_text(zh)
    for ax in fig.get_axes():
        for text_object in (ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label,
                            *ax.texts):
            swap(text_object)
        legend = ax.get_legend()
        for text_object in (legend.get_texts() if legend else []):
            swap(text_object)
        _translate_ticks(ax)
    for text_object in fig.texts:       # suptitle, supxlabel and supylabel among them
        swap(text_object)


def _translate_ticks(ax):
    """Tick labels that are words (bars named 'all', 'negated'): their formatter makes them
    anew at each draw, so the translated ones are fixed at the ticks they label. Axes with
    no translated tick (numbers, a vocabulary) are left as they are."""
    for axis, set_ticks in ((ax.xaxis, ax.set_xticks), (ax.yaxis, ax.set_yticks)):
        texts = [t.get_text() for t in axis.get_ticklabels()]
        zh = [_catalogue().text(t) if t else None for t in texts]
        if any(z is not None for z in zh):
            set_ticks(axis.get_ticklocs(), [z if z is not None else t for t, z in zip(texts, zh)])


def figure(ncols=1, nrows=1, width=5.0, height=3.6):
    """A new figure with a grid of axes: ``fig, axes = common.figure(2)``."""
    plt = pyplot()
    return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=True,
                        layout="constrained")


def plot_curve(name, values, xlabel, ylabel, title, logy=False):
    """One curve (a loss per step, ...) in its own figure, saved as ``name``."""
    fig, ax = figure()
    (ax.semilogy if logy else ax.plot)(values, lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return savefig(fig, name)


def is_quick():
    """Whether this is a quick run (the lesson's options, or MINIGRAD_QUICK before setup)."""
    return _runs[0].quick if _runs else _env_flag("MINIGRAD_QUICK")


def out_dir():
    """Where figures and checkpoints go: MINIGRAD_LESSONS_OUT if set, else ``out/`` beside the
    lesson that runs (the current folder in a notebook), or ``out/quick/`` in a quick run, so
    that a quick run never replaces the real figures. Never the installed package's folder."""
    chosen = os.environ.get("MINIGRAD_LESSONS_OUT")
    base = _where[0] if _where else pathlib.Path.cwd()
    path = pathlib.Path(chosen) if chosen else base / "out" / ("quick" if is_quick() else "")
    path.mkdir(parents=True, exist_ok=True)
    return path


QUICK_TITLE = "(quick run)"


def savefig(fig, name):
    """Write ``fig`` to ``<out>/<name>.png``, show it inline in a notebook, close it.
    A quick run's figure says so in its title: tiny data and few epochs, not the lesson's
    result."""
    _translate_figure(fig)
    if is_quick():
        title = fig.get_suptitle()
        in_words = _tr if _lang[0] == "en" or _plt[1] else (lambda english: english)   # no CJK font: English
        fig.suptitle(f"{title} {in_words(QUICK_TITLE)}" if title else
                     in_words(f"{QUICK_TITLE} tiny data, few epochs: not the lesson's result"))
    # A Chinese run's figure keeps its own file: a student who runs both editions keeps both.
    path = out_dir() / f"{name}{'' if _lang[0] == 'en' else '.' + _lang[0]}.png"
    fig.savefig(path, dpi=100)
    if in_notebook():
        from IPython.display import display
        display(fig)
    pyplot().close(fig)
    print(_tr("figure written: {path}", path=path))
    return path


# ----------------------------------------------------------------------------- progress

def progress(iterable=None, desc=None, total=None, **kwargs):
    """A tqdm progress bar around ``iterable``; a plain iterable when tqdm is not installed.

    In a terminal the bar redraws in place. In a notebook it is a widget when ipywidgets is
    installed; otherwise, and when the output is a file or a pipe (a log, a test), the bar is
    written only when it starts and when it ends, on one line of stdout, instead of a stream
    of redraws on stderr."""
    try:
        from tqdm import tqdm
        if in_notebook():
            try:
                import ipywidgets  # noqa: F401 - only to know whether widget bars can draw
                from tqdm.notebook import tqdm
            except ImportError:
                kwargs = {"file": sys.stdout, "mininterval": float("inf"), **kwargs}
        elif not sys.stderr.isatty():
            kwargs = {"file": sys.stdout, "mininterval": float("inf"), "ascii": True, **kwargs}
    except ImportError:
        if desc:
            print(f"{desc} ...")
        return iterable if iterable is not None else range(total or 0)
    kwargs.setdefault("mininterval", 0.5)
    return tqdm(iterable, desc=tr(desc) if desc else desc, total=total, **kwargs)


def set_postfix(bar, **values):
    """Show running numbers (loss, accuracy) on a bar; a no-op without tqdm."""
    if hasattr(bar, "set_postfix"):
        bar.set_postfix({k: f"{v:.4g}" if isinstance(v, float) else v for k, v in values.items()},
                        refresh=False)


# ----------------------------------------------------------------------------- word-vector figures

def scatter_words(ax, E, itos, words, title, pairs=False):
    """Plot the vectors of ``words`` in 2-D. With ``pairs=True`` the words come as pairs
    (man, woman, king, queen, ...): the x axis is then their mean offset (the direction an
    analogy adds) and arrows join each pair; otherwise the first two principal components.
    Returns the 2-D points (len(words), 2)."""
    stoi = {w: i for i, w in enumerate(itos)}
    X = to_host(E[np.array([stoi[w] for w in words])]).astype(np.float64)
    X = X - X.mean(axis=0)
    if pairs:
        offset = (X[1::2] - X[0::2]).mean(axis=0)
        axis1 = offset / np.linalg.norm(offset)
        rest = X - np.outer(X @ axis1, axis1)
        axis2 = np.linalg.svd(rest, full_matrices=False)[2][0]
        P = np.stack([X @ axis1, X @ axis2], axis=1)
        xlabel, ylabel = "mean offset of the pairs", "first principal component of the rest"
    else:
        P = X @ np.linalg.svd(X, full_matrices=False)[2][:2].T
        xlabel, ylabel = "PC 1", "PC 2"
    ax.scatter(P[:, 0], P[:, 1], s=12)
    for (x, y), w in zip(P, words):
        ax.annotate(w, (x, y), fontsize=8)
    if pairs:
        for i in range(0, len(words) - 1, 2):
            ax.annotate("", xy=P[i + 1], xytext=P[i], arrowprops={"arrowstyle": "->", "alpha": 0.5})
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return P
