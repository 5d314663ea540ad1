//! Edit-level training data: difflib-compatible diffs, LintSeq, replay, FAIT.
