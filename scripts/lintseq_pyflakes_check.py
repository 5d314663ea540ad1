#!/usr/bin/env python3
"""Independent check of LintSeq states with pyflakes.

Reads a JSON list of program texts (every intermediate state of every
sequence) on stdin, runs pyflakes on each, and prints a JSON report:
{"states": N, "categories": {MessageClass: count}, "errors": {...}, "examples": {...}}.

"errors" holds the categories that mean the state is not valid for LintSeq
(syntax errors and undefined names); the other categories are style warnings
pylint's error set ignores too (unused imports/variables, redefinitions, ...),
and are reported as disagreements in kind rather than failures.
Exit status 0 always; the caller decides what to assert.
"""
import json
import sys

from pyflakes import api, messages, reporter as rep

ERROR_CLASSES = {
    "UndefinedName", "UndefinedLocal", "UndefinedExport", "ReturnOutsideFunction",
    "YieldOutsideFunction", "ContinueOutsideLoop", "BreakOutsideLoop",
    "DuplicateArgument", "TooManyExpressionsInStarredAssignment",
    "TwoStarredExpressions", "SyntaxError",
}


class Collect(rep.Reporter):
    def __init__(self):
        self.found = []

    def unexpectedError(self, filename, msg):
        self.found.append(("SyntaxError", str(msg)))

    def syntaxError(self, filename, msg, lineno, offset, text):
        self.found.append(("SyntaxError", f"line {lineno}: {msg}"))

    def flake(self, message):
        self.found.append((type(message).__name__, str(message)))


def main():
    states = json.load(sys.stdin)
    categories, examples = {}, {}
    for text in states:
        r = Collect()
        api.check(text, "state.py", r)
        for cls, msg in r.found:
            categories[cls] = categories.get(cls, 0) + 1
            examples.setdefault(cls, {"message": msg, "state": text})
    errors = {k: v for k, v in categories.items() if k in ERROR_CLASSES}
    json.dump({"states": len(states), "categories": categories, "errors": errors,
               "examples": {k: examples[k] for k in errors}}, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
