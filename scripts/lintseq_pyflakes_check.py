#!/usr/bin/env python3
"""Independent check of LintSeq states with pyflakes.

Reads a JSON list of program texts (every intermediate state of every
sequence) on stdin, runs pyflakes on each, and prints a JSON report:

  {"states": N,
   "categories": {pyflakes MessageClass: count},
   "accepted": {disagreement category: count},
   "errors": {MessageClass: count},
   "examples": {category or class: {"message", "state"}},
   "pylint": {...}}            # only when pylint is importable

ouro's linter reproduces pylint (what the reference LintSeq runs), and
pylint accepts some names pyflakes calls undefined. Each pyflakes
undefined-name message is put in one of these accepted categories when the
state shows the pylint rule behind it (pylint 4.1.4, variables checker):

  for-loop-binds-name    the use sits inside a `for` (in a function) that
                         binds the name somewhere, e.g. `m = max(d, m)` after
                         `m = 0` was deleted (utils.is_defined_before)
  if-body-assigns-name   the use sits inside an `if` whose body assigns the
                         name at its top level (utils.is_defined_before)
  later-use-after-first  an earlier use of the name in the same function was
                         accepted, and pylint checks only the first use of a
                         local name (NamesConsumer.consumed)

Anything else pyflakes calls an error (syntax errors, other undefined names,
return/yield/break/continue outside their blocks, ...) is in "errors", which
the caller asserts empty. The remaining pyflakes classes (unused imports and
variables, redefinitions, ...) are style warnings outside pylint's error set
and are only counted in "categories".

When pylint is importable, every state with an accepted disagreement is also
run through `pylint --disable=C,R` and "pylint" reports how many of them
pylint finds clean (it should be all of them).
Exit status 0 always; the caller decides what to assert.
"""
import ast
import json
import sys

from pyflakes import api, reporter as rep

ERROR_CLASSES = {
    "UndefinedName", "UndefinedLocal", "UndefinedExport", "ReturnOutsideFunction",
    "YieldOutsideFunction", "ContinueOutsideLoop", "BreakOutsideLoop",
    "DuplicateArgument", "TooManyExpressionsInStarredAssignment",
    "TwoStarredExpressions", "SyntaxError",
}
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


class Collect(rep.Reporter):
    def __init__(self):
        self.found = []

    def unexpectedError(self, filename, msg):
        self.found.append(("SyntaxError", str(msg), None))

    def syntaxError(self, filename, msg, lineno, offset, text):
        self.found.append(("SyntaxError", f"line {lineno}: {msg}", None))

    def flake(self, message):
        self.found.append((type(message).__name__, str(message), message))


def parents(tree):
    out = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            out[child] = node
    return out


def binds(node, name):
    """Whether `node`'s subtree binds `name` (not in nested scopes)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Store):
            return True
        for c in ast.iter_child_nodes(n):
            if not isinstance(c, FUNCTIONS + (ast.ClassDef,)):
                stack.append(c)
    return False


def binds_certainly(loop, name, use_ancestors):
    """Whether `loop` binds `name` outside any `if` that pylint calls
    uncertain for this use: one not around the use, without break/continue,
    and not binding on every branch."""
    stack = [loop]
    while stack:
        n = stack.pop()
        if (isinstance(n, ast.If) and n not in use_ancestors
                and not any(isinstance(b, (ast.Break, ast.Continue)) for b in ast.walk(n))
                and not (n.orelse and binds(ast.Module(n.body, []), name)
                         and binds(ast.Module(n.orelse, []), name))):
            continue
        if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Store):
            return True
        for c in ast.iter_child_nodes(n):
            if not isinstance(c, FUNCTIONS + (ast.ClassDef,)):
                stack.append(c)
    return False


def direct_assign(body, name):
    return any(isinstance(s, ast.Assign)
               and any(isinstance(t, ast.Name) and t.id == name for t in s.targets)
               for s in body)


def classify(tree, par, lineno, col, name):
    """The accepted category of an undefined-name message, or None."""
    # Loads, and the targets of augmented assignments (`x += 1`).
    use = next((n for n in ast.walk(tree)
                if isinstance(n, ast.Name) and n.id == name
                and n.lineno == lineno and n.col_offset == col), None)
    if use is None:
        return None
    node, func = use, None
    chain = []
    while node in par:
        node = par[node]
        if isinstance(node, FUNCTIONS):
            func = node
            break
        chain.append(node)
    if func is None:
        return None
    for anc in chain:
        if isinstance(anc, (ast.For, ast.AsyncFor)) and binds_certainly(anc, name, chain):
            return "for-loop-binds-name"
        if isinstance(anc, ast.If) and direct_assign(anc.body, name):
            return "if-body-assigns-name"
    if binds(func, name):
        earlier = [n for n in ast.walk(func)
                   if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)
                   and (n.lineno, n.col_offset) < (lineno, col)]
        if earlier:
            return "later-use-after-first"
    return None


def pylint_clean(texts):
    """How many of `texts` pylint (the reference's run) finds clean."""
    import io
    import os
    import tempfile
    from pylint.lint import Run
    from pylint.reporters.text import TextReporter

    clean, dirty = 0, []
    with tempfile.TemporaryDirectory() as d:
        for i, t in enumerate(texts):
            path = os.path.join(d, f"state{i}.py")
            with open(path, "w") as f:
                f.write(t)
            out = io.StringIO()
            Run(["--disable=C,R", "--reports=n", "--score=n",
                 "--msg-template={C}|{msg_id}|{line}|{msg}", path],
                reporter=TextReporter(out), exit=False)
            bad = [l for l in out.getvalue().splitlines()
                   if l.count("|") >= 3 and (l[0] in "EF" or l.split("|")[1] in ("W0311", "W0231"))]
            if bad:
                dirty.append({"messages": bad, "state": t})
            else:
                clean += 1
    return {"checked": len(texts), "clean": clean, "dirty": dirty[:5]}


def main():
    states = json.load(sys.stdin)
    categories, accepted, errors, examples = {}, {}, {}, {}
    disagreeing = []
    for text in states:
        r = Collect()
        api.check(text, "state.py", r)
        tree = par = None
        state_accepted = False
        for cls, msg, m in r.found:
            categories[cls] = categories.get(cls, 0) + 1
            if cls not in ERROR_CLASSES:
                continue
            kind = None
            if cls in ("UndefinedName", "UndefinedLocal") and m is not None:
                if tree is None:
                    tree = ast.parse(text)
                    par = parents(tree)
                name = m.message_args[0]
                kind = classify(tree, par, m.lineno, m.col, name)
            if kind is None:
                errors[cls] = errors.get(cls, 0) + 1
                examples.setdefault(cls, {"message": msg, "state": text})
            else:
                accepted[kind] = accepted.get(kind, 0) + 1
                examples.setdefault(kind, {"message": msg, "state": text})
                state_accepted = True
        if state_accepted:
            disagreeing.append(text)
    report = {"states": len(states), "categories": categories, "accepted": accepted,
              "accepted_states": len(disagreeing), "errors": errors, "examples": examples}
    try:
        import pylint  # noqa: F401
    except ImportError:
        pass
    else:
        if disagreeing:
            report["pylint"] = pylint_clean(disagreeing)
    json.dump(report, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
