//! Schemas: what a provider, resource, data source or ephemeral resource accepts and returns.
//!
//! A schema is data, built once per process with small builder calls, then (a) sent to Terraform,
//! (b) used to derive the object type that values are decoded with, and (c) read by the docs
//! generator. Descriptions are full sentences in Markdown; they become the Registry docs.

use std::collections::BTreeMap;

use super::value::{Type, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DescriptionKind {
    Plain,
    #[default]
    Markdown,
}

/// How nested attributes or blocks repeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nesting {
    Single,
    List,
    Set,
    Map,
    /// A single block that is always present (blocks only).
    Group,
}

#[derive(Clone, Debug, PartialEq)]
pub enum AttributeType {
    /// A plain value of a Terraform type.
    Typed(Type),
    /// Nested attributes (protocol 6 `Schema.Object`).
    Nested {
        nesting: Nesting,
        attributes: Vec<Attribute>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub ty: AttributeType,
    pub description: String,
    pub description_kind: DescriptionKind,
    pub required: bool,
    pub optional: bool,
    pub computed: bool,
    pub sensitive: bool,
    /// Terraform ≥ 1.11: the value lives only in configuration, never in plan or state.
    pub write_only: bool,
    pub deprecated: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NestedBlock {
    pub type_name: String,
    pub block: Block,
    pub nesting: Nesting,
    pub min_items: i64,
    pub max_items: i64,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Block {
    pub attributes: Vec<Attribute>,
    pub blocks: Vec<NestedBlock>,
    pub description: String,
    pub description_kind: DescriptionKind,
    pub deprecated: bool,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Schema {
    /// Bumped when the stored state shape changes; older states go through the upgrade hook.
    pub version: i64,
    pub block: Block,
}

impl Attribute {
    pub fn new(name: &str, ty: Type) -> Attribute {
        Attribute {
            name: name.to_string(),
            ty: AttributeType::Typed(ty),
            description: String::new(),
            description_kind: DescriptionKind::Markdown,
            required: false,
            optional: false,
            computed: false,
            sensitive: false,
            write_only: false,
            deprecated: false,
        }
    }

    pub fn string(name: &str) -> Attribute {
        Attribute::new(name, Type::String)
    }

    pub fn bool(name: &str) -> Attribute {
        Attribute::new(name, Type::Bool)
    }

    pub fn number(name: &str) -> Attribute {
        Attribute::new(name, Type::Number)
    }

    pub fn nested(name: &str, nesting: Nesting, attributes: Vec<Attribute>) -> Attribute {
        Attribute {
            ty: AttributeType::Nested {
                nesting,
                attributes,
            },
            ..Attribute::new(name, Type::Dynamic)
        }
    }

    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    pub fn computed(mut self) -> Self {
        self.computed = true;
        self
    }

    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    pub fn write_only(mut self) -> Self {
        self.write_only = true;
        self
    }

    pub fn deprecated(mut self) -> Self {
        self.deprecated = true;
        self
    }

    pub fn description(mut self, text: &str) -> Self {
        self.description = text.to_string();
        self
    }

    /// The Terraform type of this attribute's value.
    pub fn value_type(&self) -> Type {
        match &self.ty {
            AttributeType::Typed(t) => t.clone(),
            AttributeType::Nested {
                nesting,
                attributes,
            } => {
                let obj = object_type(attributes);
                match nesting {
                    Nesting::Single | Nesting::Group => obj,
                    Nesting::List => Type::List(Box::new(obj)),
                    Nesting::Set => Type::Set(Box::new(obj)),
                    Nesting::Map => Type::Map(Box::new(obj)),
                }
            }
        }
    }
}

fn object_type(attributes: &[Attribute]) -> Type {
    Type::Object(
        attributes
            .iter()
            .map(|a| (a.name.clone(), a.value_type()))
            .collect::<BTreeMap<_, _>>(),
    )
}

impl Block {
    pub fn new(description: &str, attributes: Vec<Attribute>) -> Block {
        Block {
            attributes,
            description: description.to_string(),
            ..Block::default()
        }
    }

    /// The object type of a value of this block (attributes and nested blocks).
    pub fn value_type(&self) -> Type {
        let mut attrs: BTreeMap<String, Type> = self
            .attributes
            .iter()
            .map(|a| (a.name.clone(), a.value_type()))
            .collect();
        for b in &self.blocks {
            let obj = b.block.value_type();
            let t = match b.nesting {
                Nesting::Single | Nesting::Group => obj,
                Nesting::List => Type::List(Box::new(obj)),
                Nesting::Set => Type::Set(Box::new(obj)),
                Nesting::Map => Type::Map(Box::new(obj)),
            };
            attrs.insert(b.type_name.clone(), t);
        }
        Type::Object(attrs)
    }

    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }
}

impl Schema {
    pub fn new(version: i64, block: Block) -> Schema {
        Schema { version, block }
    }

    pub fn value_type(&self) -> Type {
        self.block.value_type()
    }
}

/// What names one remote object of a managed resource type for its whole life (Terraform ≥ 1.12
/// and OpenTofu ≥ 1.12 keep it in state beside the object and accept it in `import` blocks).
///
/// Each attribute is read from one top-level attribute of the resource's state, so the server
/// computes the identity of any state itself, and a resource cannot report one that disagrees
/// with its state. Changing the attributes needs a new `version` and an upgrade step
/// ([`Resource::upgrade_identity`](super::Resource::upgrade_identity)).
#[derive(Clone, Debug, PartialEq)]
pub struct IdentitySchema {
    pub version: i64,
    pub attributes: Vec<IdentityAttribute>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct IdentityAttribute {
    pub name: String,
    pub ty: Type,
    /// The state attribute the value is read from.
    pub state_attribute: String,
    /// Must be given in `import { identity = {…} }`.
    pub required_for_import: bool,
    /// May be given there; the provider fills it in otherwise.
    pub optional_for_import: bool,
    pub description: String,
}

impl IdentityAttribute {
    /// A string attribute read from the state attribute of the same name.
    pub fn string(name: &str) -> IdentityAttribute {
        IdentityAttribute {
            name: name.to_string(),
            ty: Type::String,
            state_attribute: name.to_string(),
            required_for_import: false,
            optional_for_import: false,
            description: String::new(),
        }
    }

    /// Reads the value from the state attribute `attribute` instead of the same-named one.
    pub fn from_state(mut self, attribute: &str) -> Self {
        self.state_attribute = attribute.to_string();
        self
    }

    pub fn required_for_import(mut self) -> Self {
        self.required_for_import = true;
        self
    }

    pub fn optional_for_import(mut self) -> Self {
        self.optional_for_import = true;
        self
    }

    pub fn description(mut self, text: &str) -> Self {
        self.description = text.to_string();
        self
    }
}

impl IdentitySchema {
    pub fn new(version: i64, attributes: Vec<IdentityAttribute>) -> IdentitySchema {
        IdentitySchema {
            version,
            attributes,
        }
    }

    /// The object type of an identity value.
    pub fn value_type(&self) -> Type {
        Type::Object(
            self.attributes
                .iter()
                .map(|a| (a.name.clone(), a.ty.clone()))
                .collect(),
        )
    }

    /// The identity of the object `state` describes: each attribute taken from its state
    /// attribute. Null for a null state (nothing exists to identify).
    pub fn of(&self, state: &Value) -> Value {
        if state.is_null() {
            return Value::Null;
        }
        Value::Object(
            self.attributes
                .iter()
                .map(|a| (a.name.clone(), state.attr(&a.state_attribute).clone()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_type_follows_nesting() {
        let block = Block::new(
            "d",
            vec![
                Attribute::string("id").computed(),
                Attribute::nested(
                    "items",
                    Nesting::List,
                    vec![
                        Attribute::string("name").computed(),
                        Attribute::bool("on").computed(),
                    ],
                ),
            ],
        );
        let expected = serde_json::json!(["object", {
            "id": "string",
            "items": ["list", ["object", {"name": "string", "on": "bool"}]]
        }]);
        assert_eq!(block.value_type().to_json(), expected);
    }
}
