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

impl<'de, 'a> de::Deserializer<'de> for ArrowValue<'a> {
    type Error = RowError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RowError> {
        if self.array.is_null(self.row) {
            return visitor.visit_unit();
        }
        match self.array.data_type() {
            DataType::Utf8 => visitor.visit_str(self.array.as_string::<i32>().value(self.row)),
            DataType::LargeUtf8 => visitor.visit_str(self.array.as_string::<i64>().value(self.row)),
            DataType::Utf8View => visitor.visit_str(self.array.as_string_view().value(self.row)),
            DataType::Boolean => {
                let a: &BooleanArray = self.array.as_boolean();
                visitor.visit_bool(a.value(self.row))
            }
            DataType::Int8 => visit_prim!(self, visitor, Int8Type, visit_i8),
            DataType::Int16 => visit_prim!(self, visitor, Int16Type, visit_i16),
            DataType::Int32 => visit_prim!(self, visitor, Int32Type, visit_i32),
            DataType::Int64 => visit_prim!(self, visitor, Int64Type, visit_i64),
            DataType::UInt8 => visit_prim!(self, visitor, UInt8Type, visit_u8),
            DataType::UInt16 => visit_prim!(self, visitor, UInt16Type, visit_u16),
            DataType::UInt32 => visit_prim!(self, visitor, UInt32Type, visit_u32),
            DataType::UInt64 => visit_prim!(self, visitor, UInt64Type, visit_u64),
            DataType::Float32 => visit_prim!(self, visitor, Float32Type, visit_f32),
            DataType::Float64 => visit_prim!(self, visitor, Float64Type, visit_f64),
            DataType::List(_) => {
                visit_list(self.array.as_list::<i32>(), self.row, self.path, visitor)
            }
            DataType::LargeList(_) => {
                visit_list(self.array.as_list::<i64>(), self.row, self.path, visitor)
            }
            DataType::Struct(_) => visitor.visit_map(StructAccess::new(
                self.array.as_struct(),
                self.row,
                self.path,
            )),
            other => Err(self.err(format!("unsupported Arrow type {other}"))),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RowError> {
        if self.array.is_null(self.row) {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, RowError> {
        if self.array.is_null(self.row) {
            return Err(self.err("expected a string, found null"));
        }
        match self.array.data_type() {
            DataType::Utf8 => {
                let s = self.array.as_string::<i32>().value(self.row);
                visitor.visit_enum(s.into_deserializer())
            }
            other => Err(self.err(format!("expected a string enum, found {other}"))),
        }
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
        seed.deserialize(ArrowValue {
            array,
            row: self.row,
            path: &self.field_path,
        })
    }
}
