//! Causes explained once per run: when one cause repeats across many instances (a rejected key,
//! an API out of reach, the other environment's state), the first diagnostic explains it in full
//! and every later one is a single line that points to it. At 2,000 tenants that is the
//! difference between one page of output and fifty thousand lines.
//!
//! "Run" means one provider process: Terraform starts the provider afresh for every command.

use std::collections::HashSet;
use std::sync::Mutex;

use terraform_plugin::framework::{AttrPath, Diagnostics};

/// A cause that, met once, is usually met by every instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Cause {
    /// The API could not be reached at all.
    Unreachable,
    /// The API rejected the key.
    Rejected,
    /// The state records the other environment.
    EnvironmentMismatch,
    /// The guard against mass disappearance tripped.
    UsersMissing,
    /// A user with deletion protection is missing.
    ProtectedMissing,
    /// The guard against mass disappearance tripped for tenants' workflows.
    WorkflowsMissing,
    /// The guard against mass disappearance tripped for tenants' credentials.
    CredentialsMissing,
}

/// The causes this process has explained in full.
#[derive(Default)]
pub(crate) struct Explained(Mutex<HashSet<Cause>>);

impl Explained {
    /// True the first time `cause` is met in this process, false ever after.
    pub fn first(&self, cause: Cause) -> bool {
        super::lock(&self.0).insert(cause)
    }

    /// An error: `full()` the first time `cause` is met, else a summary that adds `short` (a few
    /// words: Terraform already names the instance) and a pointer to the full one, with no detail:
    /// one line of output besides the lines Terraform prints for every diagnostic.
    /// Terraform does not print diagnostics in the order they were made, so the pointer says
    /// "the fully explained one", not "the first".
    pub fn error(
        &self,
        diags: &mut Diagnostics,
        cause: Cause,
        at: Option<AttrPath>,
        summary: &str,
        full: impl FnOnce() -> String,
        short: &str,
    ) {
        let (summary, detail) = if self.first(cause) {
            (summary.to_owned(), full())
        } else {
            // No detail: Terraform then prints no paragraph for it, two lines fewer per instance.
            (
                format!("{summary}: {short} (see the fully explained one)"),
                String::new(),
            )
        };
        match at {
            Some(path) => diags.attr_error(path, summary, detail),
            None => diags.error(summary, detail),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_of_a_cause_is_full_and_the_rest_point_to_it() {
        let explained = Explained::default();
        let mut d = Diagnostics::new();
        for _ in 0..3 {
            explained.error(
                &mut d,
                Cause::Rejected,
                None,
                "Cannot read Alloy user",
                || "the whole story".to_owned(),
                "API key rejected",
            );
        }
        explained.error(
            &mut d,
            Cause::Unreachable,
            Some(AttrPath::attr("id")),
            "Cannot read Alloy user",
            || "another story".to_owned(),
            "API unreachable",
        );
        let all: Vec<(&str, &str)> = d
            .iter()
            .map(|x| (x.summary.as_str(), x.detail.as_str()))
            .collect();
        assert_eq!(all[0], ("Cannot read Alloy user", "the whole story"));
        for short in &all[1..3] {
            assert_eq!(
                *short,
                (
                    "Cannot read Alloy user: API key rejected (see the fully explained one)",
                    ""
                )
            );
        }
        assert_eq!(all[3].1, "another story", "each cause has its own first");
    }
}
