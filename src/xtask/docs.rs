//! Registry documentation generated from the provider's schema and `examples/`.
//!
//! The pages follow the Registry's conventional layout (`docs/index.md`, `docs/resources/`,
//! `docs/data-sources/`, `docs/ephemeral-resources/`), one page per type, named after the type
//! without the provider prefix. Everything a page says about arguments comes from the schema's
//! descriptions and flags, so the docs cannot drift from what Terraform is told; the examples
//! are the same files `tests/e2e_examples.rs` validates against the emulator.
//!
//! Shaped for determinism: types are sorted by name, attributes by name within each group,
//! nested schemas follow in the order their links appear, and files end with one newline. So
//! `docs --check` (and `tests/docs.rs`) can compare bytes. `docs/guides/` is hand-written and
//! never touched; any other `.md` file in a generated directory that no type produces is
//! reported as stale and removed on regeneration.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::framework::schema::{AttributeType, Block, NestedBlock, Nesting};
use crate::framework::server::Schemas;
use crate::framework::{Attribute, Provider, Schema, Server, Type};
use crate::provider::AlloyProvider;

use super::{Error, Result, io_err};

/// The directories this generator owns under `docs/` (besides `index.md`).
pub const GENERATED_DIRS: [&str; 3] = ["resources", "data-sources", "ephemeral-resources"];

/// What kind of thing a page documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Resource,
    DataSource,
    EphemeralResource,
}

impl Kind {
    /// Directory under both `docs/` and `examples/`.
    pub fn dir(self) -> &'static str {
        match self {
            Kind::Resource => "resources",
            Kind::DataSource => "data-sources",
            Kind::EphemeralResource => "ephemeral-resources",
        }
    }

    /// The example file inside `examples/<dir>/<type>/`.
    pub fn example_file(self) -> &'static str {
        match self {
            Kind::Resource => "resource.tf",
            Kind::DataSource => "data-source.tf",
            Kind::EphemeralResource => "ephemeral-resource.tf",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Kind::Resource => "Resource",
            Kind::DataSource => "Data Source",
            Kind::EphemeralResource => "Ephemeral Resource",
        }
    }
}

/// The generated pages, by path relative to `docs/`, plus anything worth telling the author.
#[derive(Debug, Default)]
pub struct Generated {
    pub files: BTreeMap<PathBuf, String>,
    /// E.g. a type without an example file. Pages are still produced.
    pub warnings: Vec<String>,
}

/// How a file under `docs/` differs from what the generator produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// Generated but not on disk.
    Missing,
    /// On disk with other content.
    Differs,
    /// On disk in a generated directory, but no type produces it any more.
    Stale,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Relative to the docs directory.
    pub path: PathBuf,
    pub kind: ChangeKind,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let why = match self.kind {
            ChangeKind::Missing => "missing",
            ChangeKind::Differs => "out of date",
            ChangeKind::Stale => "stale (no type produces it)",
        };
        write!(f, "{}: {why}", self.path.display())
    }
}

/// Generates the docs of the Alloy provider from its in-process schema.
pub fn generate(examples: &Path) -> Result<Generated> {
    let server = Server::new(AlloyProvider);
    render(
        AlloyProvider.type_name(),
        crate::provider::config::ENV_VARS,
        &server.schemas(),
        examples,
    )
}

/// Renders every page for a provider named `provider` (its type-name prefix, e.g. `alloy`), whose
/// block's settings can also come from the (attribute, variable) pairs in `env_vars`.
/// Generic over whatever the schemas contain, so new kinds of types need no change here.
pub fn render(
    provider: &str,
    env_vars: &[(&str, &str)],
    schemas: &Schemas<'_>,
    examples: &Path,
) -> Result<Generated> {
    let mut out = Generated::default();
    let index = render_provider(
        provider,
        env_vars,
        &schemas.provider,
        examples,
        &mut out.warnings,
    )?;
    out.files.insert(PathBuf::from("index.md"), index);
    for (kind, list) in [
        (Kind::Resource, &schemas.resources),
        (Kind::DataSource, &schemas.data_sources),
        (Kind::EphemeralResource, &schemas.ephemeral_resources),
    ] {
        let mut list: Vec<(&str, &Schema)> = list.iter().map(|(n, s)| (*n, *s)).collect();
        list.sort_by_key(|(n, _)| *n);
        for (type_name, schema) in list {
            let short = page_name(provider, type_name)?;
            let page = render_type(
                provider,
                kind,
                type_name,
                schema,
                examples,
                &mut out.warnings,
            )?;
            out.files
                .insert(Path::new(kind.dir()).join(format!("{short}.md")), page);
        }
    }
    Ok(out)
}

/// `alloy_user` → `user`: the Registry names pages without the provider prefix.
fn page_name<'a>(provider: &str, type_name: &'a str) -> Result<&'a str> {
    type_name
        .strip_prefix(provider)
        .and_then(|r| r.strip_prefix('_'))
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            Error::Invalid(format!(
                "type {type_name:?} does not start with the provider's name {provider:?} and `_`"
            ))
        })
}

fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("read", path)(e)),
    }
}

/// A fenced code block with the file's content, trailing blank lines trimmed.
fn code_block(lang: &str, content: &str) -> String {
    let body: Vec<&str> = content.lines().map(str::trim_end).collect();
    let body = body.join("\n");
    format!("```{lang}\n{}\n```\n", body.trim_matches('\n'))
}

/// YAML front matter. The description is a literal block, so no character needs escaping.
fn front_matter(page_title: &str, description: &str) -> String {
    let mut s = String::from("---\n");
    let _ = writeln!(s, "page_title: \"{}\"", page_title.replace('"', "'"));
    s.push_str("subcategory: \"\"\n");
    s.push_str("description: |-\n");
    let description = description.trim();
    if description.is_empty() {
        s.push_str("  \n");
    }
    for line in description.lines() {
        if line.trim().is_empty() {
            s.push('\n');
        } else {
            let _ = writeln!(s, "  {}", line.trim_end());
        }
    }
    s.push_str("---\n\n");
    s.push_str(
        "<!-- Generated by `cargo run --bin xtask -- docs` from the provider's schema and examples/. \
         Edit those, not this file. -->\n\n",
    );
    s
}

fn render_provider(
    provider: &str,
    env_vars: &[(&str, &str)],
    schema: &Schema,
    examples: &Path,
    warnings: &mut Vec<String>,
) -> Result<String> {
    let mut s = front_matter(&format!("{provider} Provider"), &schema.block.description);
    let _ = writeln!(s, "# {provider} Provider\n");
    push_paragraph(&mut s, &schema.block.description);
    let example = examples.join("provider").join("provider.tf");
    match read_optional(&example)? {
        Some(text) => {
            s.push_str("## Example Usage\n\n");
            s.push_str(&code_block("terraform", &text));
            s.push('\n');
        }
        None => warnings.push(format!("no provider example at {}", example.display())),
    }
    s.push_str("## Schema\n\n");
    render_block(&mut s, &schema.block);
    render_env_vars(&mut s, env_vars);
    Ok(finish(s))
}

fn render_type(
    provider: &str,
    kind: Kind,
    type_name: &str,
    schema: &Schema,
    examples: &Path,
    warnings: &mut Vec<String>,
) -> Result<String> {
    let block = &schema.block;
    let mut s = front_matter(
        &format!("{type_name} {} - {provider}", kind.title()),
        &block.description,
    );
    let _ = writeln!(s, "# {type_name} ({})\n", kind.title());
    if block.deprecated {
        let _ = writeln!(
            s,
            "~> **Deprecated:** this {} will be removed in a future version.\n",
            kind.title().to_lowercase()
        );
    }
    push_paragraph(&mut s, &block.description);
    if kind == Kind::EphemeralResource {
        s.push_str(
            "-> **Note:** Ephemeral resources need Terraform 1.10 or later. Their values are never \
             stored in the plan or the state.\n\n",
        );
    }
    let dir = examples.join(kind.dir()).join(type_name);
    let example = dir.join(kind.example_file());
    match read_optional(&example)? {
        Some(text) => {
            s.push_str("## Example Usage\n\n");
            s.push_str(&code_block("terraform", &text));
            s.push('\n');
        }
        None => warnings.push(format!(
            "{type_name} has no example: add {}",
            Path::new("examples")
                .join(kind.dir())
                .join(type_name)
                .join(kind.example_file())
                .display()
        )),
    }
    s.push_str("## Schema\n\n");
    render_block(&mut s, block);
    if kind == Kind::Resource
        && let Some(text) = read_optional(&dir.join("import.sh"))?
    {
        s.push_str("## Import\n\nImport is supported using the following syntax:\n\n");
        s.push_str(&code_block("shell", &text));
        s.push('\n');
    }
    Ok(finish(s))
}

fn push_paragraph(s: &mut String, text: &str) {
    let text = text.trim();
    if !text.is_empty() {
        s.push_str(text);
        s.push_str("\n\n");
    }
}

/// Exactly one trailing newline, and no run of blank lines.
fn finish(s: String) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank = 0;
    for line in s.trim_end().lines() {
        if line.is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

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
fn render_block(s: &mut String, block: &Block) {
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
fn type_name(t: &Type) -> String {
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
fn render_env_vars(s: &mut String, env_vars: &[(&str, &str)]) {
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

/// The `.md` files currently in the generated part of `docs_dir`, relative to it.
fn existing(docs_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if docs_dir.join("index.md").is_file() {
        out.push(PathBuf::from("index.md"));
    }
    for dir in GENERATED_DIRS {
        let d = docs_dir.join(dir);
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err("list", &d)(e)),
        };
        for e in entries {
            let e = e.map_err(io_err("list", &d))?;
            let p = e.path();
            if p.is_file() && p.extension().is_some_and(|x| x == "md") {
                out.push(Path::new(dir).join(e.file_name()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// What differs between `docs_dir` and the generated pages (empty when current).
pub fn check(generated: &Generated, docs_dir: &Path) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    for (rel, content) in &generated.files {
        let path = docs_dir.join(rel);
        match read_optional(&path)? {
            None => changes.push(Change {
                path: rel.clone(),
                kind: ChangeKind::Missing,
            }),
            Some(on_disk) if on_disk != *content => changes.push(Change {
                path: rel.clone(),
                kind: ChangeKind::Differs,
            }),
            Some(_) => {}
        }
    }
    for rel in existing(docs_dir)? {
        if !generated.files.contains_key(&rel) {
            changes.push(Change {
                path: rel,
                kind: ChangeKind::Stale,
            });
        }
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(changes)
}

/// Brings `docs_dir` up to date: writes changed pages, removes stale ones, leaves everything
/// else (guides) alone. Returns what it changed.
pub fn write(generated: &Generated, docs_dir: &Path) -> Result<Vec<Change>> {
    let changes = check(generated, docs_dir)?;
    for c in &changes {
        let path = docs_dir.join(&c.path);
        match c.kind {
            ChangeKind::Stale => std::fs::remove_file(&path).map_err(io_err("remove", &path))?,
            ChangeKind::Missing | ChangeKind::Differs => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(io_err("create", parent))?;
                }
                std::fs::write(&path, &generated.files[&c.path]).map_err(io_err("write", &path))?;
            }
        }
    }
    Ok(changes)
}

/// Options of `xtask docs`.
#[derive(Clone, Debug)]
pub struct DocsOptions {
    /// Where `examples/` lives (the checkout).
    pub root: PathBuf,
    /// The docs directory; `root/docs` by default.
    pub out: PathBuf,
    /// Only report what is out of date.
    pub check: bool,
}

/// `xtask docs [--check]`. Returns false when `--check` found out-of-date files.
pub fn docs_command(opts: &DocsOptions, out: &mut dyn Write) -> Result<bool> {
    let generated = generate(&opts.root.join("examples"))?;
    for w in &generated.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    if opts.check {
        let changes = check(&generated, &opts.out)?;
        if changes.is_empty() {
            let _ = writeln!(
                out,
                "{} is up to date ({} pages)",
                opts.out.display(),
                generated.files.len()
            );
            return Ok(true);
        }
        let _ = writeln!(out, "{} is out of date:", opts.out.display());
        for c in &changes {
            let _ = writeln!(out, "  {c}");
        }
        let _ = writeln!(
            out,
            "Run `cargo run --bin xtask -- docs` and commit the result."
        );
        return Ok(false);
    }
    let changes = write(&generated, &opts.out)?;
    for c in &changes {
        let verb = if c.kind == ChangeKind::Stale {
            "removed"
        } else {
            "wrote"
        };
        let _ = writeln!(out, "{verb} {}", opts.out.join(&c.path).display());
    }
    let _ = writeln!(
        out,
        "{} pages, {} changed",
        generated.files.len(),
        changes.len()
    );
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE_ENV_VARS: &[(&str, &str)] = &[
        ("token", "SAMPLE_TOKEN"),
        ("token", "SAMPLE_TOKEN_FILE"),
        ("mode", "SAMPLE_MODE"),
    ];

    /// A provider with every shape the generator handles: flags, nesting, blocks, object types.
    fn sample() -> (Schema, Schema, Schema, Schema) {
        let provider = Schema::new(
            0,
            Block::new(
                "The sample provider.",
                vec![
                    Attribute::string("token")
                        .optional()
                        .sensitive()
                        .description("A token. Also `SAMPLE_TOKEN`, or `SAMPLE_TOKEN_FILE`."),
                    Attribute::string("mode").optional().description(
                        "Mode; `SAMPLE_TOKEN` is not read for it. Also `SAMPLE_MODE`.",
                    ),
                ],
            ),
        );
        let mut thing_block = Block::new(
            "A thing.\nOn two lines.",
            vec![
                Attribute::string("name")
                    .required()
                    .description("Name\n  of the thing."),
                Attribute::string("id").computed().description("Id."),
                Attribute::string("secret")
                    .optional()
                    .write_only()
                    .description("Secret."),
                Attribute::string("old").optional().deprecated(),
                Attribute::nested(
                    "items",
                    Nesting::List,
                    vec![
                        Attribute::string("key").required().description("Key."),
                        Attribute::nested(
                            "parts",
                            Nesting::Set,
                            vec![Attribute::number("size").computed()],
                        )
                        .computed(),
                    ],
                )
                .optional()
                .description("Items."),
                Attribute::new(
                    "pairs",
                    Type::List(Box::new(Type::Object(BTreeMap::from([
                        ("a".to_string(), Type::String),
                        ("b".to_string(), Type::Map(Box::new(Type::Bool))),
                    ])))),
                )
                .computed(),
            ],
        );
        thing_block.blocks.push(NestedBlock {
            type_name: "timeouts".into(),
            block: Block::new("Timeouts.", vec![Attribute::string("create").optional()]),
            nesting: Nesting::Single,
            min_items: 0,
            max_items: 1,
        });
        let thing = Schema::new(0, thing_block);
        let lookup = Schema::new(
            0,
            Block::new("Looks up.", vec![Attribute::string("id").required()]),
        );
        let token = Schema::new(
            0,
            Block::new(
                "A short-lived token.",
                vec![Attribute::string("value").computed().sensitive()],
            ),
        );
        (provider, thing, lookup, token)
    }

    fn examples() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let put = |rel: &str, text: &str| {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        put("provider/provider.tf", "provider \"sample\" {}\n\n\n");
        put(
            "resources/sample_thing/resource.tf",
            "resource \"sample_thing\" \"x\" {   \n  name = \"x\"\n}\n",
        );
        put(
            "resources/sample_thing/import.sh",
            "# By id.\nterraform import sample_thing.x 123\n",
        );
        put(
            "ephemeral-resources/sample_token/ephemeral-resource.tf",
            "ephemeral \"sample_token\" \"t\" {}\n",
        );
        dir
    }

    fn rendered() -> Generated {
        let (provider, thing, lookup, token) = sample();
        let schemas = Schemas {
            provider,
            resources: vec![("sample_thing", &thing)],
            data_sources: vec![("sample_lookup", &lookup)],
            ephemeral_resources: vec![("sample_token", &token)],
        };
        let ex = examples();
        render("sample", SAMPLE_ENV_VARS, &schemas, ex.path()).unwrap()
    }

    #[test]
    fn lays_out_one_page_per_type() {
        let g = rendered();
        let names: Vec<String> = g.files.keys().map(|p| p.display().to_string()).collect();
        assert_eq!(
            names,
            [
                "data-sources/lookup.md",
                "ephemeral-resources/token.md",
                "index.md",
                "resources/thing.md"
            ]
        );
        assert_eq!(
            g.warnings,
            [
                "sample_lookup has no example: add examples/data-sources/sample_lookup/data-source.tf"
            ]
        );
    }

    #[test]
    fn resource_page_has_front_matter_example_schema_and_import() {
        let g = rendered();
        let page = &g.files[Path::new("resources/thing.md")];
        assert!(
            page.starts_with(
                "---\npage_title: \"sample_thing Resource - sample\"\nsubcategory: \"\"\ndescription: |-\n  A thing.\n  On two lines.\n---\n"
            ),
            "{page}"
        );
        assert!(page.contains("# sample_thing (Resource)\n\nA thing.\nOn two lines.\n\n## Example Usage\n\n```terraform\nresource \"sample_thing\" \"x\" {\n  name = \"x\"\n}\n```\n"), "{page}");
        let schema = page.split("## Schema\n\n").nth(1).unwrap();
        let expected_lists = "### Required\n\n\
            - `name` (String) Name of the thing.\n\n\
            ### Optional\n\n\
            - `items` (Attributes List) Items. (see [below for nested schema](#nestedatt--items))\n\
            - `old` (String, Deprecated)\n\
            - `secret` (String, Write-only) Secret.\n\
            - `timeouts` (Block Single, Max: 1) Timeouts. (see [below for nested schema](#nestedblock--timeouts))\n\n\
            ### Read-Only\n\n\
            - `id` (String) Id.\n\
            - `pairs` (List of Object) (see [below for nested schema](#nestedobjatt--pairs))\n\n";
        assert!(schema.starts_with(expected_lists), "{schema}");
        let nested = "<a id=\"nestedatt--items\"></a>\n### Nested Schema for `items`\n\n\
            Required:\n\n- `key` (String) Key.\n\n\
            Read-Only:\n\n- `parts` (Attributes Set) (see [below for nested schema](#nestedatt--items--parts))\n\n\
            <a id=\"nestedblock--timeouts\"></a>\n### Nested Schema for `timeouts`\n\n\
            Optional:\n\n- `create` (String)\n\n\
            <a id=\"nestedobjatt--pairs\"></a>\n### Nested Schema for `pairs`\n\n\
            - `a` (String)\n- `b` (Map of Boolean)\n\n\
            <a id=\"nestedatt--items--parts\"></a>\n### Nested Schema for `items.parts`\n\n\
            Read-Only:\n\n- `size` (Number)\n\n\
            ## Import\n\nImport is supported using the following syntax:\n\n\
            ```shell\n# By id.\nterraform import sample_thing.x 123\n```\n";
        assert!(schema.ends_with(nested), "{schema}");
        // Every link has its anchor.
        for link in page.split("](#").skip(1) {
            let anchor = &link[..link.find(')').unwrap()];
            assert!(
                page.contains(&format!("<a id=\"{anchor}\"></a>")),
                "{anchor}"
            );
        }
    }

    #[test]
    fn index_lists_arguments_and_environment_variables() {
        let g = rendered();
        let page = &g.files[Path::new("index.md")];
        assert!(page.contains("page_title: \"sample Provider\""));
        assert!(page.contains("# sample Provider\n\nThe sample provider.\n\n## Example Usage\n\n```terraform\nprovider \"sample\" {}\n```\n"), "{page}");
        assert!(
            page.contains("### Optional\n\n- `mode` (String) Mode;"),
            "{page}"
        );
        assert!(
            page.contains("- `token` (String, Sensitive) A token."),
            "{page}"
        );
        assert!(
            page.ends_with(
                "| Variable | Attribute |\n|---|---|\n\
                 | `SAMPLE_MODE` | `mode` |\n\
                 | `SAMPLE_TOKEN` | `token` |\n\
                 | `SAMPLE_TOKEN_FILE` | `token` |\n"
            ),
            "{page}"
        );
    }

    #[test]
    fn ephemeral_and_data_source_pages() {
        let g = rendered();
        let eph = &g.files[Path::new("ephemeral-resources/token.md")];
        assert!(eph.contains("page_title: \"sample_token Ephemeral Resource - sample\""));
        assert!(eph.contains("# sample_token (Ephemeral Resource)"));
        assert!(eph.contains("Terraform 1.10 or later"));
        assert!(
            eph.contains("### Read-Only\n\n- `value` (String, Sensitive)\n"),
            "{eph}"
        );
        assert!(!eph.contains("## Import"));
        let ds = &g.files[Path::new("data-sources/lookup.md")];
        assert!(ds.contains("# sample_lookup (Data Source)"));
        assert!(
            !ds.contains("## Example Usage"),
            "no example file, no section"
        );
        assert!(ds.ends_with("### Required\n\n- `id` (String)\n"), "{ds}");
    }

    #[test]
    fn output_is_deterministic_whatever_the_input_order() {
        let (provider, thing, lookup, token) = sample();
        let other = Schema::new(0, Block::new("Other.", vec![]));
        let ex = examples();
        let a = render(
            "sample",
            SAMPLE_ENV_VARS,
            &Schemas {
                provider: provider.clone(),
                resources: vec![("sample_thing", &thing), ("sample_other", &other)],
                data_sources: vec![("sample_lookup", &lookup)],
                ephemeral_resources: vec![("sample_token", &token)],
            },
            ex.path(),
        )
        .unwrap();
        let b = render(
            "sample",
            SAMPLE_ENV_VARS,
            &Schemas {
                provider,
                resources: vec![("sample_other", &other), ("sample_thing", &thing)],
                data_sources: vec![("sample_lookup", &lookup)],
                ephemeral_resources: vec![("sample_token", &token)],
            },
            ex.path(),
        )
        .unwrap();
        assert_eq!(a.files, b.files);
        for page in a.files.values() {
            assert!(page.ends_with('\n') && !page.ends_with("\n\n"));
            assert!(!page.contains("\n\n\n"));
        }
    }

    #[test]
    fn a_type_without_the_provider_prefix_is_refused() {
        let (provider, thing, ..) = sample();
        let ex = examples();
        let err = render(
            "sample",
            SAMPLE_ENV_VARS,
            &Schemas {
                provider,
                resources: vec![("other_thing", &thing)],
                data_sources: vec![],
                ephemeral_resources: vec![],
            },
            ex.path(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("other_thing"), "{err}");
    }

    #[test]
    fn check_and_write_keep_guides_and_remove_stale_pages() {
        let g = rendered();
        let docs = tempfile::tempdir().unwrap();
        let d = docs.path();
        std::fs::create_dir_all(d.join("guides")).unwrap();
        std::fs::write(d.join("guides/start.md"), "hand-written").unwrap();
        std::fs::create_dir_all(d.join("resources")).unwrap();
        std::fs::write(d.join("resources/gone.md"), "old").unwrap();
        std::fs::write(d.join("resources/notes.txt"), "not a page").unwrap();

        let changes = check(&g, d).unwrap();
        assert_eq!(changes.len(), 5, "{changes:?}");
        assert!(changes.contains(&Change {
            path: "resources/gone.md".into(),
            kind: ChangeKind::Stale
        }));
        assert!(changes.contains(&Change {
            path: "index.md".into(),
            kind: ChangeKind::Missing
        }));

        write(&g, d).unwrap();
        assert!(check(&g, d).unwrap().is_empty());
        assert!(!d.join("resources/gone.md").exists());
        assert_eq!(
            std::fs::read_to_string(d.join("guides/start.md")).unwrap(),
            "hand-written"
        );
        assert!(d.join("resources/notes.txt").exists());

        std::fs::write(d.join("resources/thing.md"), "edited by hand").unwrap();
        assert_eq!(
            check(&g, d).unwrap(),
            vec![Change {
                path: "resources/thing.md".into(),
                kind: ChangeKind::Differs
            }]
        );
    }

    #[test]
    fn the_alloy_provider_documents_every_type_it_serves() {
        let ex = repo_examples();
        let g = generate(&ex).unwrap();
        let server = Server::new(AlloyProvider);
        let s = server.schemas();
        let expected = 1 + s.resources.len() + s.data_sources.len() + s.ephemeral_resources.len();
        assert_eq!(g.files.len(), expected);
        let index = &g.files[Path::new("index.md")];
        for var in [
            "ALLOY_API_KEY",
            "ALLOY_DEVELOPMENT_API_KEY",
            "ALLOY_PRODUCTION_API_KEY",
            "ALLOY_ENVIRONMENT",
        ] {
            assert!(
                index.contains(&format!("| `{var}` |")),
                "{var} in the table"
            );
        }
        assert!(index.contains("- `api_key` (String, Sensitive)"));
        let user = &g.files[Path::new("resources/user.md")];
        assert!(user.contains("## Import"));
        assert!(user.contains("### Required\n\n- `username` (String)"));
    }

    fn repo_examples() -> PathBuf {
        super::super::repo_root().join("examples")
    }
}
