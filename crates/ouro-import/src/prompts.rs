//! Problems found by their prompt text, for tools that write no id: OpenRLHF's
//! `batch_inference` (`{input, output}`) and open-instruct's rejection-sampling
//! generation (`{messages, model_completion}`).
//!
//! The text a tool recorded is the problem's prompt as it is, or that prompt inside
//! a chat template or an input template (`<|im_start|>user\n{prompt}<|im_end|>...`,
//! `"Complete this function:\n{prompt}"`). An exact match wins; otherwise the
//! problem whose prompt the text contains. Two problems that fit equally well are an
//! error naming both, never a silent pick.

use std::collections::HashMap;
use std::sync::OnceLock;

use aho_corasick::AhoCorasick;
use ouro_data::Problem;

/// Which problem a recorded prompt text belongs to.
pub(crate) enum PromptMatch {
    One(String),
    /// Several problems fit the text equally well: their ids, sorted.
    Ambiguous(Vec<String>),
    None,
}

pub(crate) struct PromptIndex<'a> {
    /// Normalised prompt text ([`normalise`]) → the ids of the problems with that prompt.
    by_text: HashMap<String, Vec<&'a str>>,
    /// The distinct non-empty prompt texts, for the containment search.
    texts: Vec<String>,
    /// Built on the first text that matches no prompt exactly.
    searcher: OnceLock<Option<AhoCorasick>>,
}

impl<'a> PromptIndex<'a> {
    pub(crate) fn new(problems: &'a [Problem]) -> Self {
        let mut by_text: HashMap<String, Vec<&str>> = HashMap::new();
        for p in problems {
            let text = normalise(&p.prompt);
            if !text.is_empty() {
                by_text.entry(text).or_default().push(&p.problem_id);
            }
        }
        let mut texts: Vec<String> = by_text.keys().cloned().collect();
        texts.sort_unstable();
        PromptIndex {
            by_text,
            texts,
            searcher: OnceLock::new(),
        }
    }

    fn ids(&self, text: &str) -> PromptMatch {
        match self.by_text.get(text).map(Vec::as_slice) {
            Some([one]) => PromptMatch::One(one.to_string()),
            Some(many) => {
                let mut ids: Vec<String> = many.iter().map(|s| s.to_string()).collect();
                ids.sort();
                PromptMatch::Ambiguous(ids)
            }
            None => PromptMatch::None,
        }
    }

    /// The problem whose prompt `recorded` is, or contains.
    pub(crate) fn find(&self, recorded: &str) -> PromptMatch {
        let recorded = normalise(recorded);
        let recorded = recorded.as_str();
        if let found @ (PromptMatch::One(_) | PromptMatch::Ambiguous(_)) = self.ids(recorded) {
            return found;
        }
        let searcher = self
            .searcher
            .get_or_init(|| AhoCorasick::new(&self.texts).ok());
        let Some(searcher) = searcher else {
            return PromptMatch::None;
        };
        let mut contained: Vec<&str> = searcher
            .find_overlapping_iter(recorded)
            .map(|m| self.texts[m.pattern().as_usize()].as_str())
            .collect();
        contained.sort_unstable();
        contained.dedup();
        // A prompt inside another contained prompt (a shorter problem's stub within
        // a longer one's) is not a rival: keep the outermost texts.
        let outer: Vec<&str> = contained
            .iter()
            .copied()
            .filter(|t| !contained.iter().any(|o| o.len() > t.len() && o.contains(t)))
            .collect();
        match outer.as_slice() {
            [] => PromptMatch::None,
            [one] => self.ids(one),
            many => {
                let mut ids: Vec<String> = many
                    .iter()
                    .flat_map(|t| self.by_text[*t].iter().map(|s| s.to_string()))
                    .collect();
                ids.sort();
                PromptMatch::Ambiguous(ids)
            }
        }
    }
}

/// Prompt text as compared: CRLF line ends as LF (a tool on Windows, or a template
/// that writes them, would otherwise miss the whole prompt and find a shorter one
/// inside it), and no surrounding whitespace.
fn normalise(text: &str) -> String {
    text.replace("\r\n", "\n").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(id: &str, prompt: &str) -> Problem {
        Problem {
            problem_id: id.into(),
            source: "test".into(),
            prompt: prompt.into(),
            entry_point: String::new(),
            language: "python".into(),
            starter_code: String::new(),
            reference_solution: None,
            tests: ouro_data::Tests::AssertScript {
                script: String::new(),
            },
            audit_tests: None,
            difficulty: None,
            tags: vec![],
            split: "test".into(),
        }
    }

    fn found(index: &PromptIndex, text: &str) -> Result<String, Vec<String>> {
        match index.find(text) {
            PromptMatch::One(id) => Ok(id),
            PromptMatch::Ambiguous(ids) => Err(ids),
            PromptMatch::None => Err(vec![]),
        }
    }

    #[test]
    fn exact_then_contained_and_never_a_silent_pick() {
        let problems = vec![
            problem("A", "def f(x):\n    \"\"\"Add one.\"\"\"\n"),
            problem("B", "def g(x):\n    \"\"\"Double.\"\"\"\n"),
            problem("B2", "def g(x):\n    \"\"\"Double.\"\"\"\n"),
            problem(
                "C",
                "def f(x):\n    \"\"\"Add one.\"\"\"\n    # and then more\n",
            ),
        ];
        let index = PromptIndex::new(&problems);
        assert_eq!(
            found(&index, "def f(x):\n    \"\"\"Add one.\"\"\"\n"),
            Ok("A".into())
        );
        let chat = "<|im_start|>user\ndef f(x):\n    \"\"\"Add one.\"\"\"\n<|im_end|>\n<|im_start|>assistant\n";
        assert_eq!(found(&index, chat), Ok("A".into()));
        // C's prompt contains A's: the text holding C's is C's.
        let longer = "Complete:\ndef f(x):\n    \"\"\"Add one.\"\"\"\n    # and then more\n\n";
        assert_eq!(found(&index, longer), Ok("C".into()));
        assert_eq!(
            found(&index, "def g(x):\n    \"\"\"Double.\"\"\""),
            Err(vec!["B".into(), "B2".into()])
        );
        let both = "def f(x):\n    \"\"\"Add one.\"\"\"\n\ndef g(x):\n    \"\"\"Double.\"\"\"\n";
        assert_eq!(
            found(&index, both),
            Err(vec!["A".into(), "B".into(), "B2".into()])
        );
        assert_eq!(found(&index, "something else"), Err(vec![]));
        // C's prompt with CRLF line ends is still C's, not A's (which it contains).
        assert_eq!(found(&index, &longer.replace('\n', "\r\n")), Ok("C".into()));
    }
}
