//! Typed models: one Rust struct per schema, so provider code reads fields instead of looking
//! attributes up by name.
//!
//! A model is declared with [`model!`](crate::model), whose field names *are* the attribute names.
//! The macro writes the struct, its conversion from and to [`Value`], and the list of attribute
//! names ([`Model::ATTRIBUTES`]), which a test per type compares with the schema
//! ([`assert_matches_schema`]). So a misspelt attribute is a failing test, and an attribute that is
//! missing from a value is an error, never a silent null.
//!
//! Each field is an [`Attr<T>`]: Terraform's null and unknown stay apart from a known value, so a
//! plan can be read into a model, adjusted and written back without turning "known after apply"
//! into null.

use std::collections::BTreeMap;
use std::fmt;

use super::diag::Diagnostics;
use super::schema::{AttributeType, Block, Schema};
use super::value::{Number, Value};

/// One attribute of a model: null, unknown (only in configurations and plans), or known.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Attr<T> {
    #[default]
    Null,
    Unknown,
    Known(T),
}

impl<T> Attr<T> {
    pub fn get(&self) -> Option<&T> {
        match self {
            Attr::Known(v) => Some(v),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Attr::Null)
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Attr::Unknown)
    }
}

impl<T: Copy> Attr<T> {
    /// The known value, by copy.
    pub fn value(&self) -> Option<T> {
        self.get().copied()
    }
}

impl Attr<String> {
    pub fn as_str(&self) -> Option<&str> {
        self.get().map(String::as_str)
    }
}

impl<T> From<Option<T>> for Attr<T> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Attr::Null, Attr::Known)
    }
}

impl From<&str> for Attr<String> {
    fn from(v: &str) -> Self {
        Attr::Known(v.to_owned())
    }
}

impl From<Option<&str>> for Attr<String> {
    fn from(v: Option<&str>) -> Self {
        v.map_or(Attr::Null, |s| Attr::Known(s.to_owned()))
    }
}

/// A value that did not have the shape its model expects: always a provider or framework bug,
/// since values are decoded against the same schema the model is tested against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for ModelError {}

fn shape_error(path: &str, want: &str, got: &Value) -> ModelError {
    let got = match got {
        Value::Null => "null",
        Value::Unknown => "unknown",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::List(_) => "list",
        Value::Set(_) => "set",
        Value::Map(_) => "map",
        Value::Object(_) => "object",
        Value::Tuple(_) => "tuple",
    };
    ModelError {
        path: path.to_owned(),
        message: format!("expected {want}, found {got}"),
    }
}

/// What a field holds as far as a schema is concerned: a plain value, or a nested model (an
/// object with named fields), for [`assert_matches_schema`] to follow.
#[derive(Debug)]
pub enum Shape {
    Leaf,
    Object(Vec<(&'static str, Shape)>),
}

/// How one field's type converts from and to a [`Value`]. `path` names the field in errors.
pub trait AttrValue: Sized {
    fn from_attr(v: &Value, path: &str) -> Result<Self, ModelError>;
    fn to_attr(&self) -> Value;

    /// A nested model's fields, or [`Shape::Leaf`] for a plain value (the default).
    fn shape() -> Shape {
        Shape::Leaf
    }
}

impl<T: AttrValue> AttrValue for Attr<T> {
    fn from_attr(v: &Value, path: &str) -> Result<Self, ModelError> {
        Ok(match v {
            Value::Null => Attr::Null,
            Value::Unknown => Attr::Unknown,
            known => Attr::Known(T::from_attr(known, path)?),
        })
    }

    fn to_attr(&self) -> Value {
        match self {
            Attr::Null => Value::Null,
            Attr::Unknown => Value::Unknown,
            Attr::Known(v) => v.to_attr(),
        }
    }

    fn shape() -> Shape {
        T::shape()
    }
}

impl AttrValue for String {
    fn from_attr(v: &Value, path: &str) -> Result<Self, ModelError> {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| shape_error(path, "string", v))
    }

    fn to_attr(&self) -> Value {
        Value::string(self)
    }
}

impl AttrValue for bool {
    fn from_attr(v: &Value, path: &str) -> Result<Self, ModelError> {
        v.as_bool().ok_or_else(|| shape_error(path, "bool", v))
    }

    fn to_attr(&self) -> Value {
        Value::Bool(*self)
    }
}

/// A number kept exactly as Terraform sent it (range checks are the provider's business).
impl AttrValue for Number {
    fn from_attr(v: &Value, path: &str) -> Result<Self, ModelError> {
        v.as_number()
            .cloned()
            .ok_or_else(|| shape_error(path, "number", v))
    }

    fn to_attr(&self) -> Value {
        Value::Number(self.clone())
    }
}

impl AttrValue for i64 {
    fn from_attr(v: &Value, path: &str) -> Result<Self, ModelError> {
        v.as_number()
            .and_then(Number::as_i64)
            .ok_or_else(|| shape_error(path, "whole number", v))
    }

    fn to_attr(&self) -> Value {
        Value::int(*self)
    }
}

/// Lists (and sets, read in their order) of any field type, nested models included.
impl<T: AttrValue> AttrValue for Vec<T> {
    fn from_attr(v: &Value, path: &str) -> Result<Self, ModelError> {
        match v {
            Value::List(items) | Value::Set(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| T::from_attr(item, &format!("{path}[{i}]")))
                .collect(),
            other => Err(shape_error(path, "list", other)),
        }
    }

    fn to_attr(&self) -> Value {
        Value::List(self.iter().map(AttrValue::to_attr).collect())
    }

    fn shape() -> Shape {
        T::shape()
    }
}

/// A Rust struct that mirrors one schema (or one nested object of a schema).
pub trait Model: Sized {
    /// The attribute names, in declaration order.
    const ATTRIBUTES: &'static [&'static str];

    /// Each field's name and [`Shape`], in declaration order.
    fn fields() -> Vec<(&'static str, Shape)>;

    fn from_value(v: &Value) -> Result<Self, ModelError>;
    fn to_value(&self) -> Value;

    /// Reads `v`, or adds an error diagnostic and gives `None` (a bug, never user input).
    fn decode(v: &Value, diags: &mut Diagnostics) -> Option<Self> {
        match Self::from_value(v) {
            Ok(m) => Some(m),
            Err(e) => {
                diags.error(
                    "Provider bug: value does not match the schema",
                    format!(
                        "The provider could not read a value Terraform sent ({e}). Please report this \
                         to the provider's maintainers."
                    ),
                );
                None
            }
        }
    }
}

/// The attribute name of a model field: the field's name without a raw-identifier prefix, so
/// an attribute named after a Rust keyword (`type`) is the field `r#type`.
#[doc(hidden)]
pub const fn attr_name(field: &'static str) -> &'static str {
    match field.as_bytes() {
        [b'r', b'#', rest @ ..] => match std::str::from_utf8(rest) {
            Ok(name) => name,
            Err(_) => field,
        },
        _ => field,
    }
}

/// The attributes of an object value, for the code [`model!`](crate::model) writes.
#[doc(hidden)]
pub fn object<'a>(v: &'a Value, model: &str) -> Result<&'a BTreeMap<String, Value>, ModelError> {
    match v {
        Value::Object(m) => Ok(m),
        other => Err(shape_error(model, "object", other)),
    }
}

/// One attribute of an object value: missing is an error (a name that is not in the schema).
#[doc(hidden)]
pub fn field<T: AttrValue>(obj: &BTreeMap<String, Value>, name: &str) -> Result<T, ModelError> {
    match obj.get(name) {
        Some(v) => T::from_attr(v, name),
        None => Err(ModelError {
            path: name.to_owned(),
            message: "no such attribute in the value".to_owned(),
        }),
    }
}

/// Panics (for tests) unless `M`'s fields are exactly the schema's attributes and nested blocks,
/// at every level: a field that is a nested model must face nested attributes (or a nested
/// block) whose names are its fields, and a plain field a plain attribute.
pub fn assert_matches_schema<M: Model>(schema: &Schema) {
    assert_fields(&M::fields(), &schema.block, "");
}

fn assert_fields(fields: &[(&'static str, Shape)], block: &Block, at: &str) {
    let names: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
    let schema_names = block
        .attributes
        .iter()
        .map(|a| a.name.as_str())
        .chain(block.blocks.iter().map(|b| b.type_name.as_str()));
    assert_same_names_at(&names, schema_names, at);
    for (name, shape) in fields {
        let path = if at.is_empty() {
            (*name).to_owned()
        } else {
            format!("{at}.{name}")
        };
        let nested: Option<Block> = match block.attributes.iter().find(|a| a.name == *name) {
            Some(a) => match &a.ty {
                AttributeType::Nested { attributes, .. } => Some(Block {
                    attributes: attributes.clone(),
                    ..Block::default()
                }),
                AttributeType::Typed(_) => None,
            },
            None => block
                .blocks
                .iter()
                .find(|b| b.type_name == *name)
                .map(|b| b.block.clone()),
        };
        match (shape, nested) {
            (Shape::Object(inner), Some(nested)) => assert_fields(inner, &nested, &path),
            (Shape::Leaf, None) => {}
            (Shape::Object(_), None) => {
                panic!("`{path}` is a nested model, but the schema's attribute is a plain value")
            }
            (Shape::Leaf, Some(_)) => {
                panic!(
                    "the schema nests attributes under `{path}`, but the model's field is not a model"
                )
            }
        }
    }
}

/// Panics (for tests) unless `names` and `attributes` are the same set.
pub fn assert_same_names<'a>(names: &[&str], attributes: impl IntoIterator<Item = &'a str>) {
    assert_same_names_at(names, attributes, "");
}

fn assert_same_names_at<'a>(
    names: &[&str],
    attributes: impl IntoIterator<Item = &'a str>,
    at: &str,
) {
    let mut ours: Vec<&str> = names.to_vec();
    let mut theirs: Vec<&str> = attributes.into_iter().collect();
    ours.sort_unstable();
    theirs.sort_unstable();
    let level = if at.is_empty() { "the top level" } else { at };
    assert_eq!(
        ours, theirs,
        "model fields vs. schema attributes at {level}"
    );
}

/// Declares a typed model: a struct whose fields are named exactly like the schema's attributes,
/// with its [`Model`] and [`AttrValue`] implementations (so models nest in lists). An attribute
/// named after a Rust keyword is a raw-identifier field: `r#type` is the attribute `type`.
///
/// ```ignore
/// model! {
///     /// `alloy_user` as Terraform holds it.
///     pub struct UserModel {
///         id: Attr<String>,
///         username: Attr<String>,
///     }
/// }
/// ```
#[macro_export]
macro_rules! model {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq)]
        $vis struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $crate::framework::model::Model for $name {
            const ATTRIBUTES: &'static [&'static str] = &[$($crate::framework::model::attr_name(stringify!($field))),*];

            fn fields() -> ::std::vec::Vec<(&'static str, $crate::framework::model::Shape)> {
                ::std::vec![$( (
                    $crate::framework::model::attr_name(stringify!($field)),
                    <$ty as $crate::framework::model::AttrValue>::shape(),
                ), )*]
            }

            fn from_value(
                v: &$crate::framework::Value,
            ) -> ::std::result::Result<Self, $crate::framework::model::ModelError> {
                let obj = $crate::framework::model::object(v, stringify!($name))?;
                Ok($name {
                    $( $field: $crate::framework::model::field(obj, $crate::framework::model::attr_name(stringify!($field)))?, )*
                })
            }

            fn to_value(&self) -> $crate::framework::Value {
                $crate::framework::Value::object([
                    $( (
                        $crate::framework::model::attr_name(stringify!($field)),
                        $crate::framework::model::AttrValue::to_attr(&self.$field),
                    ), )*
                ])
            }
        }

        impl $crate::framework::model::AttrValue for $name {
            fn from_attr(
                v: &$crate::framework::Value,
                path: &str,
            ) -> ::std::result::Result<Self, $crate::framework::model::ModelError> {
                <$name as $crate::framework::model::Model>::from_value(v).map_err(|mut e| {
                    e.path = format!("{path}.{}", e.path);
                    e
                })
            }

            fn to_attr(&self) -> $crate::framework::Value {
                <$name as $crate::framework::model::Model>::to_value(self)
            }

            fn shape() -> $crate::framework::model::Shape {
                $crate::framework::model::Shape::Object(
                    <$name as $crate::framework::model::Model>::fields(),
                )
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::{Attribute, Block};

    crate::model! {
        struct Keyword {
            r#type: Attr<String>,
        }
    }

    #[test]
    fn a_raw_identifier_field_is_the_keyword_attribute() {
        assert_eq!(Keyword::ATTRIBUTES, ["type"]);
        let v = Value::object([("type", Value::string("netsuite"))]);
        let m = Keyword::from_value(&v).expect("decodes");
        assert_eq!(m.r#type.as_str(), Some("netsuite"));
        assert_eq!(m.to_value(), v);
    }

    crate::model! {
        struct Inner {
            id: Attr<String>,
            count: Attr<i64>,
        }
    }

    crate::model! {
        struct Outer {
            name: Attr<String>,
            enabled: Attr<bool>,
            tags: Attr<Vec<String>>,
            inner: Attr<Vec<Inner>>,
        }
    }

    fn outer_value() -> Value {
        Value::object([
            ("name", Value::string("a")),
            ("enabled", Value::Unknown),
            ("tags", Value::Null),
            (
                "inner",
                Value::List(vec![Value::object([
                    ("id", Value::string("x")),
                    ("count", Value::int(3)),
                ])]),
            ),
        ])
    }

    #[test]
    fn round_trips_null_unknown_and_nested_values() {
        let v = outer_value();
        let m = Outer::from_value(&v).expect("decodes");
        assert_eq!(m.name.as_str(), Some("a"));
        assert!(m.enabled.is_unknown());
        assert!(m.tags.is_null());
        let inner = m.inner.get().expect("known");
        assert_eq!(inner[0].id.as_str(), Some("x"));
        assert_eq!(inner[0].count.value(), Some(3));
        assert_eq!(m.to_value(), v);
    }

    #[test]
    fn a_missing_or_mistyped_attribute_is_an_error_not_a_null() {
        let mut v = outer_value();
        if let Value::Object(m) = &mut v {
            m.remove("name");
        }
        let e = Outer::from_value(&v).expect_err("missing attribute");
        assert_eq!(e.path, "name");

        let mut v = outer_value();
        v.set_attr("enabled", Value::string("yes"));
        let e = Outer::from_value(&v).expect_err("mistyped attribute");
        assert_eq!(e.to_string(), "enabled: expected bool, found string");

        let mut v = outer_value();
        v.set_attr(
            "inner",
            Value::List(vec![Value::object([("id", Value::string("x"))])]),
        );
        let e = Outer::from_value(&v).expect_err("nested attribute missing");
        assert_eq!(e.path, "inner[0].count");

        let mut d = Diagnostics::new();
        assert!(Outer::decode(&Value::Null, &mut d).is_none());
        assert!(d.has_errors());
    }

    #[test]
    fn schema_comparison_catches_a_misspelt_field() {
        let schema = Schema::new(
            0,
            Block::new(
                "x",
                vec![Attribute::string("id"), Attribute::string("count")],
            ),
        );
        assert_matches_schema::<Inner>(&schema);
        let misspelt = Schema::new(
            0,
            Block::new(
                "x",
                vec![Attribute::string("id"), Attribute::string("cuont")],
            ),
        );
        let caught = std::panic::catch_unwind(|| assert_matches_schema::<Inner>(&misspelt));
        assert!(caught.is_err());
    }

    /// The panic message of `f`, which must panic.
    fn panic_of(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
        let caught = std::panic::catch_unwind(f).expect_err("the comparison must fail");
        caught
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| caught.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    }

    fn outer_schema(inner: Vec<Attribute>) -> Schema {
        Schema::new(
            0,
            Block::new(
                "x",
                vec![
                    Attribute::string("name"),
                    Attribute::bool("enabled"),
                    Attribute::string("tags"),
                    Attribute::nested("inner", crate::framework::Nesting::List, inner),
                ],
            ),
        )
    }

    #[test]
    fn schema_comparison_follows_nested_models() {
        let good = outer_schema(vec![Attribute::string("id"), Attribute::number("count")]);
        assert_matches_schema::<Outer>(&good);

        let misspelt = outer_schema(vec![Attribute::string("id"), Attribute::number("cuont")]);
        let msg = panic_of(|| assert_matches_schema::<Outer>(&misspelt));
        assert!(msg.contains("at inner"), "names the level: {msg}");

        let plain = Schema::new(
            0,
            Block::new(
                "x",
                vec![
                    Attribute::string("name"),
                    Attribute::bool("enabled"),
                    Attribute::string("tags"),
                    Attribute::string("inner"),
                ],
            ),
        );
        let msg = panic_of(|| assert_matches_schema::<Outer>(&plain));
        assert!(msg.contains("`inner` is a nested model"), "{msg}");
    }
}
