//! What the linter reports and how it locates it: the types both the
//! linter (`lint`) and name resolution (`scope`) speak, kept apart so
//! that neither module imports the other's internals.

use ruff_text_size::TextSize;

/// One message, as LintSeq's `file_linter` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintMessage {
    /// The pylint message id, e.g. `E0602`.
    pub code: &'static str,
    /// 1-based line LintSeq deletes for this message.
    pub line: u32,
    pub message: String,
}

/// Byte offset to 1-based line number.
pub(crate) struct LineIndex {
    starts: Vec<u32>,
}

impl LineIndex {
    pub(crate) fn new(source: &str) -> Self {
        let mut starts = vec![0u32];
        let bytes = source.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' => starts.push(i as u32 + 1),
                b'\r' => {
                    if bytes.get(i + 1) == Some(&b'\n') {
                        i += 1;
                    }
                    starts.push(i as u32 + 1);
                }
                _ => {}
            }
            i += 1;
        }
        LineIndex { starts }
    }

    pub(crate) fn line_of(&self, at: TextSize) -> u32 {
        let off = u32::from(at);
        match self.starts.binary_search(&off) {
            Ok(i) => i as u32 + 1,
            Err(i) => i as u32,
        }
    }

    pub(crate) fn line_start(&self, line: u32) -> usize {
        self.starts[(line - 1) as usize] as usize
    }

    pub(crate) fn count(&self) -> u32 {
        self.starts.len() as u32
    }
}

/// Which rules decide that a name is used before it is bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Semantics {
    /// pylint's, as the reference LintSeq uses: only a name's first use in a
    /// scope is checked, and a use inside a `for` that binds the name
    /// anywhere is accepted, so `for x in xs: total += x` with `total = 0`
    /// deleted is clean.
    #[default]
    Pylint,
    /// Every use is checked in statement order, without the loop exemption:
    /// a state is clean only when no local is read (or augmented) before a
    /// binding on the path to it, as pyflakes and CPython see it.
    Strict,
}
