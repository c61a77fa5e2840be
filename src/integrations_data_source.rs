//! `alloy_integrations`: the integrations of the Alloy account as one end user sees them, with
//! their workflows and that user's installation status.
//!
//! Shaped for use in `for_each` and conditions:
//! - a stable order (by name, case-insensitively, then by exact name, then by id), so a list
//!   that has not changed never shows a diff because the API reordered it; workflows too;
//! - optional filters (`installed`, `name_regex`) applied here, since the API filters nothing;
//!   the regex is compiled at validate time (`validation::regex`, the syntax `REGEX_SYNTAX`
//!   describes), so a typo fails the plan before any API call;
//! - fields the API leaves out are null rather than invented. The client already reads an absent
//!   `installed`/`active` as false and absent `credentials`/`workflows` as empty lists.
//!
//! `name` is the API's `app`, falling back to `primaryConnector`: the two API versions name the
//! same thing differently.

use std::cmp::Ordering;

use async_trait::async_trait;
use regex::Regex;

use super::not_found::{self, Asked};
use super::validation::{self, REGEX_SYNTAX, check_username};
use super::{AlloyData, provider_bug};
use alloy_client::{Integration, Workflow};
use terraform_plugin::framework::{
    Attr, Attribute, Block, DataSource, Diagnostics, Model, Nesting, Schema, Type, Value,
};

pub struct IntegrationsDataSource;

/// The display name the schema calls `name`.
fn display_name(i: &Integration) -> Option<&str> {
    i.app.as_deref().or(i.primary_connector.as_deref())
}

/// Orders by name ignoring case, then by exact name, then by id. A missing name sorts first.
fn by_name_then_id(a: (Option<&str>, &str), b: (Option<&str>, &str)) -> Ordering {
    let lower = |n: Option<&str>| n.map(str::to_lowercase);
    lower(a.0)
        .cmp(&lower(b.0))
        .then_with(|| a.0.cmp(&b.0))
        .then_with(|| a.1.cmp(b.1))
}

/// What the filters keep. `None` filters keep everything; a regex never matches a missing name.
pub(crate) struct Filter {
    pub installed: Option<bool>,
    pub name_regex: Option<Regex>,
}

impl Filter {
    fn keeps(&self, i: &Integration) -> bool {
        if self.installed.is_some_and(|want| want != i.installed) {
            return false;
        }
        match &self.name_regex {
            Some(re) => display_name(i).is_some_and(|n| re.is_match(n)),
            None => true,
        }
    }
}

/// Applies the filters and sorts integrations and their workflows into the stable order.
pub(crate) fn select(mut list: Vec<Integration>, filter: &Filter) -> Vec<Integration> {
    list.retain(|i| filter.keeps(i));
    list.sort_by(|a, b| {
        by_name_then_id(
            (display_name(a), &a.integration_id),
            (display_name(b), &b.integration_id),
        )
    });
    for i in &mut list {
        i.workflows.sort_by(|a, b| {
            by_name_then_id(
                (a.name.as_deref(), &a.workflow_id),
                (b.name.as_deref(), &b.workflow_id),
            )
        });
    }
    list
}

terraform_plugin::model! {
    /// The `alloy_integrations` data source's configuration and result.
    pub(crate) struct IntegrationsModel {
        user_id: Attr<String>,
        installed: Attr<bool>,
        name_regex: Attr<String>,
        id: Attr<String>,
        integrations: Attr<Vec<IntegrationModel>>,
    }
}

terraform_plugin::model! {
    /// One entry of `integrations`.
    pub(crate) struct IntegrationModel {
        id: Attr<String>,
        name: Attr<String>,
        description: Attr<String>,
        icon: Attr<String>,
        installed: Attr<bool>,
        installed_version: Attr<i64>,
        credentials: Attr<Vec<String>>,
        workflows: Attr<Vec<WorkflowModel>>,
    }
}

terraform_plugin::model! {
    /// One entry of an integration's `workflows`.
    pub(crate) struct WorkflowModel {
        id: Attr<String>,
        name: Attr<String>,
        installed: Attr<bool>,
        active: Attr<bool>,
        version: Attr<i64>,
    }
}

fn workflow_model(w: &Workflow) -> WorkflowModel {
    WorkflowModel {
        id: w.workflow_id.as_str().into(),
        name: w.name.as_deref().into(),
        installed: Attr::Known(w.installed),
        active: Attr::Known(w.active),
        version: w.version.into(),
    }
}

fn integration_model(i: &Integration) -> IntegrationModel {
    IntegrationModel {
        id: i.integration_id.as_str().into(),
        name: display_name(i).into(),
        description: i.description.as_deref().into(),
        icon: i.icon.as_deref().into(),
        installed: Attr::Known(i.installed),
        installed_version: i.installed_version.into(),
        credentials: Attr::Known(i.credentials.clone()),
        workflows: Attr::Known(i.workflows.iter().map(workflow_model).collect()),
    }
}

fn workflow_attributes() -> Vec<Attribute> {
    vec![
        Attribute::string("id")
            .computed()
            .description("Alloy's `workflowId`."),
        Attribute::string("name")
            .computed()
            .description("The workflow's name, as shown in Alloy. Null when the API gives none."),
        Attribute::bool("installed")
            .computed()
            .description("Whether this user has installed the workflow."),
        Attribute::bool("active")
            .computed()
            .description("Whether the workflow is active (running) for this user."),
        Attribute::number("version")
            .computed()
            .description("The workflow's latest published version. Null when the API gives none."),
    ]
}

fn integration_attributes() -> Vec<Attribute> {
    vec![
        Attribute::string("id")
            .computed()
            .description("Alloy's `integrationId`."),
        Attribute::string("name").computed().description(
            "The integration's display name: the API's `app`, or its `primaryConnector` when `app` is \
             absent (for example `Shopify`). Null when the API gives neither.",
        ),
        Attribute::string("description").computed().description(
            "The integration's description, possibly empty. Null when the API gives none.",
        ),
        Attribute::string("icon")
            .computed()
            .description("URL of the integration's icon. Null when the API gives none."),
        Attribute::bool("installed")
            .computed()
            .description("Whether this user has installed the integration."),
        Attribute::number("installed_version").computed().description(
            "The version of the integration this user installed. Null when it is not installed.",
        ),
        Attribute::new("credentials", Type::List(Box::new(Type::String)))
            .computed()
            .description(
                "The credentials the integration needs, as credential ids or app names (for example \
                 `shopify`). Empty when the API lists none.",
            ),
        Attribute::nested("workflows", Nesting::List, workflow_attributes())
            .computed()
            .description(
                "The integration's workflows, sorted by name and then id. Empty when it has none.",
            ),
    ]
}

#[async_trait]
impl DataSource<AlloyData> for IntegrationsDataSource {
    fn type_name(&self) -> &'static str {
        "alloy_integrations"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new(
                "Lists the integrations of your Alloy account as one end user sees them: each with its \
                 workflows and whether this user installed it. The list is sorted by name (ignoring \
                 case) and then id, so it stays stable between runs; `installed` and `name_regex` narrow \
                 it down.",
                vec![
                    Attribute::string("user_id").required().description(
                        "The end user whose view of the integrations to read: Alloy's `userId` (for example \
                         `alloy_user.example.id`) or the user's `username`.",
                    ),
                    Attribute::bool("installed").optional().description(
                        "When set, only integrations whose `installed` equals this value are listed: `true` \
                         for the ones this user installed, `false` for the others.",
                    ),
                    Attribute::string("name_regex").optional().description(&format!(
                        "When set, only integrations whose `name` matches this regular expression are \
                         listed. {REGEX_SYNTAX} Integrations without a name never match."
                    )),
                    Attribute::string("id").computed().description(
                        "The `user_id` this list was read for, exactly as given (a userId or a username).",
                    ),
                    Attribute::nested("integrations", Nesting::List, integration_attributes())
                        .computed()
                        .description(
                            "The integrations that pass the filters, sorted by name (ignoring case) and \
                             then id.",
                        ),
                ],
            ),
        )
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        let Some(config) = IntegrationsModel::decode(config, diags) else {
            return;
        };
        if let Some(u) = config.user_id.as_str() {
            check_username("user_id", u, diags);
        }
        if let Some(p) = config.name_regex.as_str() {
            validation::regex("name_regex", p, None, diags);
        }
    }

    async fn read(
        &self,
        data: &AlloyData,
        config: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let mut config = IntegrationsModel::decode(config, diags)?;
        let user_id = provider_bug::expect(
            config.user_id.as_str(),
            "an alloy_integrations configuration has no user_id",
            diags,
        )?
        .to_owned();
        // Validation runs first, so an invalid pattern is only met here if Terraform skipped it.
        let name_regex = match config.name_regex.as_str() {
            None => None,
            Some(p) => Some(validation::regex("name_regex", p, None, diags)?),
        };
        let filter = Filter {
            installed: config.installed.value(),
            name_regex,
        };
        let list = match data.api.list_integrations(&user_id).await {
            Ok(l) => l,
            Err(e) if e.is_not_found() => {
                not_found::user(data, Asked::Integrations, &user_id, diags);
                return None;
            }
            Err(e) => {
                data.api_error(diags, "Cannot list Alloy integrations", &e);
                return None;
            }
        };
        let selected = select(list, &filter);
        config.integrations = Attr::Known(selected.iter().map(integration_model).collect());
        config.id = Attr::Known(user_id);
        Some(config.to_value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use terraform_plugin::framework::AttrPath;

    fn integration(
        id: &str,
        app: Option<&str>,
        connector: Option<&str>,
        installed: bool,
    ) -> Integration {
        let mut body = serde_json::json!({"integrationId": id, "installed": installed});
        if let Some(a) = app {
            body["app"] = a.into();
        }
        if let Some(c) = connector {
            body["primaryConnector"] = c.into();
        }
        serde_json::from_value(body).unwrap()
    }

    fn names(list: &[Integration]) -> Vec<(Option<&str>, &str)> {
        list.iter()
            .map(|i| (display_name(i), i.integration_id.as_str()))
            .collect()
    }

    fn all() -> Filter {
        Filter {
            installed: None,
            name_regex: None,
        }
    }

    #[test]
    fn sorted_by_name_ignoring_case_then_id_with_fallback_name() {
        let list = vec![
            integration("3", Some("slack"), None, false),
            integration("2", Some("Shopify"), None, false),
            integration("9", None, Some("HubSpot"), false),
            integration("1", Some("Slack"), None, false),
            integration("0", Some("Slack"), None, false),
            integration("5", None, None, false),
        ];
        let out = select(list, &all());
        assert_eq!(
            names(&out),
            vec![
                (None, "5"),
                (Some("HubSpot"), "9"),
                (Some("Shopify"), "2"),
                (Some("Slack"), "0"),
                (Some("Slack"), "1"),
                (Some("slack"), "3"),
            ]
        );
    }

    #[test]
    fn order_does_not_depend_on_the_api_order() {
        let mk = || {
            vec![
                integration("b", Some("B"), None, false),
                integration("a", Some("A"), None, true),
                integration("c", Some("a"), None, false),
            ]
        };
        let mut reversed = mk();
        reversed.reverse();
        assert_eq!(
            names(&select(mk(), &all())),
            names(&select(reversed, &all()))
        );
    }

    #[test]
    fn workflows_are_sorted_too() {
        let i: Integration = serde_json::from_value(serde_json::json!({
            "integrationId": "x",
            "workflows": [
                {"workflowId": "w3", "name": "beta"},
                {"workflowId": "w2", "name": "Alpha"},
                {"workflowId": "w1", "name": "alpha"},
                {"workflowId": "w0"}
            ]
        }))
        .unwrap();
        let out = select(vec![i], &all());
        let ids: Vec<&str> = out[0]
            .workflows
            .iter()
            .map(|w| w.workflow_id.as_str())
            .collect();
        assert_eq!(ids, ["w0", "w2", "w1", "w3"]);
    }

    #[test]
    fn filters_by_installed_and_regex() {
        let list = || {
            vec![
                integration("1", Some("Salesforce"), None, true),
                integration("2", Some("Shopify"), None, false),
                integration("3", Some("Slack"), None, true),
                integration("4", None, None, true),
            ]
        };
        let f = |installed, re: Option<&str>| Filter {
            installed,
            name_regex: re.map(|r| {
                validation::regex("name_regex", r, None, &mut Diagnostics::new()).unwrap()
            }),
        };
        let ids = |out: Vec<Integration>| -> Vec<String> {
            out.into_iter().map(|i| i.integration_id).collect()
        };
        assert_eq!(ids(select(list(), &f(Some(true), None))), ["4", "1", "3"]);
        assert_eq!(ids(select(list(), &f(Some(false), None))), ["2"]);
        assert_eq!(ids(select(list(), &f(None, Some("^S[a-z]*f")))), ["1", "2"]);
        // Unanchored: matches anywhere; a missing name never matches, even `.*`.
        assert_eq!(ids(select(list(), &f(None, Some("ack")))), ["3"]);
        assert_eq!(ids(select(list(), &f(None, Some(".*")))), ["1", "2", "3"]);
        assert_eq!(
            ids(select(list(), &f(None, Some("(?i)^s")))),
            ["1", "2", "3"]
        );
        assert_eq!(ids(select(list(), &f(Some(true), Some("^S")))), ["1", "3"]);
    }

    fn validate(config: Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        IntegrationsDataSource.validate(&config, &mut d);
        d
    }

    fn config(user: Value, regex: Value) -> Value {
        Value::object([
            ("user_id", user),
            ("installed", Value::Null),
            ("name_regex", regex),
            ("id", Value::Null),
            ("integrations", Value::Null),
        ])
    }

    #[test]
    fn invalid_regex_is_an_attribute_error() {
        let d = validate(config(Value::string("u"), Value::string("(unclosed")));
        assert!(d.has_errors());
        assert_eq!(d.0[0].attribute, Some(AttrPath::attr("name_regex")));
        assert!(d.0[0].detail.contains("unclosed"), "{}", d.0[0].detail);
        assert!(validate(config(Value::string("u"), Value::string("^ok$"))).is_empty());
        // A pattern whose compiled form is too large is refused too, not built.
        assert!(
            validate(config(Value::string("u"), Value::string("\\w{1000}{1000}"))).has_errors()
        );
        // Unknown values pass.
        assert!(validate(config(Value::Unknown, Value::Unknown)).is_empty());
        let d = validate(config(Value::string(""), Value::Null));
        assert_eq!(d.0[0].attribute, Some(AttrPath::attr("user_id")));
    }

    #[test]
    fn models_match_schema() {
        // Nested models (integrations, their workflows) are compared level by level.
        terraform_plugin::framework::model::assert_matches_schema::<IntegrationsModel>(
            &IntegrationsDataSource.schema(),
        );
    }

    #[test]
    fn values_keep_absent_fields_null() {
        let i: Integration = serde_json::from_value(serde_json::json!({
            "integrationId": "x",
            "workflows": [{"workflowId": "w"}]
        }))
        .unwrap();
        let v = integration_model(&i).to_value();
        assert_eq!(v.attr("id"), &Value::string("x"));
        for a in ["name", "description", "icon", "installed_version"] {
            assert_eq!(v.attr(a), &Value::Null, "{a}");
        }
        assert_eq!(v.attr("installed"), &Value::Bool(false));
        assert_eq!(v.attr("credentials"), &Value::List(vec![]));
        let Value::List(w) = v.attr("workflows") else {
            panic!("workflows is a list")
        };
        assert_eq!(w[0].attr("name"), &Value::Null);
        assert_eq!(w[0].attr("version"), &Value::Null);
        // The value fits the schema's type.
        let ty = IntegrationsDataSource.schema().value_type();
        let terraform_plugin::framework::Type::Object(attrs) = ty else {
            panic!("object")
        };
        let terraform_plugin::framework::Type::List(elem) = &attrs["integrations"] else {
            panic!("list")
        };
        let bytes = terraform_plugin::framework::value::to_msgpack(&v, elem).unwrap();
        assert_eq!(
            terraform_plugin::framework::value::from_msgpack(&bytes, elem).unwrap(),
            v
        );
    }
}
