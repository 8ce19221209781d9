"""Splicing: the teacher's lesson with a student's blocks in place of the solutions."""
import ast
import textwrap
import threading

# CPython 3.11 can corrupt its parser's state when two threads build syntax trees at once
# ("AST constructor recursion depth mismatch"); --jobs grades in threads, so one at a time.
_AST_LOCK = threading.Lock()


def parse(source, name="<lesson>", check=False):
    """ast.parse, one thread at a time; ``check`` also compiles (a SyntaxError the parser
    lets through, such as 'return' outside a function)."""
    with _AST_LOCK:
        tree = ast.parse(source, name)
        if check:
            compile(tree, name, "exec")
        return tree


def block_nodes(tree, first, last):
    """The syntax-tree nodes of a spliced lesson that start on lines first..last (a block)."""
    return [n for n in ast.walk(tree) if first <= getattr(n, "lineno", 0) <= last]


def splice(teacher_text, exercises, student_code):
    """The teacher's lesson with ``student_code[k]`` in place of block k (the reference for
    the others). Each BEGIN marker becomes a probe that tells the harness the block started.
    Returns (source, {k: (first, last) line of block k's code in source})."""
    lines = teacher_text.splitlines(keepends=True)
    out, ranges, last = [], {}, 0
    for ex in exercises:
        out += lines[last:ex.begin]
        out.append(f"{ex.indent}_grade_enter({ex.number})  # BEGIN EXERCISE {ex.number}\n")
        code = student_code.get(ex.number)
        body = ex.solution if code is None else textwrap.indent(textwrap.dedent(code), ex.indent)
        body = body.splitlines(keepends=True)
        if body and not body[-1].endswith("\n"):
            body[-1] += "\n"
        ranges[ex.number] = (len(out) + 1, len(out) + len(body))
        out += body
        out.append(f"{ex.indent}# END EXERCISE {ex.number}\n")
        last = ex.end + 1
    out += lines[last:]
    return "".join(out), ranges


def check_statements(tree, exercises):
    """k -> the indexes of the top-level statements of ``tree`` that hold exercise k's checks."""
    where = {ex.number: set() for ex in exercises}
    for index, statement in enumerate(tree.body):
        for node in ast.walk(statement):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "check"):
                continue
            for kw in node.keywords:
                if kw.arg != "exercise":
                    continue
                if isinstance(kw.value, ast.Constant) and kw.value.value in where:
                    where[kw.value.value].add(index)
                elif isinstance(kw.value, ast.Subscript) and isinstance(kw.value.value, ast.Dict):
                    for v in kw.value.value.values:
                        if isinstance(v, ast.Constant) and v.value in where:
                            where[v.value].add(index)
    return where

