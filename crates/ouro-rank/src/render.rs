//! How a program is written into a training row, and how alike two
//! programs are: shared by pair building (`pairs`), repair records
//! (`repair`) and SFT selection (`sft`), which is why it is no one's module.

use serde::{Deserialize, Serialize};

use ouro_python::lexer::significant_tokens;

/// Token-multiset Jaccard similarity in [0, 1].
pub fn similarity(a: &str, b: &str) -> f64 {
    let mut ta = significant_tokens(a);
    let mut tb = significant_tokens(b);
    ta.sort_unstable();
    tb.sort_unstable();
    let (mut i, mut j, mut inter) = (0, 0, 0usize);
    while i < ta.len() && j < tb.len() {
        match ta[i].cmp(tb[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                inter += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = ta.len() + tb.len() - inter;
    if union == 0 {
        1.0
    } else {
        inter as f64 / union as f64
    }
}

/// How code is turned into a completion: plain, inside a ```python fence, or
/// as the continuation of the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompletionFormat {
    /// The whole program (chat / instruct models write the function again).
    #[default]
    Code,
    Fenced,
    /// What follows the prompt (base models continuing a function
    /// signature). Only programs that start with the prompt can be written
    /// so ([`CompletionFormat::fits`]); builds leave the others out.
    Continuation,
}

impl CompletionFormat {
    const FENCE_OPEN: &'static str = "```python\n";

    pub fn render(self, prompt: &str, code: &str) -> String {
        match self {
            CompletionFormat::Code => code.to_string(),
            CompletionFormat::Fenced => {
                let nl = if code.ends_with('\n') { "" } else { "\n" };
                format!("{}{code}{nl}```", Self::FENCE_OPEN)
            }
            CompletionFormat::Continuation => code.strip_prefix(prompt).unwrap_or(code).to_string(),
        }
    }

    /// Whether `code` can be written in this format after `prompt`. A
    /// continuation of a program that does not start with the prompt would
    /// be the whole program after the prompt: a second signature, and a row
    /// no execution judged.
    pub fn fits(self, prompt: &str, code: &str) -> bool {
        self != CompletionFormat::Continuation || code.starts_with(prompt)
    }

    /// Where char 0 of the code lands in the completion (negative: the
    /// prompt prefix was cut), to shift spans.
    pub fn offset(self, prompt: &str, code: &str) -> i64 {
        match self {
            CompletionFormat::Code => 0,
            CompletionFormat::Fenced => Self::FENCE_OPEN.chars().count() as i64,
            CompletionFormat::Continuation if code.starts_with(prompt) => {
                -(prompt.chars().count() as i64)
            }
            CompletionFormat::Continuation => 0,
        }
    }
}
