//! Texts a dataset must not hold: benchmark decontamination, which `ouro-rank`
//! decides (its rule and fingerprints) and the caller hands in as a predicate, so
//! these stages drop what `ouro build` drops without knowing any benchmark.

use std::sync::Arc;

#[derive(Clone)]
pub struct Exclude(Arc<dyn Fn(&str) -> bool + Send + Sync>);

impl Exclude {
    pub fn new(rejects: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        Exclude(Arc::new(rejects))
    }

    /// Whether `text` holds what must not be trained on.
    pub fn rejects(&self, text: &str) -> bool {
        (self.0)(text)
    }
}

impl std::fmt::Debug for Exclude {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Exclude(..)")
    }
}

impl PartialEq for Exclude {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
