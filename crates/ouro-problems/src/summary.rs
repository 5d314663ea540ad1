//! Counts of a generated problem set, by split, difficulty, family and tag.

use std::collections::BTreeMap;
use std::fmt;

use ouro_data::Problem;

/// How many problems fall in each split, difficulty, family and tag.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub total: usize,
    pub by_split: BTreeMap<String, usize>,
    pub by_difficulty: BTreeMap<String, usize>,
    pub by_family: BTreeMap<String, usize>,
    pub by_tag: BTreeMap<String, usize>,
}

/// Counts problems by split, difficulty, family (from the problem id) and tag.
pub fn summarize(problems: &[Problem]) -> Summary {
    let mut s = Summary {
        total: problems.len(),
        ..Default::default()
    };
    for p in problems {
        *s.by_split.entry(p.split.clone()).or_default() += 1;
        let d = p.difficulty.clone().unwrap_or_else(|| "-".into());
        *s.by_difficulty.entry(d).or_default() += 1;
        let family = p.problem_id.split('/').nth(1).unwrap_or("-").to_string();
        *s.by_family.entry(family).or_default() += 1;
        for t in &p.tags {
            *s.by_tag.entry(t.clone()).or_default() += 1;
        }
    }
    s
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} problems", self.total)?;
        for (title, map) in [
            ("split", &self.by_split),
            ("difficulty", &self.by_difficulty),
            ("family", &self.by_family),
            ("tag", &self.by_tag),
        ] {
            let cells: Vec<String> = map.iter().map(|(k, v)| format!("{k} {v}")).collect();
            writeln!(f, "  {title:<10} {}", cells.join(", "))?;
        }
        Ok(())
    }
}
