//! Conversions between the framework's model and the generated tfplugin6 messages.
//!
//! Kept apart from `server.rs` so the RPC handlers read as the steps of each operation, and so
//! every conversion that can fail on Terraform's input (decoding a `DynamicValue`) lives in one
//! place that turns failure into a diagnostic.

use std::time::SystemTime;

use crate::proto::tfplugin6 as pb;

use super::diag::{AttrPath, Diagnostic, Diagnostics, PathStep, Severity};
use super::schema::{
    Attribute, AttributeType, Block, DescriptionKind, IdentitySchema, Nesting, Schema,
};
use super::value::{self, Type, Value};

pub fn schema(s: &Schema) -> pb::Schema {
    pb::Schema {
        version: s.version,
        block: Some(block(&s.block, s.version)),
    }
}

pub fn identity_schema(s: &IdentitySchema) -> pb::ResourceIdentitySchema {
    pb::ResourceIdentitySchema {
        version: s.version,
        identity_attributes: s
            .attributes
            .iter()
            .map(|a| pb::resource_identity_schema::IdentityAttribute {
                name: a.name.clone(),
                r#type: a.ty.to_json_bytes(),
                required_for_import: a.required_for_import,
                optional_for_import: a.optional_for_import,
                description: a.description.clone(),
            })
            .collect(),
    }
}

/// Wraps an identity value for the wire; `None` (no identity) for a null value.
pub fn identity(v: &Value, ty: &Type, diags: &mut Diagnostics) -> Option<pb::ResourceIdentityData> {
    if v.is_null() {
        return None;
    }
    Some(pb::ResourceIdentityData {
        identity_data: Some(encode(v, ty, diags)?),
    })
}

fn kind(k: DescriptionKind) -> i32 {
    match k {
        DescriptionKind::Plain => pb::StringKind::Plain as i32,
        DescriptionKind::Markdown => pb::StringKind::Markdown as i32,
    }
}

fn block(b: &Block, version: i64) -> pb::schema::Block {
    pb::schema::Block {
        version,
        attributes: b.attributes.iter().map(attribute).collect(),
        block_types: b
            .blocks
            .iter()
            .map(|nb| pb::schema::NestedBlock {
                type_name: nb.type_name.clone(),
                block: Some(block(&nb.block, 0)),
                nesting: match nb.nesting {
                    Nesting::Single => pb::schema::nested_block::NestingMode::Single,
                    Nesting::List => pb::schema::nested_block::NestingMode::List,
                    Nesting::Set => pb::schema::nested_block::NestingMode::Set,
                    Nesting::Map => pb::schema::nested_block::NestingMode::Map,
                    Nesting::Group => pb::schema::nested_block::NestingMode::Group,
                } as i32,
                min_items: nb.min_items,
                max_items: nb.max_items,
            })
            .collect(),
        description: b.description.clone(),
        description_kind: kind(b.description_kind),
        deprecated: b.deprecated,
        deprecation_message: String::new(),
    }
}

fn attribute(a: &Attribute) -> pb::schema::Attribute {
    let (ty, nested_type) = match &a.ty {
        AttributeType::Typed(t) => (t.to_json_bytes(), None),
        AttributeType::Nested {
            nesting,
            attributes,
        } => (
            Vec::new(),
            Some(pb::schema::Object {
                attributes: attributes.iter().map(attribute).collect(),
                nesting: match nesting {
                    Nesting::Single | Nesting::Group => pb::schema::object::NestingMode::Single,
                    Nesting::List => pb::schema::object::NestingMode::List,
                    Nesting::Set => pb::schema::object::NestingMode::Set,
                    Nesting::Map => pb::schema::object::NestingMode::Map,
                } as i32,
                ..Default::default()
            }),
        ),
    };
    pb::schema::Attribute {
        name: a.name.clone(),
        r#type: ty,
        nested_type,
        description: a.description.clone(),
        description_kind: kind(a.description_kind),
        required: a.required,
        optional: a.optional,
        computed: a.computed,
        sensitive: a.sensitive,
        write_only: a.write_only,
        deprecated: a.deprecated,
        deprecation_message: String::new(),
    }
}

pub fn diagnostics(d: &Diagnostics) -> Vec<pb::Diagnostic> {
    d.iter().map(diagnostic).collect()
}

fn diagnostic(d: &Diagnostic) -> pb::Diagnostic {
    pb::Diagnostic {
        severity: match d.severity {
            Severity::Error => pb::diagnostic::Severity::Error,
            Severity::Warning => pb::diagnostic::Severity::Warning,
        } as i32,
        summary: d.summary.clone(),
        detail: d.detail.clone(),
        attribute: d.attribute.as_ref().map(path),
    }
}

pub fn path(p: &AttrPath) -> pb::AttributePath {
    use pb::attribute_path::step::Selector;
    pb::AttributePath {
        steps: p
            .0
            .iter()
            .map(|s| pb::attribute_path::Step {
                selector: Some(match s {
                    PathStep::Attribute(a) => Selector::AttributeName(a.clone()),
                    PathStep::Key(k) => Selector::ElementKeyString(k.clone()),
                    PathStep::Index(i) => Selector::ElementKeyInt(*i),
                }),
            })
            .collect(),
    }
}

/// Decodes a `DynamicValue` (msgpack, else JSON; absent means null). A value Terraform sent that
/// does not fit the schema becomes an error diagnostic naming `what` and the attribute.
pub fn decode(
    dv: Option<&pb::DynamicValue>,
    ty: &Type,
    what: &str,
    diags: &mut Diagnostics,
) -> Option<Value> {
    let Some(dv) = dv else {
        return Some(Value::Null);
    };
    let result = if !dv.msgpack.is_empty() {
        value::from_msgpack(&dv.msgpack, ty)
    } else if !dv.json.is_empty() {
        match serde_json::from_slice::<serde_json::Value>(&dv.json) {
            Ok(j) => value::from_json(&j, ty),
            Err(e) => Err(value::DecodeError {
                path: String::new(),
                message: format!("invalid JSON: {e}"),
            }),
        }
    } else {
        Ok(Value::Null)
    };
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            diags.error(
                format!("Invalid {what} received from Terraform"),
                format!(
                    "The provider could not decode the {what}: {e}. This usually means Terraform and the \
                     provider disagree about the schema; please report it to the provider developers."
                ),
            );
            None
        }
    }
}

/// Encodes a value the provider produced for Terraform. A value that lacks an attribute of its
/// type (a model missing a schema attribute) is an error diagnostic, not a silent null.
pub fn encode(v: &Value, ty: &Type, diags: &mut Diagnostics) -> Option<pb::DynamicValue> {
    match value::to_msgpack(v, ty) {
        Ok(msgpack) => Some(pb::DynamicValue {
            msgpack,
            json: Vec::new(),
        }),
        Err(missing) => {
            diags.error(
                "Provider produced an incomplete value",
                format!(
                    "The provider's value has no attribute `{}`, which its schema declares. This is \
                     a bug in the provider; please report it to the provider developers.",
                    missing.path
                ),
            );
            None
        }
    }
}

pub fn timestamp(t: SystemTime) -> prost_types::Timestamp {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    prost_types::Timestamp {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_converts_with_flags_and_nested_types() {
        let s = Schema::new(
            1,
            Block::new(
                "d",
                vec![
                    Attribute::string("key")
                        .optional()
                        .sensitive()
                        .write_only()
                        .description("The key."),
                    Attribute::nested(
                        "items",
                        Nesting::List,
                        vec![Attribute::string("id").computed()],
                    )
                    .computed(),
                ],
            ),
        );
        let p = schema(&s);
        let b = p.block.unwrap();
        assert_eq!(p.version, 1);
        let key = &b.attributes[0];
        assert!(key.optional && key.sensitive && key.write_only && !key.required);
        assert_eq!(key.r#type, b"\"string\"");
        assert_eq!(key.description_kind, pb::StringKind::Markdown as i32);
        let items = &b.attributes[1];
        assert!(items.r#type.is_empty());
        let obj = items.nested_type.as_ref().unwrap();
        assert_eq!(obj.nesting, pb::schema::object::NestingMode::List as i32);
        assert_eq!(obj.attributes[0].name, "id");
    }

    #[test]
    fn diagnostics_carry_their_path() {
        let mut d = Diagnostics::new();
        d.attr_error(AttrPath::attr("a").then_index(2).then_key("k"), "s", "d");
        let p = diagnostics(&d);
        assert_eq!(p[0].severity, pb::diagnostic::Severity::Error as i32);
        let steps = &p[0].attribute.as_ref().unwrap().steps;
        assert_eq!(steps.len(), 3);
        assert_eq!(
            steps[1].selector,
            Some(pb::attribute_path::step::Selector::ElementKeyInt(2))
        );
    }

    #[test]
    fn undecodable_values_become_diagnostics() {
        let mut d = Diagnostics::new();
        let dv = pb::DynamicValue {
            msgpack: vec![0xff, 0x00],
            json: vec![],
        };
        assert!(decode(Some(&dv), &Type::String, "configuration", &mut d).is_none());
        assert!(d.has_errors());
        assert!(d.0[0].summary.contains("configuration"));
        // Absent and empty values are null.
        assert_eq!(
            decode(None, &Type::String, "state", &mut d),
            Some(Value::Null)
        );
    }
}
