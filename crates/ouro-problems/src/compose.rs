//! The main family: one-line compositions of filter x map x aggregate over a
//! list of ints, e.g. `return sum(x * 2 for x in xs if x % 3 == 0 and x > 4)`.
//!
//! Every primitive has exactly one phrasing and one code form, so a small
//! model can learn the text-to-code mapping; compositions (up to two filters
//! joined by `and`/`or`, a map, one of eleven aggregates, constants) make the
//! space far too large to memorise.

mod primitives;

use crate::rng::Rng;
use crate::spec::{Difficulty, MutantSpec, Purpose, Spec};
use ouro_python::value::Value;
pub use primitives::{Agg, Filter, FilterKind, Map, MapKind};
use primitives::{AGGS, FILTER_KINDS, HI, LO};

/// Filter kinds that, in a two-filter composition, never appear in first
/// position outside the `heldout` split: the structural gap.
pub const HELDOUT_LEAD_FILTERS: [FilterKind; 3] =
    [FilterKind::Div, FilterKind::Lt, FilterKind::Odd];

/// A compositional problem: up to two filters, a map, an aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compose {
    pub filters: Vec<Filter>,
    /// Joins two filters: `and` (true) or `or` (false).
    pub conjunction: bool,
    pub map: Map,
    pub agg: Agg,
}

impl Compose {
    /// Draws a composition whose condition (if any) keeps some but not all
    /// values: a tautology such as `x <= 1 or x >= 2` is never drawn.
    pub fn sample(rng: &mut Rng) -> Compose {
        loop {
            let c = Compose::sample_any(rng);
            let kept = (LO - 5..=HI + 5).filter(|&x| c.keeps(x)).count();
            if c.filters.is_empty() || (kept > 0 && kept < (HI - LO + 11) as usize) {
                return c;
            }
        }
    }

    fn sample_any(rng: &mut Rng) -> Compose {
        let agg = *rng.pick(&AGGS);
        let needs_filter = !agg.takes_map();
        let n_filters = match rng.below(10) {
            0..=1 if !needs_filter => 0,
            0..=4 => 1,
            _ => 2,
        };
        let mut filters = Vec::new();
        while filters.len() < n_filters {
            let kind = *rng.pick(&FILTER_KINDS);
            if filters.iter().any(|f: &Filter| f.kind == kind) {
                continue;
            }
            filters.push(Filter::sample(kind, rng));
        }
        let conjunction = rng.chance(3, 4);
        let map = if agg.takes_map() {
            Map::sample(rng)
        } else {
            Map::ID
        };
        Compose {
            filters,
            conjunction,
            map,
            agg,
        }
    }

    fn selected(&self, xs: &[i64]) -> Vec<i64> {
        xs.iter()
            .copied()
            .filter(|&x| self.keeps(x))
            .map(|x| self.map.apply(x))
            .collect()
    }

    fn keeps(&self, x: i64) -> bool {
        match self.filters.as_slice() {
            [] => true,
            [f] => f.holds(x),
            [a, b] if self.conjunction => a.holds(x) && b.holds(x),
            [a, b] => a.holds(x) || b.holds(x),
            _ => unreachable!("at most two filters"),
        }
    }

    fn joiner(&self) -> &'static str {
        if self.conjunction {
            " and "
        } else {
            " or "
        }
    }

    fn where_phrase(&self) -> String {
        self.filters
            .iter()
            .map(Filter::phrase)
            .collect::<Vec<_>>()
            .join(self.joiner())
    }

    fn condition(&self) -> String {
        self.filters
            .iter()
            .map(Filter::code)
            .collect::<Vec<_>>()
            .join(self.joiner())
    }

    fn with(&self, change: impl FnOnce(&mut Compose)) -> Box<dyn Spec> {
        let mut m = self.clone();
        change(&mut m);
        Box::new(m)
    }
}

impl Spec for Compose {
    fn family(&self) -> &'static str {
        "compose"
    }

    fn entry(&self) -> String {
        self.agg.entry().to_string()
    }

    fn params(&self) -> String {
        "xs".to_string()
    }

    fn doc(&self) -> String {
        let m = self.map.phrase();
        let w = if self.filters.is_empty() {
            String::new()
        } else {
            format!(" where {}", self.where_phrase())
        };
        match self.agg {
            Agg::Sum => format!("Return the sum of {m} for each x in xs{w}."),
            Agg::Count => format!("Return the number of x in xs{w}."),
            Agg::Max => {
                format!("Return the largest {m} for each x in xs{w}, or 0 if there is none.")
            }
            Agg::Min => {
                format!("Return the smallest {m} for each x in xs{w}, or 0 if there is none.")
            }
            Agg::List => format!("Return the list of {m} for each x in xs{w}."),
            Agg::Sorted => format!("Return the sorted list of {m} for each x in xs{w}."),
            Agg::SortedDesc => {
                format!(
                    "Return the list of {m} for each x in xs{w}, sorted from largest to smallest."
                )
            }
            Agg::Distinct => {
                format!("Return the sorted list of distinct values of {m} for each x in xs{w}.")
            }
            Agg::Any => format!(
                "Return whether some x in xs is such that {}.",
                self.where_phrase()
            ),
            Agg::All => format!(
                "Return whether every x in xs is such that {}.",
                self.where_phrase()
            ),
            Agg::First => {
                format!("Return the first {m} for each x in xs{w}, or -1 if there is none.")
            }
        }
    }

    fn body(&self) -> String {
        let m = self.map.code();
        let c = if self.filters.is_empty() {
            String::new()
        } else {
            format!(" if {}", self.condition())
        };
        let expr = match self.agg {
            Agg::Sum => format!("sum({m} for x in xs{c})"),
            Agg::Count => format!("len([x for x in xs{c}])"),
            Agg::Max => format!("max(({m} for x in xs{c}), default=0)"),
            Agg::Min => format!("min(({m} for x in xs{c}), default=0)"),
            Agg::List => format!("[{m} for x in xs{c}]"),
            Agg::Sorted => format!("sorted({m} for x in xs{c})"),
            Agg::SortedDesc => format!("sorted(({m} for x in xs{c}), reverse=True)"),
            Agg::Distinct => format!("sorted(set({m} for x in xs{c}))"),
            Agg::Any => format!("any({} for x in xs)", self.condition()),
            Agg::All => format!("all({} for x in xs)", self.condition()),
            Agg::First => format!("next(({m} for x in xs{c}), -1)"),
        };
        format!("    return {expr}\n")
    }

    fn eval(&self, args: &[Value]) -> Value {
        let xs = args[0].as_ints();
        let sel = self.selected(&xs);
        match self.agg {
            Agg::Sum => Value::Int(sel.iter().sum()),
            Agg::Count => Value::Int(sel.len() as i64),
            Agg::Max => Value::Int(sel.iter().copied().max().unwrap_or(0)),
            Agg::Min => Value::Int(sel.iter().copied().min().unwrap_or(0)),
            Agg::List => Value::ints(&sel),
            Agg::Sorted => {
                let mut s = sel;
                s.sort();
                Value::ints(&s)
            }
            Agg::SortedDesc => {
                let mut s = sel;
                s.sort_by(|a, b| b.cmp(a));
                Value::ints(&s)
            }
            Agg::Distinct => {
                let mut s = sel;
                s.sort();
                s.dedup();
                Value::ints(&s)
            }
            Agg::Any => Value::Bool(xs.iter().any(|&x| self.keeps(x))),
            Agg::All => Value::Bool(xs.iter().all(|&x| self.keeps(x))),
            Agg::First => Value::Int(sel.first().copied().unwrap_or(-1)),
        }
    }

    fn random_input(&self, rng: &mut Rng, purpose: Purpose) -> Vec<Value> {
        let xs: Vec<i64> = match purpose {
            Purpose::Filter => {
                let n = rng.range(4, 8);
                (0..n).map(|_| rng.range(LO, HI)).collect()
            }
            Purpose::Audit => {
                // Boundary values of every constant, mixed with random ones.
                let mut pool: Vec<i64> = vec![0, 1, -1];
                for f in &self.filters {
                    pool.extend([f.k - 1, f.k, f.k + 1, 2 * f.k, -f.k]);
                }
                let n = rng.range(1, 6);
                (0..n)
                    .map(|_| {
                        if rng.chance(1, 2) {
                            *rng.pick(&pool)
                        } else {
                            rng.range(LO, HI)
                        }
                    })
                    .collect()
            }
        };
        vec![Value::ints(&xs)]
    }

    fn edge_inputs(&self) -> Vec<Vec<Value>> {
        vec![vec![Value::ints(&[])]]
    }

    fn mutants(&self) -> Vec<MutantSpec> {
        let mut out = Vec::new();
        let mut push = |label: String, spec: Box<dyn Spec>, essential: bool| {
            out.push(MutantSpec {
                label,
                spec,
                essential,
            })
        };
        for i in 0..self.filters.len() {
            let label = format!("drop condition `{}`", self.filters[i].code());
            // Any/All need a condition; Count without one is `len([x for x in xs])`.
            if self.filters.len() == 2 || self.agg != Agg::Any && self.agg != Agg::All {
                push(
                    label,
                    self.with(|m| {
                        m.filters.remove(i);
                    }),
                    true,
                );
            }
            for nm in self.filters[i].near_misses() {
                if nm.kind == self.filters[i].kind
                    && nm.k < 2
                    && matches!(nm.kind, FilterKind::Div | FilterKind::NotDiv)
                {
                    continue;
                }
                let label = format!("`{}` -> `{}`", self.filters[i].code(), nm.code());
                push(label, self.with(|m| m.filters[i] = nm), false);
            }
        }
        if self.filters.len() == 2 {
            let label = format!(
                "`{}` -> `{}`",
                self.joiner().trim(),
                if self.conjunction { "or" } else { "and" }
            );
            push(label, self.with(|m| m.conjunction = !m.conjunction), false);
        }
        for nm in self.map.near_misses() {
            let essential = nm.kind == MapKind::Id;
            let label = format!("`{}` -> `{}`", self.map.code(), nm.code());
            push(label, self.with(|m| m.map = nm), essential);
        }
        for agg in self.agg.near_misses() {
            let label = format!("`{}` -> `{}`", self.agg.entry(), agg.entry());
            push(
                label,
                self.with(|m| {
                    m.agg = agg;
                    if !agg.takes_map() {
                        m.map = Map::ID;
                    }
                }),
                false,
            );
        }
        out
    }

    fn tags(&self) -> Vec<&'static str> {
        let mut t = vec!["lists", "comprehensions"];
        if !self.filters.is_empty() {
            t.extend(["filtering", "conditionals"]);
        }
        if self.filters.len() == 2 || matches!(self.agg, Agg::Any | Agg::All) {
            t.push("boolean-logic");
        }
        if self.map.kind != MapKind::Id {
            t.push("mapping");
        }
        if matches!(
            self.map.kind,
            MapKind::Mul | MapKind::Add | MapKind::Sub | MapKind::Square | MapKind::Neg
        ) {
            t.push("arithmetic");
        }
        if matches!(
            self.map.kind,
            MapKind::Abs | MapKind::FloorDiv | MapKind::Mod
        ) || self.filters.iter().any(|f| {
            matches!(
                f.kind,
                FilterKind::Div | FilterKind::NotDiv | FilterKind::Even | FilterKind::Odd
            )
        }) {
            t.push("math");
        }
        match self.agg {
            Agg::Sum | Agg::Max | Agg::Min | Agg::Any | Agg::All => t.push("aggregation"),
            Agg::Count => t.extend(["aggregation", "counting"]),
            Agg::Sorted | Agg::SortedDesc => t.push("sorting"),
            Agg::Distinct => t.extend(["sorting", "sets"]),
            Agg::First => t.push("searching"),
            Agg::List => {}
        }
        if matches!(self.agg, Agg::Any) {
            t.push("searching");
        }
        if !self.filters.is_empty() && self.map.kind != MapKind::Id {
            t.push("composition");
        }
        t
    }

    fn difficulty(&self) -> Difficulty {
        match self.filters.len() {
            0 => Difficulty::Easy,
            1 if self.map.kind == MapKind::Id => Difficulty::Easy,
            1 => Difficulty::Medium,
            _ => Difficulty::Hard,
        }
    }

    fn structurally_heldout(&self) -> bool {
        self.filters.len() == 2 && HELDOUT_LEAD_FILTERS.contains(&self.filters[0].kind)
    }
}
