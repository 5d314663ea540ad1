//! End-to-end tests of the `ouro` binary live in `tests/tests/*.rs`.
