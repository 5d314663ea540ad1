//! A serde `Deserializer` over one row of an Arrow array.
//!
//! Reading shards into record structs this way costs one pass over the
//! columns with no intermediate JSON, which is what keeps ouro's reader ahead
//! of pyarrow's `to_pylist`. Only the types our schemas use are supported.

use std::fmt;

use arrow::array::{Array, AsArray, BooleanArray, GenericListArray, OffsetSizeTrait, StructArray};
use arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type,
    UInt32Type, UInt64Type, UInt8Type,
};
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

/// Error raised while decoding a row; carries the column path it was found at.
#[derive(Debug)]
pub struct RowError(pub String);

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for RowError {}
impl de::Error for RowError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        RowError(msg.to_string())
    }
}

/// Deserializes the value at `row` of `array`.
#[derive(Clone, Copy)]
pub struct ArrowValue<'a> {
    pub array: &'a dyn Array,
    pub row: usize,
    /// Column path, for error messages (`params.seed`).
    pub path: &'a str,
}

impl<'a> ArrowValue<'a> {
    fn err(&self, what: impl fmt::Display) -> RowError {
        RowError(format!("field '{}': {}", self.path, what))
    }
}

macro_rules! visit_prim {
    ($self:ident, $visitor:ident, $ty:ty, $visit:ident) => {
        $visitor.$visit($self.array.as_primitive::<$ty>().value($self.row))
    };
}

impl<'a> ArrowValue<'a> {
    /// A dictionary-encoded value (pandas and polars `Categorical` strings) as the
    /// value it stands for; any other array as it is.
    fn resolved(self) -> Result<ArrowValue<'a>, RowError> {
        let DataType::Dictionary(key, _) = self.array.data_type() else {
            return Ok(self);
        };
        macro_rules! index {
            ($ty:ty) => {{
                let d = self.array.as_dictionary::<$ty>();
                (d.keys().value(self.row) as i128, d.values().as_ref())
            }};
        }
        let (i, values) = match key.as_ref() {
            DataType::Int8 => index!(Int8Type),
            DataType::Int16 => index!(Int16Type),
            DataType::Int32 => index!(Int32Type),
            DataType::Int64 => index!(Int64Type),
            DataType::UInt8 => index!(UInt8Type),
            DataType::UInt16 => index!(UInt16Type),
            DataType::UInt32 => index!(UInt32Type),
            DataType::UInt64 => index!(UInt64Type),
            other => return Err(self.err(format!("unsupported dictionary key type {other}"))),
        };
        match usize::try_from(i) {
            Ok(row) if row < values.len() => Ok(ArrowValue {
                array: values,
                row,
                path: self.path,
            }),
            _ => Err(self.err(format!("dictionary key {i} is out of range"))),
        }
    }

    /// Null here, including every value of a column typed `Null` (a key that is
    /// null in every row, as pyarrow types it).
    fn is_null(&self) -> bool {
        self.array.is_null(self.row) || self.array.data_type() == &DataType::Null
    }
}

impl<'de, 'a> de::Deserializer<'de> for ArrowValue<'a> {
    type Error = RowError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RowError> {
        if self.array.is_null(self.row) {
            return visitor.visit_unit();
        }
        let v = self;
        match v.array.data_type() {
            DataType::Utf8 => visitor.visit_str(v.array.as_string::<i32>().value(v.row)),
            DataType::LargeUtf8 => visitor.visit_str(v.array.as_string::<i64>().value(v.row)),
            DataType::Utf8View => visitor.visit_str(v.array.as_string_view().value(v.row)),
            DataType::Boolean => {
                let a: &BooleanArray = v.array.as_boolean();
                visitor.visit_bool(a.value(v.row))
            }
            DataType::Int8 => visit_prim!(v, visitor, Int8Type, visit_i8),
            DataType::Int16 => visit_prim!(v, visitor, Int16Type, visit_i16),
            DataType::Int32 => visit_prim!(v, visitor, Int32Type, visit_i32),
            DataType::Int64 => visit_prim!(v, visitor, Int64Type, visit_i64),
            DataType::UInt8 => visit_prim!(v, visitor, UInt8Type, visit_u8),
            DataType::UInt16 => visit_prim!(v, visitor, UInt16Type, visit_u16),
            DataType::UInt32 => visit_prim!(v, visitor, UInt32Type, visit_u32),
            DataType::UInt64 => visit_prim!(v, visitor, UInt64Type, visit_u64),
            DataType::Float32 => visit_prim!(v, visitor, Float32Type, visit_f32),
            DataType::Float64 => visit_prim!(v, visitor, Float64Type, visit_f64),
            DataType::List(_) => visit_list(v.array.as_list::<i32>(), v.row, v.path, visitor),
            DataType::LargeList(_) => visit_list(v.array.as_list::<i64>(), v.row, v.path, visitor),
            DataType::Struct(_) => {
                visitor.visit_map(StructAccess::new(v.array.as_struct(), v.row, v.path))
            }
            // Rarer types after the common ones, so that those pay nothing for them.
            DataType::Null => visitor.visit_unit(),
            DataType::Dictionary(..) => v.resolved()?.deserialize_any(visitor),
            other => Err(v.err(format!("unsupported Arrow type {other}"))),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RowError> {
        if self.is_null() {
            return visitor.visit_none();
        }
        match self.array.data_type() {
            // A dictionary's value may be null where its key is not.
            DataType::Dictionary(..) => self.resolved()?.deserialize_option(visitor),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, RowError> {
        if self.is_null() {
            return Err(self.err("expected a string, found null"));
        }
        let v = match self.array.data_type() {
            DataType::Dictionary(..) => {
                return self.resolved()?.deserialize_enum(name, variants, visitor)
            }
            _ => self,
        };
        // Every string layout the text fields take: pandas and polars write
        // back `large_string`, pyarrow can write `string_view`.
        let s = match v.array.data_type() {
            DataType::Utf8 => v.array.as_string::<i32>().value(v.row),
            DataType::LargeUtf8 => v.array.as_string::<i64>().value(v.row),
            DataType::Utf8View => v.array.as_string_view().value(v.row),
            other => return Err(v.err(format!("expected a string enum, found {other}"))),
        };
        visitor.visit_enum(s.into_deserializer())
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

fn visit_list<'de, O: OffsetSizeTrait, V: Visitor<'de>>(
    list: &GenericListArray<O>,
    row: usize,
    path: &str,
    visitor: V,
) -> Result<V::Value, RowError> {
    let offsets = list.value_offsets();
    let start = offsets[row].as_usize();
    let end = offsets[row + 1].as_usize();
    visitor.visit_seq(ListAccess {
        values: list.values().as_ref(),
        next: start,
        end,
        path,
    })
}

struct ListAccess<'a> {
    values: &'a dyn Array,
    next: usize,
    end: usize,
    path: &'a str,
}

impl<'de, 'a> SeqAccess<'de> for ListAccess<'a> {
    type Error = RowError;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, RowError> {
        if self.next >= self.end {
            return Ok(None);
        }
        let row = self.next;
        self.next += 1;
        seed.deserialize(ArrowValue {
            array: self.values,
            row,
            path: self.path,
        })
        .map(Some)
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.end - self.next)
    }
}

/// Map access over the fields of one struct row (also used for whole batches).
pub struct StructAccess<'a> {
    columns: Vec<(&'a str, &'a dyn Array)>,
    row: usize,
    next: usize,
    path: &'a str,
    field_path: String,
}

impl<'a> StructAccess<'a> {
    pub fn new(array: &'a StructArray, row: usize, path: &'a str) -> Self {
        let columns = array
            .fields()
            .iter()
            .zip(array.columns())
            .map(|(f, c)| (f.name().as_str(), c.as_ref()))
            .collect();
        Self::from_columns(columns, row, path)
    }

    pub fn from_columns(columns: Vec<(&'a str, &'a dyn Array)>, row: usize, path: &'a str) -> Self {
        StructAccess {
            columns,
            row,
            next: 0,
            path,
            field_path: String::new(),
        }
    }
}

impl<'de, 'a> MapAccess<'de> for StructAccess<'a> {
    type Error = RowError;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, RowError> {
        if self.next >= self.columns.len() {
            return Ok(None);
        }
        let name = self.columns[self.next].0;
        seed.deserialize(name.into_deserializer()).map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, RowError> {
        let (name, array) = self.columns[self.next];
        self.next += 1;
        self.field_path.clear();
        if !self.path.is_empty() {
            self.field_path.push_str(self.path);
            self.field_path.push('.');
        }
        self.field_path.push_str(name);
        let value = ArrowValue {
            array,
            row: self.row,
            path: &self.field_path,
        };
        // A type mismatch is raised by the record's own visitor ("invalid type:
        // integer, expected a string"), which knows no column: name it here, once
        // (an error from a nested field already names its own path).
        seed.deserialize(value).map_err(|e| {
            if e.0.starts_with("field '") {
                e
            } else {
                value.err(e.0)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, DictionaryArray, Int32Array, NullArray, StringArray, StructArray,
    };
    use arrow::datatypes::{DataType, Field, Int8Type};
    use serde::Deserialize;
    use serde_json::{json, Value};

    use super::ArrowValue;

    fn row(array: &dyn arrow::array::Array, row: usize) -> Value {
        Value::deserialize(ArrowValue {
            array,
            row,
            path: "c",
        })
        .unwrap()
    }

    /// pandas and polars write `Categorical` strings as dictionaries, and pyarrow types a
    /// key that is null in every row as `Null`: both read as the values they stand for.
    #[test]
    fn dictionary_strings_and_null_typed_fields_read_as_their_values() {
        let dict: DictionaryArray<Int8Type> = vec!["a", "b", "a"].into_iter().collect();
        assert_eq!(
            (0..3).map(|i| row(&dict, i)).collect::<Vec<_>>(),
            vec![json!("a"), json!("b"), json!("a")]
        );
        let s = StructArray::from(vec![
            (
                Arc::new(Field::new("role", DataType::Utf8, false)),
                Arc::new(StringArray::from(vec!["user", "assistant"])) as ArrayRef,
            ),
            (
                Arc::new(Field::new("name", DataType::Null, true)),
                Arc::new(NullArray::new(2)) as ArrayRef,
            ),
            (
                Arc::new(Field::new("n", DataType::Int32, false)),
                Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef,
            ),
        ]);
        assert_eq!(
            row(&s, 1),
            json!({"role": "assistant", "name": null, "n": 2})
        );
        let opt = Option::<String>::deserialize(ArrowValue {
            array: &NullArray::new(1),
            row: 0,
            path: "c",
        })
        .unwrap();
        assert_eq!(opt, None);
    }

    #[test]
    fn a_column_of_the_wrong_type_is_named_in_the_error() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Row {
            id: String,
            inner: Inner,
        }
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Inner {
            code: String,
        }
        let inner = StructArray::from(vec![(
            Arc::new(Field::new("code", DataType::Int32, false)),
            Arc::new(Int32Array::from(vec![7])) as ArrayRef,
        )]);
        let outer = StructArray::from(vec![
            (
                Arc::new(Field::new("id", DataType::Utf8, false)),
                Arc::new(StringArray::from(vec!["a"])) as ArrayRef,
            ),
            (
                Arc::new(Field::new(
                    "inner",
                    arrow::array::Array::data_type(&inner).clone(),
                    false,
                )),
                Arc::new(inner) as ArrayRef,
            ),
        ]);
        let err = Row::deserialize(ArrowValue {
            array: &outer,
            row: 0,
            path: "",
        })
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "field 'inner.code': invalid type: integer `7`, expected a string"
        );
    }
}
