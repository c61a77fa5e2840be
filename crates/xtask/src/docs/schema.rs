//! The schema part of a page: the Required / Optional / Read-Only lists, nested schemas with
//! their anchors, Registry-style type names, and the provider's environment-variable table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use terraform_plugin::framework::schema::{AttributeType, Block, NestedBlock, Nesting};
use terraform_plugin::framework::{Attribute, Type};

/// A nested schema still to be written below the main lists.
struct Pending<'a> {
    /// Dotted path shown in the heading, e.g. `integrations.workflows`.
    path: String,
    anchor: String,
    body: NestedBody<'a>,
}

enum NestedBody<'a> {
    Attributes(&'a [Attribute]),
    Block(&'a Block),
    /// A plain object type (not nested attributes): only names and types are known.
    Object(&'a BTreeMap<String, Type>),
}

/// Which list an attribute belongs in, as Terraform users read them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Group {
    Required,
    Optional,
    ReadOnly,
}

fn group_of(a: &Attribute) -> Group {
    if a.required {
        Group::Required
    } else if a.optional {
        Group::Optional
    } else {
        Group::ReadOnly
    }
}

const GROUPS: [(Group, &str); 3] = [
    (Group::Required, "Required"),
    (Group::Optional, "Optional"),
    (Group::ReadOnly, "Read-Only"),
];

/// The main "### Required / ### Optional / ### Read-Only" lists, then every nested schema.
pub(super) fn render_block(s: &mut String, block: &Block) {
    let mut pending = Vec::new();
    write_lists(s, &block.attributes, &block.blocks, "", true, &mut pending);
    // Breadth-first: each nested section may queue deeper ones.
    let mut i = 0;
    while i < pending.len() {
        let (path, anchor) = (pending[i].path.clone(), pending[i].anchor.clone());
        let _ = writeln!(
            s,
            "<a id=\"{anchor}\"></a>\n### Nested Schema for `{path}`\n"
        );
        let mut queued = Vec::new();
        match pending[i].body {
            NestedBody::Attributes(attrs) => write_lists(s, attrs, &[], &path, false, &mut queued),
            NestedBody::Block(b) => {
                write_lists(s, &b.attributes, &b.blocks, &path, false, &mut queued)
            }
            NestedBody::Object(fields) => {
                for (name, ty) in fields {
                    let _ = writeln!(s, "- `{name}` ({})", type_name(ty));
                    if let Some(obj) = object_fields(ty) {
                        let sub = format!("{path}.{name}");
                        queued.push(Pending {
                            anchor: anchor_for("nestedobjatt", &sub),
                            path: sub,
                            body: NestedBody::Object(obj),
                        });
                    }
                }
                s.push('\n');
            }
        }
        pending.extend(queued);
        i += 1;
    }
}

/// `nestedatt--integrations--workflows`: unique per path, stable across runs.
fn anchor_for(prefix: &str, path: &str) -> String {
    format!("{prefix}--{}", path.replace('.', "--"))
}

fn write_lists<'a>(
    s: &mut String,
    attributes: &'a [Attribute],
    nested_blocks: &'a [NestedBlock],
    path: &str,
    top: bool,
    pending: &mut Vec<Pending<'a>>,
) {
    let full = |name: &str| {
        if path.is_empty() {
            name.to_string()
        } else {
            format!("{path}.{name}")
        }
    };
    let mut attrs: Vec<&Attribute> = attributes.iter().collect();
    attrs.sort_by(|a, b| a.name.cmp(&b.name));
    let mut blocks: Vec<&NestedBlock> = nested_blocks.iter().collect();
    blocks.sort_by(|a, b| a.type_name.cmp(&b.type_name));

    for (group, title) in GROUPS {
        let members: Vec<&&Attribute> = attrs.iter().filter(|a| group_of(a) == group).collect();
        // Blocks are configuration: required when they need at least one item, else optional.
        let group_blocks: Vec<_> = blocks
            .iter()
            .filter(|b| match group {
                Group::Required => b.min_items > 0,
                Group::Optional => b.min_items == 0,
                Group::ReadOnly => false,
            })
            .collect();
        if members.is_empty() && group_blocks.is_empty() {
            continue;
        }
        if top {
            let _ = writeln!(s, "### {title}\n");
        } else {
            let _ = writeln!(s, "{title}:\n");
        }
        for a in members {
            let mut line = format!("- `{}` ({}", a.name, attribute_type(a));
            for (on, flag) in [
                (a.sensitive, "Sensitive"),
                (a.write_only, "Write-only"),
                (a.deprecated, "Deprecated"),
            ] {
                if on {
                    line.push_str(", ");
                    line.push_str(flag);
                }
            }
            line.push(')');
            push_description(&mut line, &a.description);
            match &a.ty {
                AttributeType::Nested { attributes, .. } => {
                    let p = full(&a.name);
                    let anchor = anchor_for("nestedatt", &p);
                    let _ = write!(line, " (see [below for nested schema](#{anchor}))");
                    pending.push(Pending {
                        path: p,
                        anchor,
                        body: NestedBody::Attributes(attributes),
                    });
                }
                AttributeType::Typed(t) => {
                    if let Some(obj) = object_fields(t) {
                        let p = full(&a.name);
                        let anchor = anchor_for("nestedobjatt", &p);
                        let _ = write!(line, " (see [below for nested schema](#{anchor}))");
                        pending.push(Pending {
                            path: p,
                            anchor,
                            body: NestedBody::Object(obj),
                        });
                    }
                }
            }
            s.push_str(&line);
            s.push('\n');
        }
        for b in group_blocks {
            let mut line = format!("- `{}` (Block {}", b.type_name, nesting_name(b.nesting));
            if b.min_items > 0 {
                let _ = write!(line, ", Min: {}", b.min_items);
            }
            if b.max_items > 0 {
                let _ = write!(line, ", Max: {}", b.max_items);
            }
            if b.block.deprecated {
                line.push_str(", Deprecated");
            }
            line.push(')');
            push_description(&mut line, &b.block.description);
            let p = full(&b.type_name);
            let anchor = anchor_for("nestedblock", &p);
            let _ = write!(line, " (see [below for nested schema](#{anchor}))");
            pending.push(Pending {
                path: p,
                anchor,
                body: NestedBody::Block(&b.block),
            });
            s.push_str(&line);
            s.push('\n');
        }
        s.push('\n');
    }
}

fn push_description(line: &mut String, description: &str) {
    // A list item is one line: fold any line breaks in the description.
    let d = description.split_whitespace().collect::<Vec<_>>().join(" ");
    if !d.is_empty() {
        line.push(' ');
        line.push_str(&d);
    }
}

fn nesting_name(n: Nesting) -> &'static str {
    match n {
        Nesting::Single | Nesting::Group => "Single",
        Nesting::List => "List",
        Nesting::Set => "Set",
        Nesting::Map => "Map",
    }
}

fn attribute_type(a: &Attribute) -> String {
    match &a.ty {
        AttributeType::Typed(t) => type_name(t),
        AttributeType::Nested { nesting, .. } => match nesting {
            Nesting::Single | Nesting::Group => "Attributes".to_string(),
            n => format!("Attributes {}", nesting_name(*n)),
        },
    }
}

/// `List of String`, `Map of Number`, `Object`…, as users read types in the Registry.
pub(super) fn type_name(t: &Type) -> String {
    match t {
        Type::Bool => "Boolean".to_string(),
        Type::Number => "Number".to_string(),
        Type::String => "String".to_string(),
        Type::Dynamic => "Dynamic".to_string(),
        Type::List(e) => format!("List of {}", type_name(e)),
        Type::Set(e) => format!("Set of {}", type_name(e)),
        Type::Map(e) => format!("Map of {}", type_name(e)),
        Type::Object(_) => "Object".to_string(),
        Type::Tuple(_) => "Tuple".to_string(),
    }
}

/// The fields of an object type, directly or as the element of a collection.
fn object_fields(t: &Type) -> Option<&BTreeMap<String, Type>> {
    match t {
        Type::Object(fields) => Some(fields),
        Type::List(e) | Type::Set(e) | Type::Map(e) => object_fields(e),
        _ => None,
    }
}

/// The variables that can supply provider settings, as a table: users look for "which variable
/// sets what" in one place. Sorted by attribute, then in the order given.
pub(super) fn render_env_vars(s: &mut String, env_vars: &[(&str, &str)]) {
    let mut pairs = env_vars.to_vec();
    pairs.sort_by_key(|(attr, _)| *attr);
    let mut vars: Vec<(&str, Vec<&str>)> = Vec::new();
    for (attr, var) in pairs {
        match vars.iter_mut().find(|(v, _)| *v == var) {
            Some((_, users)) if !users.contains(&attr) => users.push(attr),
            Some(_) => {}
            None => vars.push((var, vec![attr])),
        }
    }
    if vars.is_empty() {
        return;
    }
    s.push_str("## Environment Variables\n\n");
    s.push_str(
        "Settings left out of the provider block are read from these variables; a value in the \
         block wins. The descriptions above say how each variable is used.\n\n",
    );
    s.push_str("| Variable | Attribute |\n|---|---|\n");
    for (var, users) in vars {
        let users: Vec<String> = users.iter().map(|u| format!("`{u}`")).collect();
        let _ = writeln!(s, "| `{var}` | {} |", users.join(", "));
    }
    s.push('\n');
}
