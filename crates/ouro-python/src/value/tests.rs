use super::eq::{float_as_int, Exact};
use super::*;
use serde_json::json;

fn v(w: serde_json::Value) -> Value {
    decode(&w).unwrap()
}

fn f(x: f64) -> Value {
    Value::Float(x)
}

#[test]
fn one_equals_one_point_zero_equals_true() {
    assert!(py_eq(&Value::Int(1), &f(1.0)));
    assert!(py_eq(&Value::Int(1), &Value::Bool(true)));
    assert!(py_eq(&Value::Bool(true), &f(1.0)));
    assert!(py_eq(&Value::Bool(false), &Value::Int(0)));
    assert!(!py_eq(&Value::Int(2), &Value::Bool(true)));
    assert!(!py_eq(&Value::Int(1), &f(1.5)));
}

#[test]
fn list_is_not_tuple() {
    assert!(!py_eq(&v(json!([1])), &v(json!({"T": [1]}))));
    assert!(py_eq(
        &v(json!({"T": [1, 2]})),
        &v(json!({"T": [1, {"F": "2.0"}]}))
    ));
    assert!(!py_eq(&v(json!([1, 2])), &v(json!([1, 2, 3]))));
}

#[test]
fn negative_zero_equals_zero_and_nan_never_equals() {
    assert!(py_eq(&f(-0.0), &f(0.0)));
    assert!(py_eq(&f(-0.0), &Value::Int(0)));
    let nan = v(json!({"F": "nan"}));
    assert!(!py_eq(&nan, &nan));
    assert!(!py_eq(
        &Value::List(vec![nan.clone()]),
        &Value::List(vec![nan.clone()])
    ));
    assert!(!py_eq(
        &Value::Set(vec![nan.clone()]),
        &Value::Set(vec![nan])
    ));
    assert!(py_eq(&v(json!({"F": "inf"})), &v(json!({"F": "inf"}))));
    assert!(!py_eq(&v(json!({"F": "inf"})), &v(json!({"F": "-inf"}))));
}

#[test]
fn dicts_and_sets_ignore_order_and_use_hash_equality() {
    let a = v(json!({"D": [["a", 1], ["b", [1, 2]]]}));
    let b = v(json!({"D": [["b", [1, {"F": "2.0"}]], ["a", true]]}));
    assert!(py_eq(&a, &b));
    // {1: 'x'} == {1.0: 'x'} == {True: 'x'}
    let k1 = v(json!({"D": [[1, "x"]]}));
    let k2 = v(json!({"D": [[{"F": "1.0"}, "x"]]}));
    let k3 = v(json!({"D": [[true, "x"]]}));
    assert!(py_eq(&k1, &k2) && py_eq(&k2, &k3));
    assert!(!py_eq(&k1, &v(json!({"D": [["1", "x"]]}))));
    assert!(py_eq(
        &v(json!({"S": [3, 1, 2]})),
        &v(json!({"Z": [1, 2, {"F": "3.0"}]}))
    ));
    assert!(!py_eq(&v(json!({"S": [1, 2]})), &v(json!({"S": [1, 3]}))));
    // Frozensets and tuples as keys/elements.
    let s1 = v(json!({"S": [{"Z": [1, 2]}, {"T": [1, "a"]}]}));
    let s2 = v(json!({"S": [{"T": [{"F": "1.0"}, "a"]}, {"Z": [2, 1]}]}));
    assert!(py_eq(&s1, &s2));
    assert!(!py_eq(&v(json!({"D": []})), &v(json!({"S": []}))));
}

#[test]
fn nested_containers_compare_deeply() {
    let a = v(json!([{"T": [1, [2, {"D": [[{"T": [1, 2]}, {"S": [1]}]]}]]}]));
    let b = v(json!([{"T": [true, [{"F": "2.0"}, {"D": [[{"T": [1, 2]}, {"Z": [1]}]]}]]}]));
    assert!(py_eq(&a, &b));
    let c = v(json!([{"T": [1, [2, {"D": [[{"T": [1, 2]}, {"S": [2]}]]}]]}]));
    assert!(!py_eq(&a, &c));
}

#[test]
fn strings_bytes_and_none() {
    assert!(py_eq(&v(json!("ab")), &v(json!("ab"))));
    assert!(!py_eq(&v(json!("ab")), &v(json!({"B": "6162"}))));
    assert!(py_eq(
        &v(json!({"B": "6162"})),
        &Value::Bytes(b"ab".to_vec())
    ));
    assert!(py_eq(&Value::None, &v(json!(null))));
    assert!(!py_eq(&Value::None, &Value::Int(0)));
    assert!(!py_eq(&Value::None, &v(json!([]))));
}

#[test]
fn big_ints_compare_exactly_with_ints_and_floats() {
    let big = v(json!({"I": "10000000000000000"})); // 2^64
    assert!(py_eq(&big, &f(18446744073709551616.0)));
    assert!(!py_eq(&big, &v(json!({"I": "10000000000000001"}))));
    assert!(!py_eq(
        &v(json!({"I": "10000000000000001"})),
        &f(18446744073709551616.0)
    ));
    // A small value sent tagged normalises to Int.
    assert_eq!(v(json!({"I": "-00ff"})), Value::Int(-255));
    assert!(py_eq(
        &v(json!({"I": "-8000000000000000"})),
        &Value::Int(i64::MIN)
    ));
    assert!(py_eq(&f(1e300), &float_int_value(1e300)));
}

fn float_int_value(x: f64) -> Value {
    match float_as_int(x).unwrap() {
        Exact::Small(i) => Value::Int(i),
        Exact::Big(neg, hex) => Value::BigInt { neg, hex },
    }
}

#[test]
fn truthiness_matches_python() {
    for falsy in [
        json!(null),
        json!(false),
        json!(0),
        json!({"F": "0.0"}),
        json!({"F": "-0.0"}),
        json!(""),
        json!([]),
        json!({"T": []}),
        json!({"D": []}),
        json!({"S": []}),
        json!({"B": ""}),
    ] {
        assert!(!truthy(&v(falsy.clone())), "{falsy}");
    }
    for t in [
        json!(true),
        json!(-1),
        json!({"F": "nan"}),
        json!("0"),
        json!([0]),
        json!({"I": "10000000000000000"}),
    ] {
        assert!(truthy(&v(t.clone())), "{t}");
    }
}

#[test]
fn tolerance_and_isclose() {
    assert!(within_tolerance(&f(0.33000001), &f(0.33), &f(1e-6), false));
    assert!(!within_tolerance(&f(0.331), &f(0.33), &f(1e-6), false));
    assert!(within_tolerance(&Value::Int(3), &f(3.0), &f(1e-6), false));
    assert!(!within_tolerance(
        &v(json!({"F": "nan"})),
        &f(1.0),
        &f(1e9),
        false
    ));
    assert!(!within_tolerance(&v(json!("1")), &f(1.0), &f(1.0), false));
    assert!(within_tolerance(
        &Value::Int(1),
        &Value::Int(2),
        &Value::Int(1),
        true
    ));
    assert!(!within_tolerance(
        &Value::Int(1),
        &Value::Int(2),
        &Value::Int(1),
        false
    ));
    assert!(isclose(&f(1.0), &f(1.0 + 1e-10), 1e-9, 0.0));
    assert!(!isclose(&f(1.0), &f(1.001), 1e-9, 0.0));
    assert!(isclose(&f(0.0), &f(1e-12), 1e-9, 1e-9));
    assert!(isclose(
        &v(json!({"F": "inf"})),
        &v(json!({"F": "inf"})),
        1e-9,
        0.0
    ));
    assert!(!isclose(&v(json!("x")), &f(0.0), 1e-9, 1.0));
}

#[test]
fn membership() {
    assert_eq!(contains(&v(json!([1, 2])), &f(2.0)), Some(true));
    assert_eq!(
        contains(&v(json!({"S": [1, 2]})), &Value::Bool(true)),
        Some(true)
    );
    assert_eq!(contains(&v(json!("hello")), &v(json!("ell"))), Some(true));
    assert_eq!(contains(&v(json!("hello")), &Value::Int(1)), None);
    assert_eq!(
        contains(&v(json!({"D": [["a", 1]]})), &v(json!("a"))),
        Some(true)
    );
}

#[test]
fn malformed_wire_values_do_not_decode() {
    for bad in [
        json!(1.5),
        json!({"F": "1.0", "I": "1"}),
        json!({"X": 1}),
        json!({"F": "1.0; x"}),
        json!({"B": "abc"}),
        json!({"D": [[1]]}),
        json!({"I": ""}),
        json!(18446744073709551615u64),
    ] {
        assert!(decode(&bad).is_err(), "{bad}");
    }
}
