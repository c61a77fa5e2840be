//! Registry documentation generated from the provider's schema and `examples/`.
//!
//! The pages follow the Registry's conventional layout (`docs/index.md`, `docs/resources/`,
//! `docs/data-sources/`, `docs/ephemeral-resources/`, `docs/list-resources/`), one page per type, named after the type
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
use std::path::{Path, PathBuf};

use terraform_plugin::framework::schema::IdentityAttribute;
use terraform_plugin::framework::server::Schemas;
use terraform_plugin::framework::{IdentitySchema, Provider, Schema, Server};
use terraform_plugin::plugin::handshake::{
    IDENTITY_TERRAFORM_VERSION, LIST_TERRAFORM_VERSION, MINIMUM_OPENTOFU_VERSION,
    MINIMUM_TERRAFORM_VERSION,
};
use terraform_provider_alloy::AlloyProvider;

use super::{Error, Result, io_err};

mod files;
mod schema;
#[cfg(test)]
mod tests;

pub use files::{DocsOptions, check, docs_command, write};
use schema::{render_block, render_env_vars};

/// The directories this generator owns under `docs/` (besides `index.md`).
pub const GENERATED_DIRS: [&str; 4] = [
    "resources",
    "data-sources",
    "ephemeral-resources",
    "list-resources",
];

/// What kind of thing a page documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Resource,
    DataSource,
    EphemeralResource,
    ListResource,
}

impl Kind {
    /// Directory under both `docs/` and `examples/`.
    pub fn dir(self) -> &'static str {
        match self {
            Kind::Resource => "resources",
            Kind::DataSource => "data-sources",
            Kind::EphemeralResource => "ephemeral-resources",
            Kind::ListResource => "list-resources",
        }
    }

    /// The example file inside `examples/<dir>/<type>/`.
    pub fn example_file(self) -> &'static str {
        match self {
            Kind::Resource => "resource.tf",
            Kind::DataSource => "data-source.tf",
            Kind::EphemeralResource => "ephemeral-resource.tf",
            // Read by `terraform query` only, never by plan or apply.
            Kind::ListResource => "list-resource.tfquery.hcl",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Kind::Resource => "Resource",
            Kind::DataSource => "Data Source",
            Kind::EphemeralResource => "Ephemeral Resource",
            Kind::ListResource => "List Resource",
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
        terraform_provider_alloy::config::ENV_VARS,
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
        (Kind::ListResource, &schemas.list_resources),
    ] {
        let mut list: Vec<(&str, &Schema)> = list.iter().map(|(n, s)| (*n, *s)).collect();
        list.sort_by_key(|(n, _)| *n);
        for (type_name, schema) in list {
            let short = page_name(provider, type_name)?;
            let identity = match kind {
                Kind::Resource => schemas
                    .identities
                    .iter()
                    .find(|(n, _)| *n == type_name)
                    .map(|(_, i)| *i),
                _ => None,
            };
            let page = render_type(
                provider,
                Page {
                    kind,
                    type_name,
                    schema,
                    identity,
                },
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

/// The `import { identity = {…} }` example beside a resource's `import.sh`. Not a `.tf` file:
/// Terraform before 1.12 (which the examples are validated with) rejects the `identity` argument.
pub const IDENTITY_EXAMPLE: &str = "import-by-identity.tf.example";

pub(super) fn read_optional(path: &Path) -> Result<Option<String>> {
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

/// An example as a type's page shows it: without its top-level `terraform { ... }` block. Every
/// example declares `required_providers` so that it runs on its own, but the provider page shows
/// that block once, and repeating it on every page would only push the example down. The block
/// is a line `terraform {` up to the next line `}` (as `terraform fmt` writes it), with the blank
/// lines after it.
fn without_terraform_block(text: &str) -> String {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim_end() == "terraform {" {
            for inner in lines.by_ref() {
                if inner.trim_end() == "}" {
                    break;
                }
            }
            let rest: Vec<&str> = lines.by_ref().skip_while(|l| l.trim().is_empty()).collect();
            out.extend(rest);
            break;
        }
        out.push(line);
    }
    let mut s = out.join("\n");
    s.push('\n');
    s
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
    let _ = writeln!(
        s,
        "-> **Note:** This provider needs Terraform {MINIMUM_TERRAFORM_VERSION} or later (or OpenTofu \
         {MINIMUM_OPENTOFU_VERSION} or later), the first releases that support ephemeral resources.\n"
    );
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

/// One type's page: what it documents.
struct Page<'a> {
    kind: Kind,
    type_name: &'a str,
    schema: &'a Schema,
    /// A resource's identity, if it has one.
    identity: Option<&'a IdentitySchema>,
}

fn render_type(
    provider: &str,
    page: Page<'_>,
    examples: &Path,
    warnings: &mut Vec<String>,
) -> Result<String> {
    let Page {
        kind,
        type_name,
        schema,
        identity,
    } = page;
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
        let _ = writeln!(
            s,
            "-> **Note:** Ephemeral resources need Terraform {MINIMUM_TERRAFORM_VERSION} or later \
             (OpenTofu {MINIMUM_OPENTOFU_VERSION} or later). Their values are never stored in the \
             plan or the state.\n"
        );
    }
    if kind == Kind::ListResource {
        let _ = writeln!(
            s,
            "-> **Note:** List resources need Terraform {LIST_TERRAFORM_VERSION} or later; OpenTofu has none yet. They are \
             declared in `.tfquery.hcl` files and run by `terraform query`, which lists what exists \
             remotely and can write the configuration to adopt it (`-generate-config-out`).\n"
        );
    }
    let dir = examples.join(kind.dir()).join(type_name);
    let example = dir.join(kind.example_file());
    match read_optional(&example)? {
        Some(text) => {
            s.push_str("## Example Usage\n\n");
            s.push_str(&code_block("terraform", &without_terraform_block(&text)));
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
        if let Some(identity) = identity {
            render_identity(&mut s, identity, &dir, warnings)?;
        }
    }
    Ok(finish(s))
}

/// The resource's identity (Terraform ≥ 1.12): import by identity, then the identity's schema.
fn render_identity(
    s: &mut String,
    identity: &IdentitySchema,
    dir: &Path,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let _ = writeln!(
        s,
        "### Import by identity\n\nTerraform {v} or later (and OpenTofu {v} or later) can import by the \
         resource's identity instead of an id, in an `import` block:\n",
        v = IDENTITY_TERRAFORM_VERSION
    );
    let example = dir.join(IDENTITY_EXAMPLE);
    match read_optional(&example)? {
        Some(text) => {
            s.push_str(&code_block("terraform", &text));
            s.push('\n');
        }
        None => warnings.push(format!(
            "no identity import example at {}",
            example.display()
        )),
    }
    s.push_str("### Identity Schema\n\n");
    for (title, keep) in [
        (
            "Required",
            (|a| a.required_for_import) as fn(&IdentityAttribute) -> bool,
        ),
        ("Optional", |a| !a.required_for_import),
    ] {
        let attrs: Vec<_> = identity.attributes.iter().filter(|a| keep(a)).collect();
        if attrs.is_empty() {
            continue;
        }
        let _ = writeln!(s, "#### {title}\n");
        for a in attrs {
            let _ = writeln!(
                s,
                "- `{}` ({}) {}",
                a.name,
                schema::type_name(&a.ty),
                a.description.trim()
            );
        }
        s.push('\n');
    }
    Ok(())
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
