//! Diagnostics: what the user reads when something is wrong.
//!
//! Terraform prints a diagnostic's summary as the title and its detail as the body, and when an
//! attribute path is attached it underlines that attribute in the configuration. So every error
//! about a value the user wrote carries the path of that value, and the detail says how to fix it.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One step of an attribute path: an attribute name, or a map key / list index below it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathStep {
    Attribute(String),
    Key(String),
    Index(i64),
}

/// Where in a configuration or state a value sits, e.g. `integrations[0].name`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttrPath(pub Vec<PathStep>);

impl AttrPath {
    /// A top-level attribute.
    pub fn attr(name: &str) -> AttrPath {
        AttrPath(vec![PathStep::Attribute(name.to_string())])
    }

    pub fn then_attr(mut self, name: &str) -> AttrPath {
        self.0.push(PathStep::Attribute(name.to_string()));
        self
    }

    pub fn then_index(mut self, i: i64) -> AttrPath {
        self.0.push(PathStep::Index(i));
        self
    }

    pub fn then_key(mut self, k: &str) -> AttrPath {
        self.0.push(PathStep::Key(k.to_string()));
        self
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.0.iter().enumerate() {
            match step {
                PathStep::Attribute(a) if i == 0 => f.write_str(a)?,
                PathStep::Attribute(a) => write!(f, ".{a}")?,
                PathStep::Key(k) => write!(f, "[{k:?}]")?,
                PathStep::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub summary: String,
    pub detail: String,
    pub attribute: Option<AttrPath>,
}

/// An ordered collection of diagnostics. Errors stop the operation; warnings travel with results.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn new() -> Diagnostics {
        Diagnostics(Vec::new())
    }

    pub fn error(&mut self, summary: impl Into<String>, detail: impl Into<String>) {
        self.push(Severity::Error, summary.into(), detail.into(), None);
    }

    pub fn warning(&mut self, summary: impl Into<String>, detail: impl Into<String>) {
        self.push(Severity::Warning, summary.into(), detail.into(), None);
    }

    /// An error about one attribute the user set (Terraform points at it in the configuration).
    pub fn attr_error(
        &mut self,
        path: AttrPath,
        summary: impl Into<String>,
        detail: impl Into<String>,
    ) {
        self.push(Severity::Error, summary.into(), detail.into(), Some(path));
    }

    pub fn attr_warning(
        &mut self,
        path: AttrPath,
        summary: impl Into<String>,
        detail: impl Into<String>,
    ) {
        self.push(Severity::Warning, summary.into(), detail.into(), Some(path));
    }

    fn push(
        &mut self,
        severity: Severity,
        summary: String,
        detail: String,
        attribute: Option<AttrPath>,
    ) {
        self.0.push(Diagnostic {
            severity,
            summary,
            detail,
            attribute,
        });
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_print_like_terraform_addresses() {
        let p = AttrPath::attr("integrations")
            .then_index(0)
            .then_attr("workflows")
            .then_key("a b");
        assert_eq!(p.to_string(), "integrations[0].workflows[\"a b\"]");
    }

    #[test]
    fn warnings_do_not_count_as_errors() {
        let mut d = Diagnostics::new();
        d.warning("w", "");
        assert!(!d.has_errors());
        d.attr_error(AttrPath::attr("username"), "Invalid username", "fix it");
        assert!(d.has_errors());
        assert_eq!(d.0[1].attribute, Some(AttrPath::attr("username")));
    }
}
