use super::*;
use crate::protocol::Run;

fn resp(result: &str, killed: Option<&str>) -> Response {
    Response {
        runs: vec![Run {
            exit_code: Some(0),
            signal: None,
            killed: killed.map(str::to_string),
            cpu_ms: 1.0,
            wall_ms: 1.0,
            max_rss_kb: 1,
            result: result.into(),
            stdout: String::new(),
            stderr_tail: String::new(),
            leftovers: 0,
        }],
        ntests: Some(2),
        test_error: None,
    }
}

const SCRIPT: &str = "def check(candidate):\n    x = [1]\n    assert candidate(x) == [2]\n    for i in range(2):\n        assert abs(candidate(i) - 0.5) < 1e-6\n";

#[test]
fn spy_records_become_cases_with_trusted_values() {
    let p = plan(SCRIPT, "f");
    let lines = "n C {\"a\":0,\"args\":[[1]],\"kw\":[],\"v\":[[2]]}\n\
                 n C {\"a\":1,\"args\":[0],\"kw\":[],\"v\":[{\"F\":\"0.5\"},{\"F\":\"1e-06\"}]}\n\
                 n C {\"a\":1,\"args\":[1],\"kw\":[[\"k\",1]],\"v\":[{\"F\":\"0.5\"},{\"F\":\"1e-06\"}]}\n\
                 n D\n";
    let c = from_spy(&p, Some(&resp(lines, None)), "n");
    assert_eq!(c.judge(), Judge::Isolated);
    assert_eq!(c.cases.len(), 3);
    assert_eq!(c.cases[0].test, 0);
    assert_eq!(
        c.cases[0].check,
        Check::Eq(Value::List(vec![Value::Int(2)]))
    );
    assert_eq!(c.cases[2].test, 1);
    assert_eq!(c.cases[2].call, json!({"a": [1], "k": [["k", 1]], "w": []}));
    assert!(c.cases[1].check.holds(&Value::Float(0.5000001)));
    assert!(!c.cases[1].check.holds(&Value::Float(0.6)));
    assert_eq!((c.asserts, c.asserts_isolated), (2, 2));
}

#[test]
fn a_step_the_spy_cannot_reproduce_falls_back_in_process() {
    let p = plan(SCRIPT, "f");
    let lines = "n C {\"a\":0,\"args\":[[1]],\"kw\":[],\"v\":[[2]]}\nn F 2 not_plain_type\nn D\n";
    let c = from_spy(&p, Some(&resp(lines, None)), "n");
    assert_eq!(c.judge(), Judge::Mixed);
    assert_eq!(c.isolated, vec![true, false]);
    assert_eq!(c.skip(), vec![0]);
    assert_eq!(c.cases.len(), 1);
}

#[test]
fn a_failed_or_killed_spy_pass_leaves_everything_in_process() {
    let p = plan(SCRIPT, "f");
    for (lines, killed) in [
        ("n X setup_NameError\n", None),
        ("n C {\"a\":0}\n", None),
        ("n D\n", Some("wall")),
    ] {
        let c = from_spy(&p, Some(&resp(lines, killed)), "n");
        assert_eq!(c.judge(), Judge::InProcess, "{lines}");
        assert_eq!(c.ntests, 2);
    }
    // Lines without the nonce are not the spy's.
    let c = from_spy(&p, Some(&resp("m D\n", None)), "n");
    assert_eq!(c.judge(), Judge::InProcess);
}

#[test]
fn undecodable_expected_values_are_not_compiled() {
    let p = plan(SCRIPT, "f");
    let lines = "n C {\"a\":0,\"args\":[[1]],\"kw\":[],\"v\":[{\"Q\":1}]}\nn D\n";
    let c = from_spy(&p, Some(&resp(lines, None)), "n");
    assert_eq!(c.isolated, vec![false, true]);
}
