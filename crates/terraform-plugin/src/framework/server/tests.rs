//! The RPC-level tests of the server: the plan rules as Terraform sees them through
//! `PlanResourceChange`, panics and garbage input as diagnostics. The rules themselves are tested
//! directly in `plan.rs`.

use super::*;
use crate::framework::{
    AttrPath, Attribute, Block, DataSource, EphemeralResource, Opened, Resource, Schema,
};
use async_trait::async_trait;

struct Fake;
struct Thing;
/// A data source and an ephemeral resource, so that every kind has one registered type.
struct Lookup;
struct Token;

#[async_trait]
impl Provider for Fake {
    type Data = ();
    fn type_name(&self) -> &'static str {
        "fake"
    }
    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new("p", vec![Attribute::string("key").optional().sensitive()]),
        )
    }
    async fn configure(&self, _req: ConfigureRequest, _diags: &mut Diagnostics) -> Option<()> {
        Some(())
    }
    fn register(&self, types: &mut Registry<()>) {
        types
            .resource(Thing)
            .data_source(Lookup)
            .ephemeral_resource(Token);
    }
}

fn named(name: &str) -> Schema {
    Schema::new(
        0,
        Block::new(name, vec![Attribute::string("name").required()]),
    )
}

#[async_trait]
impl DataSource<()> for Lookup {
    fn type_name(&self) -> &'static str {
        "fake_lookup"
    }
    fn schema(&self) -> Schema {
        named("l")
    }
    async fn read(&self, _: &(), config: &Value, _: &mut Diagnostics) -> Option<Value> {
        Some(config.clone())
    }
}

#[async_trait]
impl EphemeralResource<()> for Token {
    fn type_name(&self) -> &'static str {
        "fake_token"
    }
    fn schema(&self) -> Schema {
        named("e")
    }
    async fn open(&self, _: &(), config: &Value, _: &mut Diagnostics) -> Option<Opened> {
        Some(Opened {
            result: config.clone(),
            private: Vec::new(),
            renew_at: None,
        })
    }
}

#[async_trait]
impl Resource<()> for Thing {
    fn type_name(&self) -> &'static str {
        "fake_thing"
    }
    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new(
                "t",
                vec![
                    Attribute::string("id").computed(),
                    Attribute::string("name").required(),
                    Attribute::string("secret_wo").optional().write_only(),
                ],
            ),
        )
    }
    fn requires_replace(&self) -> &'static [&'static str] {
        &["name"]
    }
    fn check_delete(&self, prior: &Value, why: Deletion, diags: &mut Diagnostics) {
        if prior.attr("name").as_str() == Some("keep") {
            diags.attr_error(AttrPath::attr("name"), "Kept", format!("{why:?}"));
        }
    }
    async fn read(&self, _: &(), state: Value, _: &mut Diagnostics) -> Option<Value> {
        match state.attr("name").as_str() {
            Some("panic") => panic!("boom"),
            // A provider bug: a state without one of the schema's attributes.
            Some("incomplete") => Some(Value::object([("id", Value::string("x1"))])),
            _ => Some(state),
        }
    }
    async fn create(
        &self,
        _: &(),
        planned: &Value,
        _: &Value,
        _: &mut Diagnostics,
    ) -> Option<Value> {
        let mut s = planned.clone();
        s.set_attr("id", Value::string("x1"));
        Some(s)
    }
    async fn update(
        &self,
        _: &(),
        _: &Value,
        p: &Value,
        _: &Value,
        _: &mut Diagnostics,
    ) -> Option<Value> {
        Some(p.clone())
    }
    async fn delete(&self, _: &(), prior: &Value, _: &mut Diagnostics) {
        if prior.attr("name").as_str() == Some("keep") {
            panic!("deleted a kept thing");
        }
    }
    async fn import(&self, _: &(), _: &str, _: &mut Diagnostics) -> Option<Value> {
        None
    }
}

fn server() -> Server<Fake> {
    Server::new(Fake)
}

fn thing_ty() -> Type {
    Thing.schema().value_type()
}

fn dv(v: &Value) -> Option<pb::DynamicValue> {
    wire::encode(v, &thing_ty(), &mut Diagnostics::new())
}

fn thing(id: Value, name: &str, secret: Value) -> Value {
    Value::object([
        ("id", id),
        ("name", Value::string(name)),
        ("secret_wo", secret),
    ])
}

async fn configure(s: &Server<Fake>) {
    let r = s
        .configure_provider(Request::new(pb::configure_provider::Request {
            config: wire::encode(
                &Value::object([("key", Value::Null)]),
                &s.provider_ty,
                &mut Diagnostics::new(),
            ),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(r.diagnostics.is_empty());
}

/// `ReadResource` of a `fake_thing` whose state is `state`.
async fn read(s: &Server<Fake>, state: &Value) -> pb::read_resource::Response {
    s.read_resource(Request::new(pb::read_resource::Request {
        type_name: "fake_thing".into(),
        current_state: dv(state),
        ..Default::default()
    }))
    .await
    .unwrap()
    .into_inner()
}

async fn plan(
    s: &Server<Fake>,
    prior: &Value,
    proposed: &Value,
) -> pb::plan_resource_change::Response {
    s.plan_resource_change(Request::new(pb::plan_resource_change::Request {
        type_name: "fake_thing".into(),
        prior_state: dv(prior),
        proposed_new_state: dv(proposed),
        config: dv(proposed),
        ..Default::default()
    }))
    .await
    .unwrap()
    .into_inner()
}

#[tokio::test]
async fn create_plans_unknown_ids_and_nulls_write_only_values() {
    let s = server();
    configure(&s).await;
    let r = plan(
        &s,
        &Value::Null,
        &thing(Value::Null, "a", Value::string("hush")),
    )
    .await;
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    let planned =
        crate::framework::value::from_msgpack(&r.planned_state.unwrap().msgpack, &thing_ty())
            .unwrap();
    assert_eq!(planned, thing(Value::Unknown, "a", Value::Null));
    assert!(r.requires_replace.is_empty());
}

#[tokio::test]
async fn changing_a_replace_attribute_reports_its_path() {
    let s = server();
    configure(&s).await;
    let prior = thing(Value::string("x1"), "a", Value::Null);
    let r = plan(&s, &prior, &thing(Value::string("x1"), "b", Value::Null)).await;
    assert_eq!(
        r.requires_replace,
        vec![wire::path(&AttrPath::attr("name"))]
    );
    let same = plan(&s, &prior, &prior).await;
    assert!(same.requires_replace.is_empty());
}

#[tokio::test]
async fn a_panicking_handler_becomes_an_error_diagnostic() {
    let s = server();
    configure(&s).await;
    let state = thing(Value::string("x1"), "panic", Value::Null);
    let r = read(&s, &state).await;
    assert_eq!(r.diagnostics.len(), 1);
    assert!(r.diagnostics[0].detail.contains("boom"));
    // ...and the server still answers.
    let ok = plan(&s, &Value::Null, &thing(Value::Null, "a", Value::Null)).await;
    assert!(ok.diagnostics.is_empty());
}

#[tokio::test]
async fn a_value_missing_a_schema_attribute_is_an_error_not_a_null() {
    let s = server();
    configure(&s).await;
    let state = thing(Value::string("x1"), "incomplete", Value::Null);
    let r = read(&s, &state).await;
    assert!(r.new_state.is_none(), "nothing half-written is sent");
    assert_eq!(r.diagnostics.len(), 1);
    assert_eq!(
        r.diagnostics[0].summary,
        "Provider produced an incomplete value"
    );
    assert!(
        r.diagnostics[0].detail.contains("`name`"),
        "{}",
        r.diagnostics[0].detail
    );
}

#[tokio::test]
async fn unknown_types_and_garbage_input_are_diagnostics() {
    let s = server();
    let r = s
        .validate_resource_config(Request::new(pb::validate_resource_config::Request {
            type_name: "fake_nope".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(r.diagnostics[0].summary.contains("Unknown resource type"));
    let r = s
        .apply_resource_change(Request::new(pb::apply_resource_change::Request {
            type_name: "fake_thing".into(),
            planned_state: Some(pb::DynamicValue {
                msgpack: vec![0x93, 0x01],
                json: vec![],
            }),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        r.diagnostics[0].severity,
        pb::diagnostic::Severity::Error as i32
    );
}

#[tokio::test]
async fn schema_lets_terraform_cache_it() {
    let s = server();
    let caps = s.schema_response().server_capabilities.unwrap();
    assert!(caps.get_provider_schema_optional);
    let p = s
        .schema_response()
        .provider
        .as_ref()
        .unwrap()
        .block
        .as_ref()
        .unwrap();
    assert!(p.attributes[0].sensitive);
}

fn decoded(dv: Option<pb::DynamicValue>) -> Value {
    crate::framework::value::from_msgpack(&dv.expect("a value").msgpack, &thing_ty()).unwrap()
}

fn refusals(diags: &[pb::Diagnostic]) -> Vec<String> {
    diags
        .iter()
        .filter(|d| d.severity == pb::diagnostic::Severity::Error as i32)
        .map(|d| format!("{}: {}", d.summary, d.detail))
        .collect()
}

#[tokio::test]
async fn destroy_plans_are_advertised_and_asked_about() {
    let s = server();
    assert!(
        s.schema_response()
            .server_capabilities
            .unwrap()
            .plan_destroy
    );
    configure(&s).await;
    let kept = thing(Value::string("x1"), "keep", Value::Null);
    let r = plan(&s, &kept, &Value::Null).await;
    assert_eq!(refusals(&r.diagnostics), vec!["Kept: Destroy"]);
    assert_eq!(decoded(r.planned_state), Value::Null);

    let free = thing(Value::string("x2"), "free", Value::Null);
    let r = plan(&s, &free, &Value::Null).await;
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    assert_eq!(decoded(r.planned_state), Value::Null);
}

#[tokio::test]
async fn a_replacement_is_asked_about_but_an_in_place_update_is_not() {
    let s = server();
    configure(&s).await;
    let kept = thing(Value::string("x1"), "keep", Value::Null);
    let r = plan(&s, &kept, &thing(Value::string("x1"), "other", Value::Null)).await;
    assert_eq!(refusals(&r.diagnostics), vec!["Kept: Replace"]);
    let r = plan(
        &s,
        &kept,
        &thing(Value::string("x1"), "keep", Value::string("s")),
    )
    .await;
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
}

#[tokio::test]
async fn a_refused_delete_at_apply_keeps_the_state_and_never_deletes() {
    let s = server();
    configure(&s).await;
    let kept = thing(Value::string("x1"), "keep", Value::Null);
    let r = s
        .apply_resource_change(Request::new(pb::apply_resource_change::Request {
            type_name: "fake_thing".into(),
            prior_state: dv(&kept),
            planned_state: dv(&Value::Null),
            config: dv(&Value::Null),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    // Not "deleted a kept thing": `delete` was never called.
    assert_eq!(refusals(&r.diagnostics), vec!["Kept: Apply"]);
    assert_eq!(decoded(r.new_state), kept);
}

#[tokio::test]
async fn metadata_and_schema_name_every_registered_type_by_kind() {
    let s = server();
    let m = s
        .get_metadata(Request::new(pb::get_metadata::Request::default()))
        .await
        .unwrap()
        .into_inner();
    let resources: Vec<_> = m.resources.iter().map(|t| t.type_name.as_str()).collect();
    let data_sources: Vec<_> = m
        .data_sources
        .iter()
        .map(|t| t.type_name.as_str())
        .collect();
    let ephemerals: Vec<_> = m
        .ephemeral_resources
        .iter()
        .map(|t| t.type_name.as_str())
        .collect();
    assert_eq!(resources, ["fake_thing"]);
    assert_eq!(data_sources, ["fake_lookup"]);
    assert_eq!(ephemerals, ["fake_token"]);
    assert_eq!(
        m.server_capabilities,
        s.schema_response().server_capabilities
    );
    let r = s.schema_response();
    let keys =
        |m: &std::collections::HashMap<String, pb::Schema>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&r.resource_schemas), ["fake_thing"]);
    assert_eq!(keys(&r.data_source_schemas), ["fake_lookup"]);
    assert_eq!(keys(&r.ephemeral_resource_schemas), ["fake_token"]);
}

#[tokio::test]
async fn each_kind_looks_names_up_in_its_own_table() {
    let s = server();
    configure(&s).await;
    // `fake_thing` is a resource, not a data source: the diagnostic names the kind asked for.
    let r = s
        .validate_data_resource_config(Request::new(pb::validate_data_resource_config::Request {
            type_name: "fake_thing".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.diagnostics.len(), 1);
    assert_eq!(r.diagnostics[0].summary, "Unknown data source type");
    assert!(
        r.diagnostics[0].detail.contains("\"fake_thing\""),
        "{}",
        r.diagnostics[0].detail
    );
    let r = s
        .open_ephemeral_resource(Request::new(pb::open_ephemeral_resource::Request {
            type_name: "fake_lookup".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.diagnostics[0].summary, "Unknown ephemeral resource type");
    // The registered names answer in their own kind.
    let config = Value::object([("name", Value::string("n"))]);
    let ty = named("x").value_type();
    let r = s
        .read_data_source(Request::new(pb::read_data_source::Request {
            type_name: "fake_lookup".into(),
            config: wire::encode(&config, &ty, &mut Diagnostics::new()),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    let state = r.state.expect("a state");
    assert_eq!(
        crate::framework::value::from_msgpack(&state.msgpack, &ty).unwrap(),
        config
    );
    let r = s
        .validate_ephemeral_resource_config(Request::new(
            pb::validate_ephemeral_resource_config::Request {
                type_name: "fake_token".into(),
                config: wire::encode(&config, &ty, &mut Diagnostics::new()),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
}

struct Twice;

#[async_trait]
impl Provider for Twice {
    type Data = ();
    fn type_name(&self) -> &'static str {
        "fake"
    }
    fn schema(&self) -> Schema {
        named("p")
    }
    async fn configure(&self, _req: ConfigureRequest, _diags: &mut Diagnostics) -> Option<()> {
        Some(())
    }
    fn register(&self, types: &mut Registry<()>) {
        types.resource(Thing).data_source(Lookup).resource(Thing);
    }
}

#[test]
#[should_panic(expected = "two resource types are registered as \"fake_thing\"")]
fn a_name_registered_twice_stops_the_server_from_being_built() {
    let _ = Server::new(Twice);
}

#[tokio::test]
async fn a_write_only_value_from_a_client_that_cannot_send_one_is_refused_at_validate() {
    let s = server();
    let validate = |secret: Value, allowed: Option<bool>| {
        let s = &s;
        async move {
            s.validate_resource_config(Request::new(pb::validate_resource_config::Request {
                type_name: "fake_thing".into(),
                config: dv(&thing(Value::Null, "a", secret)),
                client_capabilities: allowed.map(|a| pb::ClientCapabilities {
                    write_only_attributes_allowed: a,
                    ..Default::default()
                }),
            }))
            .await
            .unwrap()
            .into_inner()
        }
    };
    let old = validate(Value::string("hush"), None).await;
    assert_eq!(old.diagnostics.len(), 1, "{:?}", old.diagnostics);
    assert!(
        old.diagnostics[0]
            .detail
            .contains("`secret_wo` is a write-only attribute")
    );
    assert!(!old.diagnostics[0].detail.contains("hush"));
    let refused = validate(Value::string("hush"), Some(false)).await;
    assert_eq!(refused.diagnostics.len(), 1);
    assert!(
        validate(Value::string("hush"), Some(true))
            .await
            .diagnostics
            .is_empty()
    );
    assert!(
        validate(Value::Null, None).await.diagnostics.is_empty(),
        "unset is fine anywhere"
    );
}
