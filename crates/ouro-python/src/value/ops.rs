//! Python's integer division, modulo and slicing on Rust integers and slices.

/// Python's `a // b` for `b != 0` (floors toward negative infinity).
pub fn py_floordiv(a: i64, b: i64) -> i64 {
    let q = a / b;
    if (a % b != 0) && ((a < 0) != (b < 0)) {
        q - 1
    } else {
        q
    }
}

/// Python's `a % b` for `b != 0` (takes the sign of `b`).
pub fn py_mod(a: i64, b: i64) -> i64 {
    a - b * py_floordiv(a, b)
}

/// Python's `seq[start:stop:step]` indices over a sequence of length `len`.
pub fn py_slice_indices(
    len: usize,
    start: Option<i64>,
    stop: Option<i64>,
    step: i64,
) -> Vec<usize> {
    assert!(step != 0, "slice step 0");
    let n = len as i64;
    let clamp = |v: i64, lo: i64, hi: i64| v.max(lo).min(hi);
    let norm = |v: i64| if v < 0 { v + n } else { v };
    let mut out = Vec::new();
    if step > 0 {
        let s = start.map_or(0, |v| clamp(norm(v), 0, n));
        let e = stop.map_or(n, |v| clamp(norm(v), 0, n));
        let mut i = s;
        while i < e {
            out.push(i as usize);
            i += step;
        }
    } else {
        let s = start.map_or(n - 1, |v| clamp(norm(v), -1, n - 1));
        let e = stop.map_or(-1, |v| clamp(norm(v), -1, n - 1));
        let mut i = s;
        while i > e {
            out.push(i as usize);
            i += step;
        }
    }
    out
}

/// Python's slice of a `str` (ASCII text: one char per index).
pub fn py_slice_str(s: &str, start: Option<i64>, stop: Option<i64>, step: i64) -> String {
    let chars: Vec<char> = s.chars().collect();
    py_slice_indices(chars.len(), start, stop, step)
        .into_iter()
        .map(|i| chars[i])
        .collect()
}

/// Python's slice of a list.
pub fn py_slice_list<T: Clone>(
    xs: &[T],
    start: Option<i64>,
    stop: Option<i64>,
    step: i64,
) -> Vec<T> {
    py_slice_indices(xs.len(), start, stop, step)
        .into_iter()
        .map(|i| xs[i].clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_division_floors_like_python() {
        assert_eq!(py_floordiv(-7, 2), -4);
        assert_eq!(py_mod(-7, 3), 2);
        assert_eq!(py_mod(7, 3), 1);
    }

    #[test]
    fn slices_follow_python() {
        let xs = [0, 1, 2, 3, 4];
        assert_eq!(py_slice_list(&xs, None, None, -1), vec![4, 3, 2, 1, 0]);
        assert_eq!(py_slice_list(&xs, Some(-2), None, 1), vec![3, 4]);
        assert_eq!(py_slice_list(&xs, Some(7), None, 1), Vec::<i32>::new());
        assert_eq!(py_slice_list(&xs, Some(1), Some(-1), 2), vec![1, 3]);
        assert_eq!(py_slice_str("hello", None, Some(10), 2), "hlo");
    }
}
