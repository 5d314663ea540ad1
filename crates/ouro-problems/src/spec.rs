//! The contract every problem family implements.

use crate::rng::Rng;
use ouro_python::value::Value;

/// How hard a problem is, by composition depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Difficulty {
    Easy,
    Medium,
    Hard,
}

impl Difficulty {
    pub fn as_str(self) -> &'static str {
        match self {
            Difficulty::Easy => "easy",
            Difficulty::Medium => "medium",
            Difficulty::Hard => "hard",
        }
    }
}

/// What an input is drawn for: filter tests are plain random cases; audit
/// inputs lean on boundary values (constants, their neighbours, empties) so
/// that near-miss programs are told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Filter,
    Audit,
}

/// A near-miss variant of a problem: what a model that almost got it would write.
pub struct MutantSpec {
    /// What changed, e.g. `drop filter 2`, `x > 4 -> x >= 4`.
    pub label: String,
    pub spec: Box<dyn Spec>,
    /// An essential mutant must be distinguishable from the reference; a
    /// problem whose essential mutant is equivalent (a redundant conjunct, a
    /// step with no effect) is rejected at generation time.
    pub essential: bool,
}

/// One procedurally generated problem, before it becomes a `Problem` record.
///
/// The rendered function (`def entry(args):` + docstring + body) and
/// [`Spec::eval`] must agree exactly: eval is how expected values are
/// computed without Python, and the crate's tests check the agreement by
/// running every reference solution under python3.
pub trait Spec {
    /// Family name, the middle part of the problem id (`compose`, `strings`, ...).
    fn family(&self) -> &'static str;
    fn entry(&self) -> String;
    /// The parameter list, e.g. `xs` or `d, k`.
    fn params(&self) -> String;
    /// The task in words (the docstring).
    fn doc(&self) -> String;
    /// The function body: lines indented by four spaces, each ending in `\n`.
    fn body(&self) -> String;
    /// The function's result on `args`, with Python semantics.
    fn eval(&self, args: &[Value]) -> Value;
    fn random_input(&self, rng: &mut Rng, purpose: Purpose) -> Vec<Value>;
    /// Inputs every audit suite includes (empty lists, zero, ...).
    fn edge_inputs(&self) -> Vec<Vec<Value>> {
        Vec::new()
    }
    fn mutants(&self) -> Vec<MutantSpec>;
    fn tags(&self) -> Vec<&'static str>;
    fn difficulty(&self) -> Difficulty;
    /// True when the problem falls in the structural gap reserved for the
    /// `heldout` split (see the crate docs).
    fn structurally_heldout(&self) -> bool {
        false
    }
}
