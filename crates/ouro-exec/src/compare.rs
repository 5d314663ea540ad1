//! Comparison of a program's stdout with the expected output, done in the
//! trusted parent: the program's own objects never take part.

/// Absolute and relative tolerance for numeric tokens.
pub const FLOAT_TOLERANCE: f64 = 1e-6;

/// True when `actual` matches `expected` up to whitespace and float tolerance.
///
/// Both texts are split into whitespace-separated tokens (so trailing spaces,
/// `\r\n` and blank lines do not matter). Tokens match when equal, or when
/// both are numbers and at least one is written as a float (contains `.`,
/// `e` or `E`) and they agree within [`FLOAT_TOLERANCE`] absolute or
/// relative. Integers compare exactly, so huge integers never round.
pub fn outputs_match(actual: &str, expected: &str) -> bool {
    let mut a = actual.split_whitespace();
    let mut e = expected.split_whitespace();
    loop {
        match (a.next(), e.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) => {
                if x != y && !floats_close(x, y) {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

fn is_float_literal(s: &str) -> bool {
    s.contains(['.', 'e', 'E']) && s.parse::<f64>().is_ok()
}

fn floats_close(x: &str, y: &str) -> bool {
    if !(is_float_literal(x) || is_float_literal(y)) {
        return false;
    }
    let (Ok(a), Ok(b)) = (x.parse::<f64>(), y.parse::<f64>()) else {
        return false;
    };
    if !a.is_finite() || !b.is_finite() {
        return false;
    }
    let diff = (a - b).abs();
    diff <= FLOAT_TOLERANCE || diff <= FLOAT_TOLERANCE * b.abs().max(a.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_differences_do_not_matter() {
        assert!(outputs_match("1 2\r\n3  \n\n", "1 2\n3"));
        assert!(outputs_match("", "\n"));
    }

    #[test]
    fn token_differences_matter() {
        assert!(!outputs_match("1 2", "1 2 3"));
        assert!(!outputs_match("12", "1 2"));
        assert!(!outputs_match("YES", "yes"));
    }

    #[test]
    fn floats_compare_within_tolerance() {
        assert!(outputs_match("0.3333333", "0.333333333"));
        assert!(outputs_match("1.0", "1"));
        assert!(outputs_match("1e6", "1000000.0000001"));
        assert!(!outputs_match("0.33", "0.333333"));
    }

    #[test]
    fn integers_compare_exactly() {
        assert!(!outputs_match(
            "12345678901234567891",
            "12345678901234567890"
        ));
    }

    #[test]
    fn nan_and_inf_never_match_by_tolerance() {
        assert!(!outputs_match("nan", "1.0"));
        assert!(outputs_match("inf", "inf"));
    }
}
