//! Python values: what generated functions take and return. They live in
//! [`ouro_python::value`], beside the executor's comparison, so that a test
//! written here and judged there use one definition of `repr` and `==`.

pub use ouro_python::value::{
    py_floordiv, py_mod, py_slice_indices, py_slice_list, py_slice_str, py_str_repr, Value,
};
