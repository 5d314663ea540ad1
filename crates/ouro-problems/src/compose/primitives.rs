//! The primitives a composition is built from: filters, maps and aggregates, each with
//! its one phrasing, its one code form, its semantics and its near-miss mutants.

use crate::rng::Rng;
use ouro_python::value::{py_floordiv, py_mod};

/// Input values of filter tests are drawn from this range.
pub(super) const LO: i64 = -5;
pub(super) const HI: i64 = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterKind {
    Gt,
    Lt,
    Ge,
    Le,
    Ne,
    Div,
    NotDiv,
    Even,
    Odd,
}

pub(super) const FILTER_KINDS: [FilterKind; 9] = [
    FilterKind::Gt,
    FilterKind::Lt,
    FilterKind::Ge,
    FilterKind::Le,
    FilterKind::Ne,
    FilterKind::Div,
    FilterKind::NotDiv,
    FilterKind::Even,
    FilterKind::Odd,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Filter {
    pub kind: FilterKind,
    pub k: i64,
}

impl Filter {
    pub(super) fn sample(kind: FilterKind, rng: &mut Rng) -> Filter {
        let k = match kind {
            FilterKind::Gt => rng.range(0, 14),
            FilterKind::Lt => rng.range(2, 16),
            FilterKind::Ge | FilterKind::Le => rng.range(1, 14),
            FilterKind::Ne => rng.range(0, 12),
            FilterKind::Div | FilterKind::NotDiv => rng.range(3, 5),
            FilterKind::Even | FilterKind::Odd => 2,
        };
        Filter { kind, k }
    }

    pub(super) fn holds(&self, x: i64) -> bool {
        let k = self.k;
        match self.kind {
            FilterKind::Gt => x > k,
            FilterKind::Lt => x < k,
            FilterKind::Ge => x >= k,
            FilterKind::Le => x <= k,
            FilterKind::Ne => x != k,
            FilterKind::Div => py_mod(x, k) == 0,
            FilterKind::NotDiv => py_mod(x, k) != 0,
            FilterKind::Even => py_mod(x, 2) == 0,
            FilterKind::Odd => py_mod(x, 2) == 1,
        }
    }

    pub(super) fn phrase(&self) -> String {
        let k = self.k;
        match self.kind {
            FilterKind::Gt => format!("x is greater than {k}"),
            FilterKind::Lt => format!("x is less than {k}"),
            FilterKind::Ge => format!("x is at least {k}"),
            FilterKind::Le => format!("x is at most {k}"),
            FilterKind::Ne => format!("x is not equal to {k}"),
            FilterKind::Div => format!("x is divisible by {k}"),
            FilterKind::NotDiv => format!("x is not divisible by {k}"),
            FilterKind::Even => "x is even".to_string(),
            FilterKind::Odd => "x is odd".to_string(),
        }
    }

    pub(super) fn code(&self) -> String {
        let k = self.k;
        match self.kind {
            FilterKind::Gt => format!("x > {k}"),
            FilterKind::Lt => format!("x < {k}"),
            FilterKind::Ge => format!("x >= {k}"),
            FilterKind::Le => format!("x <= {k}"),
            FilterKind::Ne => format!("x != {k}"),
            FilterKind::Div => format!("x % {k} == 0"),
            FilterKind::NotDiv => format!("x % {k} != 0"),
            FilterKind::Even => "x % 2 == 0".to_string(),
            FilterKind::Odd => "x % 2 == 1".to_string(),
        }
    }

    /// Near misses: flipped strictness or direction, off-by-one constants, negations.
    pub(super) fn near_misses(&self) -> Vec<Filter> {
        use FilterKind::*;
        let k = self.k;
        let f = |kind, k| Filter { kind, k };
        match self.kind {
            Gt => vec![f(Ge, k), f(Gt, k + 1), f(Gt, k - 1), f(Lt, k)],
            Lt => vec![f(Le, k), f(Lt, k + 1), f(Lt, k - 1), f(Gt, k)],
            Ge => vec![f(Gt, k), f(Ge, k + 1), f(Ge, k - 1), f(Le, k)],
            Le => vec![f(Lt, k), f(Le, k + 1), f(Le, k - 1), f(Ge, k)],
            Ne => vec![f(Ne, k + 1), f(Ne, k - 1)],
            Div => vec![f(NotDiv, k), f(Div, k + 1), f(Div, k - 1)],
            NotDiv => vec![f(Div, k), f(NotDiv, k + 1), f(NotDiv, k - 1)],
            Even => vec![f(Odd, 2)],
            Odd => vec![f(Even, 2)],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapKind {
    Id,
    Mul,
    Add,
    Sub,
    Square,
    Abs,
    FloorDiv,
    Mod,
    Neg,
}

pub(super) const MAP_KINDS: [MapKind; 9] = [
    MapKind::Id,
    MapKind::Mul,
    MapKind::Add,
    MapKind::Sub,
    MapKind::Square,
    MapKind::Abs,
    MapKind::FloorDiv,
    MapKind::Mod,
    MapKind::Neg,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Map {
    pub kind: MapKind,
    pub k: i64,
}

impl Map {
    pub(super) const ID: Map = Map {
        kind: MapKind::Id,
        k: 0,
    };

    pub(super) fn sample(rng: &mut Rng) -> Map {
        let kind = *rng.pick(&MAP_KINDS);
        let k = match kind {
            MapKind::Mul => rng.range(2, 5),
            MapKind::Add | MapKind::Sub => rng.range(1, 9),
            MapKind::FloorDiv => rng.range(2, 4),
            MapKind::Mod => rng.range(3, 7),
            _ => 0,
        };
        Map { kind, k }
    }

    pub(super) fn apply(&self, x: i64) -> i64 {
        let k = self.k;
        match self.kind {
            MapKind::Id => x,
            MapKind::Mul => x * k,
            MapKind::Add => x + k,
            MapKind::Sub => x - k,
            MapKind::Square => x * x,
            MapKind::Abs => x.abs(),
            MapKind::FloorDiv => py_floordiv(x, k),
            MapKind::Mod => py_mod(x, k),
            MapKind::Neg => -x,
        }
    }

    pub(super) fn phrase(&self) -> String {
        let k = self.k;
        match self.kind {
            MapKind::Id => "x".to_string(),
            MapKind::Mul => format!("x times {k}"),
            MapKind::Add => format!("x plus {k}"),
            MapKind::Sub => format!("x minus {k}"),
            MapKind::Square => "x squared".to_string(),
            MapKind::Abs => "the absolute value of x".to_string(),
            MapKind::FloorDiv => format!("x floor-divided by {k}"),
            MapKind::Mod => format!("x modulo {k}"),
            MapKind::Neg => "the negation of x".to_string(),
        }
    }

    pub(super) fn code(&self) -> String {
        let k = self.k;
        match self.kind {
            MapKind::Id => "x".to_string(),
            MapKind::Mul => format!("x * {k}"),
            MapKind::Add => format!("x + {k}"),
            MapKind::Sub => format!("x - {k}"),
            MapKind::Square => "x * x".to_string(),
            MapKind::Abs => "abs(x)".to_string(),
            MapKind::FloorDiv => format!("x // {k}"),
            MapKind::Mod => format!("x % {k}"),
            MapKind::Neg => "-x".to_string(),
        }
    }

    pub(super) fn near_misses(&self) -> Vec<Map> {
        use MapKind::*;
        let k = self.k;
        let m = |kind, k| Map { kind, k };
        let mut out = vec![Map::ID];
        match self.kind {
            Id => out.clear(),
            Mul => out.extend([m(Mul, k + 1), m(Mul, k - 1), m(Add, k)]),
            Add => out.extend([m(Add, k + 1), m(Add, k - 1), m(Sub, k), m(Mul, k)]),
            Sub => out.extend([m(Sub, k + 1), m(Sub, k - 1), m(Add, k)]),
            Square => out.push(m(Abs, 0)),
            Abs => out.push(m(Neg, 0)),
            FloorDiv => out.extend([m(FloorDiv, k + 1), m(FloorDiv, k - 1), m(Mod, k)]),
            Mod => out.extend([m(Mod, k + 1), m(Mod, k - 1), m(FloorDiv, k)]),
            Neg => out.push(m(Abs, 0)),
        }
        out.retain(|m| !(matches!(m.kind, FloorDiv | Mod | Mul) && m.k < 2));
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    Sum,
    Count,
    Max,
    Min,
    List,
    Sorted,
    SortedDesc,
    Distinct,
    Any,
    All,
    First,
}

pub(super) const AGGS: [Agg; 11] = [
    Agg::Sum,
    Agg::Count,
    Agg::Max,
    Agg::Min,
    Agg::List,
    Agg::Sorted,
    Agg::SortedDesc,
    Agg::Distinct,
    Agg::Any,
    Agg::All,
    Agg::First,
];

impl Agg {
    /// Count, Any and All test the filter only: they take no map.
    pub(super) fn takes_map(self) -> bool {
        !matches!(self, Agg::Count | Agg::Any | Agg::All)
    }

    pub(super) fn entry(self) -> &'static str {
        match self {
            Agg::Sum => "total",
            Agg::Count => "count_matching",
            Agg::Max => "largest",
            Agg::Min => "smallest",
            Agg::List => "select",
            Agg::Sorted => "select_sorted",
            Agg::SortedDesc => "select_descending",
            Agg::Distinct => "distinct_sorted",
            Agg::Any => "has_any",
            Agg::All => "all_match",
            Agg::First => "first_match",
        }
    }

    pub(super) fn near_misses(self) -> Vec<Agg> {
        use Agg::*;
        match self {
            Sum => vec![Count],
            Count => vec![],
            Max => vec![Min],
            Min => vec![Max],
            List => vec![Sorted],
            Sorted => vec![List, SortedDesc, Distinct],
            SortedDesc => vec![Sorted, List],
            Distinct => vec![Sorted],
            Any => vec![All],
            All => vec![Any],
            First => vec![Max],
        }
    }
}
