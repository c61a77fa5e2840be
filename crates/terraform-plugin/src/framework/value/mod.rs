//! Terraform's values: what travels in a `DynamicValue`.
//!
//! Terraform sends configuration, plans and state as msgpack (and, for state read back from disk
//! during upgrades, as JSON), always without type information: the receiver decodes *against the
//! schema's type*. So decoding here is type-directed, and a value that does not fit its type is an
//! error with the attribute path where it went wrong — never a panic, whatever the bytes.
//!
//! Three things make these values unlike plain JSON:
//! - any value may be *null* or *unknown* (known only after apply). Unknowns are msgpack extension
//!   values; Terraform may attach "refinements" (ext code 12) which we accept and drop, since the
//!   provider never needs them to plan.
//! - numbers are arbitrary-precision decimals. [`Number`] keeps the common cases (i64, f64) cheap
//!   and anything else as its exact decimal text.
//! - the `dynamic` pseudo-type carries its concrete type alongside the value.
//!
//! This file holds the model (types, values, their helpers, the JSON form of types); the
//! encodings live beside it: `msgpack.rs` (what travels in RPCs), `json.rs` (state stored on
//! disk, handed over for upgrades) and `number.rs` (exact decimals).

use std::collections::BTreeMap;
use std::fmt;

/// A Terraform type (cty type), as used in schemas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Type {
    Bool,
    Number,
    String,
    /// `dynamic`: the concrete type travels with each value.
    Dynamic,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    Object(BTreeMap<String, Type>),
    Tuple(Vec<Type>),
}

/// One Terraform value. Collections keep their kind so they encode back exactly as they came.
#[derive(Clone, Debug, Default)]
pub enum Value {
    #[default]
    Null,
    /// Not known until apply. Refinements sent by Terraform are dropped.
    Unknown,
    Bool(bool),
    Number(Number),
    String(String),
    List(Vec<Value>),
    Set(Vec<Value>),
    Map(BTreeMap<String, Value>),
    Object(BTreeMap<String, Value>),
    Tuple(Vec<Value>),
}

/// Why bytes could not be read as a value of the expected type. `path` points at the attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for DecodeError {}

mod json;
mod msgpack;
mod number;

pub use json::{from_json, to_json};
pub use msgpack::{MissingAttribute, from_msgpack, to_msgpack};
pub use number::Number;

/// Types nest no deeper than this when they arrive inside dynamic values (a guard against
/// hostile input recursing the decoder off the stack).
const MAX_TYPE_DEPTH: usize = 64;

// ---------------------------------------------------------------------------------------------
// Value helpers

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        use Value::*;
        match (self, other) {
            (Null, Null) | (Unknown, Unknown) => true,
            (Bool(a), Bool(b)) => a == b,
            (Number(a), Number(b)) => a == b,
            (String(a), String(b)) => a == b,
            (List(a), List(b)) | (Tuple(a), Tuple(b)) => a == b,
            // Sets compare without order.
            (Set(a), Set(b)) => a.len() == b.len() && a.iter().all(|x| b.contains(x)),
            (Map(a), Map(b)) | (Object(a), Object(b)) => a == b,
            _ => false,
        }
    }
}

impl Value {
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// A string, or null when absent.
    pub fn opt_string(s: Option<impl Into<String>>) -> Value {
        s.map_or(Value::Null, |s| Value::String(s.into()))
    }

    pub fn int(i: i64) -> Value {
        Value::Number(Number::Int(i))
    }

    pub fn object<K: Into<String>>(attrs: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Object(attrs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Value::Unknown)
    }

    /// Known all the way down (no unknown anywhere inside).
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown => false,
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => {
                v.iter().all(Value::is_wholly_known)
            }
            Value::Map(m) | Value::Object(m) => m.values().all(Value::is_wholly_known),
            _ => true,
        }
    }

    /// An object's attribute; null for a missing attribute or a value that is not an object.
    pub fn attr(&self, name: &str) -> &Value {
        static NULL: Value = Value::Null;
        match self {
            Value::Object(m) => m.get(name).unwrap_or(&NULL),
            _ => &NULL,
        }
    }

    /// Sets an object's attribute (no effect on other values).
    pub fn set_attr(&mut self, name: &str, v: Value) {
        if let Value::Object(m) = self {
            m.insert(name.to_string(), v);
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }

    /// Best-effort type of a value, used to encode values of `dynamic` attributes.
    pub fn infer_type(&self) -> Type {
        match self {
            Value::Null | Value::Unknown => Type::Dynamic,
            Value::Bool(_) => Type::Bool,
            Value::Number(_) => Type::Number,
            Value::String(_) => Type::String,
            Value::List(v) => {
                Type::List(Box::new(v.first().map_or(Type::Dynamic, Value::infer_type)))
            }
            Value::Set(v) => {
                Type::Set(Box::new(v.first().map_or(Type::Dynamic, Value::infer_type)))
            }
            Value::Map(m) => Type::Map(Box::new(
                m.values().next().map_or(Type::Dynamic, Value::infer_type),
            )),
            Value::Object(m) => {
                Type::Object(m.iter().map(|(k, v)| (k.clone(), v.infer_type())).collect())
            }
            Value::Tuple(v) => Type::Tuple(v.iter().map(Value::infer_type).collect()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Type <-> JSON (the form schemas and dynamic values use: "string", ["list","string"], ...)

impl Type {
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Type::Bool => J::from("bool"),
            Type::Number => J::from("number"),
            Type::String => J::from("string"),
            Type::Dynamic => J::from("dynamic"),
            Type::List(t) => J::Array(vec!["list".into(), t.to_json()]),
            Type::Set(t) => J::Array(vec!["set".into(), t.to_json()]),
            Type::Map(t) => J::Array(vec!["map".into(), t.to_json()]),
            Type::Object(attrs) => J::Array(vec![
                "object".into(),
                J::Object(
                    attrs
                        .iter()
                        .map(|(k, t)| (k.clone(), t.to_json()))
                        .collect(),
                ),
            ]),
            Type::Tuple(ts) => J::Array(vec![
                "tuple".into(),
                J::Array(ts.iter().map(Type::to_json).collect()),
            ]),
        }
    }

    /// The bytes a schema attribute's `type` field carries.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        self.to_json().to_string().into_bytes()
    }

    pub fn from_json(j: &serde_json::Value) -> Result<Type, String> {
        Self::from_json_depth(j, 0)
    }

    fn from_json_depth(j: &serde_json::Value, depth: usize) -> Result<Type, String> {
        use serde_json::Value as J;
        if depth > MAX_TYPE_DEPTH {
            return Err("type nests too deeply".into());
        }
        match j {
            J::String(s) => match s.as_str() {
                "bool" => Ok(Type::Bool),
                "number" => Ok(Type::Number),
                "string" => Ok(Type::String),
                "dynamic" => Ok(Type::Dynamic),
                other => Err(format!("unknown primitive type {other:?}")),
            },
            J::Array(parts) if parts.len() >= 2 => {
                let elem = |d| Self::from_json_depth(&parts[1], d).map(Box::new);
                match parts[0].as_str() {
                    Some("list") => Ok(Type::List(elem(depth + 1)?)),
                    Some("set") => Ok(Type::Set(elem(depth + 1)?)),
                    Some("map") => Ok(Type::Map(elem(depth + 1)?)),
                    Some("object") => match &parts[1] {
                        J::Object(m) => m
                            .iter()
                            .map(|(k, v)| Ok((k.clone(), Self::from_json_depth(v, depth + 1)?)))
                            .collect::<Result<_, String>>()
                            .map(Type::Object),
                        _ => Err("object type needs a map of attribute types".into()),
                    },
                    Some("tuple") => match &parts[1] {
                        J::Array(ts) => ts
                            .iter()
                            .map(|t| Self::from_json_depth(t, depth + 1))
                            .collect::<Result<_, String>>()
                            .map(Type::Tuple),
                        _ => Err("tuple type needs a list of element types".into()),
                    },
                    _ => Err(format!("unknown type constructor {}", parts[0])),
                }
            }
            other => Err(format!("not a type: {other}")),
        }
    }
}

/// An object type from (name, type) pairs, for the tests of every encoding.
#[cfg(test)]
fn obj_type(pairs: &[(&str, Type)]) -> Type {
    Type::Object(
        pairs
            .iter()
            .map(|(k, t)| (k.to_string(), t.clone()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nested_objects_lists_sets_and_maps() {
        let wf = obj_type(&[
            ("id", Type::String),
            ("active", Type::Bool),
            ("version", Type::Number),
        ]);
        let ty = obj_type(&[
            ("workflows", Type::List(Box::new(wf))),
            ("tags", Type::Set(Box::new(Type::String))),
            ("labels", Type::Map(Box::new(Type::String))),
            ("pair", Type::Tuple(vec![Type::String, Type::Bool])),
        ]);
        let v = Value::object([
            (
                "workflows",
                Value::List(vec![Value::object([
                    ("id", Value::string("w1")),
                    ("active", Value::Bool(true)),
                    ("version", Value::int(3)),
                ])]),
            ),
            (
                "tags",
                Value::Set(vec![Value::string("x"), Value::string("y")]),
            ),
            (
                "labels",
                Value::Map([("k".to_string(), Value::string("v"))].into()),
            ),
            (
                "pair",
                Value::Tuple(vec![Value::string("a"), Value::Bool(false)]),
            ),
        ]);
        let back = from_msgpack(&to_msgpack(&v, &ty).unwrap(), &ty).unwrap();
        assert_eq!(back, v);
        assert_eq!(from_json(&to_json(&v, &ty), &ty).unwrap(), v);
    }

    #[test]
    fn type_json_round_trips() {
        let t = obj_type(&[
            ("a", Type::List(Box::new(Type::Map(Box::new(Type::Number))))),
            ("b", Type::Tuple(vec![Type::Bool, Type::Dynamic])),
        ]);
        assert_eq!(Type::from_json(&t.to_json()).unwrap(), t);
        assert_eq!(
            String::from_utf8(Type::String.to_json_bytes()).unwrap(),
            "\"string\""
        );
    }

    fn arb_type() -> impl Strategy<Value = Type> {
        let leaf = prop_oneof![
            Just(Type::Bool),
            Just(Type::Number),
            Just(Type::String),
            Just(Type::Dynamic)
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                inner.clone().prop_map(|t| Type::List(Box::new(t))),
                inner.clone().prop_map(|t| Type::Set(Box::new(t))),
                inner.clone().prop_map(|t| Type::Map(Box::new(t))),
                prop::collection::btree_map("[a-z]{1,4}", inner.clone(), 0..4)
                    .prop_map(Type::Object),
                prop::collection::vec(inner, 0..3).prop_map(Type::Tuple),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever Terraform (or anything else) sends, decoding returns — it never panics.
        #[test]
        fn arbitrary_bytes_never_panic_the_decoder(bytes in prop::collection::vec(any::<u8>(), 0..256), ty in arb_type()) {
            let _ = from_msgpack(&bytes, &ty);
            if let Ok(j) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                let _ = from_json(&j, &ty);
            }
        }

    }
}
