//! Ranker parity with the public reference formulas.
//!
//! `tests/fixtures/rankers.json` was produced by `scripts/ranker_fixtures.py`
//! (numpy + scipy's `betaln`, B4's `strategy.py` semantics) on seeded random
//! matrices; regenerate with `python3 scripts/ranker_fixtures.py`.

use ouro_rank::matrix::PassMatrix;
use ouro_rank::rankers::{b4, codet, pagerank, pass_rate, PageRankOptions, B4_ALPHA};
use serde_json::Value;

fn cases() -> Vec<Value> {
    let text = include_str!("fixtures/rankers.json");
    let doc: Value = serde_json::from_str(text).expect("fixture is JSON");
    assert_eq!(doc["alpha"].as_f64(), Some(B4_ALPHA));
    doc["cases"].as_array().expect("cases").clone()
}

fn matrix(case: &Value) -> PassMatrix {
    let rows: Vec<Vec<bool>> = case["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_i64() == Some(1))
                .collect()
        })
        .collect();
    PassMatrix::from_rows(
        "fixture",
        (0..rows.len()).map(|i| i.to_string()).collect(),
        rows,
    )
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn assert_close(name: &str, got: &[f64], want: &[f64], rel: f64) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let tol = rel * w.abs().max(1.0);
        assert!(
            (g - w).abs() <= tol,
            "{name}: row {i}: got {g}, reference {w}"
        );
    }
}

#[test]
fn fixtures_cover_enough_cases() {
    assert!(cases().len() >= 20);
}

#[test]
fn pass_rate_and_codet_match_the_reference() {
    for c in cases() {
        let m = matrix(&c);
        let name = c["name"].as_str().unwrap();
        assert_close(name, &pass_rate(&m), &floats(&c["pass_rate"]), 1e-12);
        assert_close(name, &codet(&m), &floats(&c["codet"]), 1e-12);
    }
}

#[test]
fn b4_matches_the_reference_for_every_beta0() {
    for c in cases() {
        let m = matrix(&c);
        let name = c["name"].as_str().unwrap();
        for (beta0, want) in c["b4"].as_object().unwrap() {
            let b: f64 = beta0.parse().unwrap();
            // lgamma differences at arguments near 1e6 lose ~1e-10 absolute.
            assert_close(
                &format!("{name} b4 β0={beta0}"),
                &b4(&m, B4_ALPHA, b),
                &floats(want),
                1e-9,
            );
        }
    }
}

#[test]
fn b4_reference_order_is_reproduced() {
    // Beyond values: the best group chosen is the same as the reference's.
    for c in cases() {
        let m = matrix(&c);
        for (beta0, want) in c["b4"].as_object().unwrap() {
            let want = floats(want);
            let got = b4(&m, B4_ALPHA, beta0.parse().unwrap());
            let best = |v: &[f64]| v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let wi: Vec<usize> = (0..want.len())
                .filter(|&i| want[i] == best(&want))
                .collect();
            let gi: Vec<usize> = (0..got.len()).filter(|&i| got[i] == best(&got)).collect();
            assert_eq!(wi, gi, "{} β0={beta0}", c["name"]);
        }
    }
}

#[test]
fn pagerank_matches_the_numpy_iteration() {
    for c in cases() {
        let m = matrix(&c);
        let name = c["name"].as_str().unwrap();
        for p in c["pagerank"].as_array().unwrap() {
            let o = PageRankOptions {
                damping: p["damping"].as_f64().unwrap(),
                max_iterations: p["max_iterations"].as_u64().unwrap() as u32,
                tolerance: p["tolerance"].as_f64().unwrap(),
            };
            let r = pagerank(&m, &o);
            let label = format!("{name} pagerank {o:?}");
            assert_eq!(
                r.iterations as u64,
                p["iterations"].as_u64().unwrap(),
                "{label}"
            );
            assert_eq!(r.converged, p["converged"].as_bool().unwrap(), "{label}");
            assert_close(&label, &r.code, &floats(&p["code"]), 1e-9);
            assert_close(&label, &r.tests, &floats(&p["tests"]), 1e-9);
        }
    }
}
