//! The generic plan rules, so resources only state what is particular to them.
//!
//! Terraform hands the provider a proposed new state; before a resource refines it, three rules
//! hold for every resource and are derived from the schema alone:
//! - on create, a computed attribute the configuration leaves unset becomes unknown (its value
//!   comes from the API, and Terraform rejects a later value that a plan said was null);
//! - a change to an attribute the resource lists in `requires_replace` is reported by path;
//! - write-only attributes are null in every plan and state (Terraform rejects them otherwise).
//!
//! They live apart from the RPC handlers so they can be tested directly. The rules are keyed on
//! [`Change`]: a destroy goes through [`Rules::propose`] too and yields a null plan. Whether a plan
//! deletes the prior remote object — a destroy, or a replacement — is [`Deletion::of`] the plan;
//! the server then asks the resource whether that deletion may happen
//! ([`Resource::check_delete`](super::resource::Resource::check_delete)).

use super::diag::AttrPath;
use super::schema::Schema;
use super::value::Value;

/// What a plan does to one resource instance, from its prior and proposed states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// No prior state: a new object.
    Create,
    /// Both states present: the object is changed in place or, if `requires_replace` says so,
    /// replaced.
    Update,
    /// No proposed state: the object goes away.
    Destroy,
}

impl Change {
    pub fn of(prior: &Value, proposed: &Value) -> Change {
        if proposed.is_null() {
            Change::Destroy
        } else if prior.is_null() {
            Change::Create
        } else {
            Change::Update
        }
    }
}

/// Why the remote object a prior state describes is about to be deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// The instance goes away: `terraform destroy`, `plan -destroy`, a deleted `resource` block or
    /// `for_each` key, a `removed` block that destroys. Terraform ≥ 1.3 asks the provider to plan
    /// these because the server advertises `plan_destroy`.
    Destroy,
    /// A `requires_replace` attribute changes: the old object is deleted and a new one made.
    Replace,
    /// `ApplyResourceChange` is about to delete: the backstop for deletions no plan of ours saw
    /// (`-replace=`, a tainted instance, a Terraform older than 1.3, a plan made elsewhere).
    Apply,
}

impl Deletion {
    /// Whether a plan deletes the prior object, and why. `requires_replace` is the final list,
    /// after the resource's own `modify_plan`. Nothing exists to delete without a prior state.
    pub fn of(change: Change, prior: &Value, requires_replace: &[AttrPath]) -> Option<Deletion> {
        if prior.is_null() {
            return None;
        }
        match change {
            Change::Destroy => Some(Deletion::Destroy),
            Change::Update if !requires_replace.is_empty() => Some(Deletion::Replace),
            Change::Update | Change::Create => None,
        }
    }
}

/// A plan after the generic rules, before the resource's own `modify_plan`.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub change: Change,
    /// Null for [`Change::Destroy`].
    pub planned: Value,
    /// The `requires_replace` attributes whose value changes (only ever on [`Change::Update`]).
    pub requires_replace: Vec<AttrPath>,
}

/// The rules for one schema, derived once and applied on every call.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// Top-level write-only attributes, nulled in plans and states.
    write_only: Vec<String>,
    /// Top-level computed attributes, unknown on create when the configuration leaves them unset.
    computed: Vec<String>,
    /// Top-level attributes a configuration cannot hold: computed-only ones (and write-only ones,
    /// which no state holds).
    not_configurable: Vec<String>,
}

impl Rules {
    pub fn new(schema: &Schema) -> Self {
        let attrs = &schema.block.attributes;
        let names = |keep: fn(&super::schema::Attribute) -> bool| {
            attrs
                .iter()
                .filter(|a| keep(a))
                .map(|a| a.name.clone())
                .collect()
        };
        Rules {
            write_only: names(|a| a.write_only),
            computed: names(|a| a.computed),
            not_configurable: names(|a| (a.computed && !a.optional && !a.required) || a.write_only),
        }
    }

    /// The configuration that describes the object `state` describes: the state without what a
    /// configuration cannot set (for `GenerateResourceConfig`, so generated HCL validates).
    pub fn config_from_state(&self, state: &Value) -> Value {
        let mut config = state.clone();
        for name in &self.not_configurable {
            config.set_attr(name, Value::Null);
        }
        config
    }

    /// Nulls every write-only attribute of a plan or state.
    pub fn null_write_only(&self, v: &mut Value) {
        for name in &self.write_only {
            if !v.attr(name).is_null() {
                v.set_attr(name, Value::Null);
            }
        }
    }

    /// Marks the computed attributes that neither the configuration nor the plan sets unknown.
    pub fn mark_computed_unknown(&self, planned: &mut Value, config: &Value) {
        for name in &self.computed {
            if config.attr(name).is_null() && planned.attr(name).is_null() {
                planned.set_attr(name, Value::Unknown);
            }
        }
    }

    /// Applies the rules to Terraform's proposed new state. `replace` names the top-level
    /// attributes whose change forces a new object.
    pub fn propose(
        &self,
        prior: &Value,
        proposed: Value,
        config: &Value,
        replace: &[&str],
    ) -> Proposal {
        let change = Change::of(prior, &proposed);
        let mut planned = proposed;
        match change {
            Change::Destroy => planned = Value::Null,
            Change::Create => self.mark_computed_unknown(&mut planned, config),
            Change::Update => {}
        }
        self.null_write_only(&mut planned);
        // Compared after nulling, so a write-only attribute never forces a replacement.
        let requires_replace = match change {
            Change::Update => replace
                .iter()
                .filter(|name| planned.attr(name) != prior.attr(name))
                .map(|name| AttrPath::attr(name))
                .collect(),
            Change::Create | Change::Destroy => Vec::new(),
        };
        Proposal {
            change,
            planned,
            requires_replace,
        }
    }

    /// The result of an ephemeral resource whose configuration is not yet wholly known: the
    /// configuration with every unset computed attribute unknown.
    pub fn unknown_result(&self, config: Value) -> Value {
        let mut result = config;
        self.mark_computed_unknown(&mut result, &Value::Null);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::{Attribute, Block};

    fn rules() -> Rules {
        Rules::new(&Schema::new(
            0,
            Block::new(
                "t",
                vec![
                    Attribute::string("id").computed(),
                    Attribute::string("name").required(),
                    Attribute::string("label").optional().computed(),
                    Attribute::string("secret_wo").optional().write_only(),
                ],
            ),
        ))
    }

    fn thing(id: Value, name: &str, label: Value, secret: Value) -> Value {
        Value::object([
            ("id", id),
            ("name", Value::string(name)),
            ("label", label),
            ("secret_wo", secret),
        ])
    }

    #[test]
    fn changes_are_told_apart_by_which_state_is_null() {
        let v = thing(Value::Null, "a", Value::Null, Value::Null);
        assert_eq!(Change::of(&Value::Null, &v), Change::Create);
        assert_eq!(Change::of(&v, &v), Change::Update);
        assert_eq!(Change::of(&v, &Value::Null), Change::Destroy);
        assert_eq!(Change::of(&Value::Null, &Value::Null), Change::Destroy);
    }

    #[test]
    fn create_marks_unset_computed_attributes_unknown_and_nulls_write_only() {
        let config = thing(Value::Null, "a", Value::Null, Value::string("hush"));
        let p = rules().propose(&Value::Null, config.clone(), &config, &["name"]);
        assert_eq!(p.change, Change::Create);
        assert_eq!(
            p.planned,
            thing(Value::Unknown, "a", Value::Unknown, Value::Null)
        );
        assert!(p.requires_replace.is_empty());
    }

    #[test]
    fn create_keeps_a_computed_value_the_configuration_sets() {
        let config = thing(Value::Null, "a", Value::string("mine"), Value::Null);
        let p = rules().propose(&Value::Null, config.clone(), &config, &[]);
        assert_eq!(p.planned.attr("label"), &Value::string("mine"));
        assert_eq!(p.planned.attr("id"), &Value::Unknown);
    }

    #[test]
    fn update_keeps_prior_computed_values_and_reports_replacements() {
        let rules = rules();
        let prior = thing(Value::string("x1"), "a", Value::string("l"), Value::Null);
        let renamed = thing(
            Value::string("x1"),
            "b",
            Value::string("l"),
            Value::string("s"),
        );
        let config = thing(Value::Null, "b", Value::Null, Value::string("s"));
        let p = rules.propose(&prior, renamed, &config, &["name", "label"]);
        assert_eq!(p.change, Change::Update);
        assert_eq!(p.requires_replace, vec![AttrPath::attr("name")]);
        assert_eq!(
            p.planned,
            thing(Value::string("x1"), "b", Value::string("l"), Value::Null)
        );
        // An unchanged attribute listed for replacement is not reported.
        let same = rules.propose(&prior, prior.clone(), &config, &["name", "label"]);
        assert!(same.requires_replace.is_empty());
    }

    #[test]
    fn an_unknown_replace_attribute_counts_as_a_change() {
        let prior = thing(Value::string("x1"), "a", Value::Null, Value::Null);
        let mut proposed = prior.clone();
        proposed.set_attr("name", Value::Unknown);
        let p = rules().propose(&prior, proposed, &prior, &["name"]);
        assert_eq!(p.requires_replace, vec![AttrPath::attr("name")]);
    }

    #[test]
    fn a_write_only_attribute_never_forces_replacement() {
        let prior = thing(Value::string("x1"), "a", Value::Null, Value::Null);
        let mut proposed = prior.clone();
        proposed.set_attr("secret_wo", Value::string("new"));
        let p = rules().propose(&prior, proposed, &prior, &["secret_wo"]);
        assert!(p.requires_replace.is_empty());
        assert_eq!(p.planned, prior);
    }

    #[test]
    fn destroy_plans_null_and_replaces_nothing() {
        let prior = thing(Value::string("x1"), "a", Value::Null, Value::Null);
        let p = rules().propose(&prior, Value::Null, &Value::Null, &["name"]);
        assert_eq!(
            p,
            Proposal {
                change: Change::Destroy,
                planned: Value::Null,
                requires_replace: vec![],
            }
        );
    }

    #[test]
    fn only_destroys_and_replacements_delete_the_prior_object() {
        let rules = rules();
        let prior = thing(Value::string("x1"), "a", Value::Null, Value::Null);
        let of = |p: &Proposal| Deletion::of(p.change, &prior, &p.requires_replace);

        let destroy = rules.propose(&prior, Value::Null, &Value::Null, &["name"]);
        assert_eq!(of(&destroy), Some(Deletion::Destroy));

        let mut renamed = prior.clone();
        renamed.set_attr("name", Value::string("b"));
        let replace = rules.propose(&prior, renamed, &prior, &["name"]);
        assert_eq!(of(&replace), Some(Deletion::Replace));

        let mut relabelled = prior.clone();
        relabelled.set_attr("label", Value::string("l2"));
        let in_place = rules.propose(&prior, relabelled, &prior, &["name"]);
        assert_eq!(of(&in_place), None);

        let config = thing(Value::Null, "a", Value::Null, Value::Null);
        let create = rules.propose(&Value::Null, config.clone(), &config, &["name"]);
        assert_eq!(Deletion::of(create.change, &Value::Null, &[]), None);
        // Both states null (nothing recorded, nothing proposed): nothing to delete either.
        assert_eq!(Deletion::of(Change::Destroy, &Value::Null, &[]), None);
    }

    #[test]
    fn write_only_values_are_nulled_in_any_state() {
        let mut state = thing(Value::string("x1"), "a", Value::Null, Value::string("s"));
        rules().null_write_only(&mut state);
        assert_eq!(state.attr("secret_wo"), &Value::Null);
        assert_eq!(state.attr("name"), &Value::string("a"));
        // A null state stays null.
        let mut gone = Value::Null;
        rules().null_write_only(&mut gone);
        assert_eq!(gone, Value::Null);
    }

    #[test]
    fn an_unknown_ephemeral_result_has_its_computed_attributes_unknown() {
        let config = thing(Value::Null, "a", Value::string("set"), Value::Unknown);
        let r = rules().unknown_result(config);
        assert_eq!(
            r,
            thing(Value::Unknown, "a", Value::string("set"), Value::Unknown)
        );
    }
}
