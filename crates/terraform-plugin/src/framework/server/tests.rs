//! The RPC-level tests of the server: the plan rules as Terraform sees them through
//! `PlanResourceChange`, panics and garbage input as diagnostics. The rules themselves are tested
//! directly in `plan.rs`.

use super::*;
use crate::framework::{
    AttrPath, Attribute, Block, DataSource, EphemeralResource, IdentityAttribute, IdentitySchema,
    ListResource, ListResults, Opened, Resource, Schema,
};
use async_trait::async_trait;

struct Fake;
struct Thing;
/// A data source, an ephemeral resource and a list, so that every kind has one registered type.
struct Lookup;
struct Token;
struct Things;

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
            .ephemeral_resource(Token)
            .list_resource(Things);
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
    fn identity(&self) -> Option<IdentitySchema> {
        Some(IdentitySchema::new(
            0,
            vec![
                IdentityAttribute::string("thing_id")
                    .from_state("id")
                    .required_for_import()
                    .description("The id."),
            ],
        ))
    }
    async fn import_identity(
        &self,
        _: &(),
        identity: &Value,
        _: &mut Diagnostics,
    ) -> Option<Value> {
        Some(thing(
            identity.attr("thing_id").clone(),
            "imported",
            Value::Null,
        ))
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
    assert_eq!(keys(&r.list_resource_schemas), ["fake_thing"]);
    let lists: Vec<_> = m
        .list_resources
        .iter()
        .map(|t| t.type_name.as_str())
        .collect();
    assert_eq!(lists, ["fake_thing"]);
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

// ---------------------------------------------------------------------------------------------
// Resource identity, list resources and generated configuration (Terraform 1.12-1.15).
// ---------------------------------------------------------------------------------------------

fn identity_ty() -> Type {
    Thing.identity().unwrap().value_type()
}

fn identity(id: &str) -> Option<pb::ResourceIdentityData> {
    wire::identity(
        &Value::object([("thing_id", Value::string(id))]),
        &identity_ty(),
        &mut Diagnostics::new(),
    )
}

fn identity_of(i: Option<pb::ResourceIdentityData>) -> Value {
    let dv = i
        .expect("an identity")
        .identity_data
        .expect("identity data");
    crate::framework::value::from_msgpack(&dv.msgpack, &identity_ty()).unwrap()
}

fn summaries(diags: &[pb::Diagnostic]) -> Vec<&str> {
    diags.iter().map(|d| d.summary.as_str()).collect()
}

#[tokio::test]
async fn identity_schemas_come_with_the_resource_types_and_never_fail() {
    let s = server();
    let r = s
        .get_resource_identity_schemas(Request::new(Default::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(r.diagnostics.is_empty());
    let i = &r.identity_schemas["fake_thing"];
    assert_eq!(i.version, 0);
    assert_eq!(i.identity_attributes.len(), 1);
    let a = &i.identity_attributes[0];
    assert_eq!(a.name, "thing_id");
    assert_eq!(a.r#type, b"\"string\"");
    assert!(a.required_for_import && !a.optional_for_import);
    // Every key is a managed resource type (Terraform attaches it to the type of that name).
    for k in r.identity_schemas.keys() {
        assert!(s.schema_response().resource_schemas.contains_key(k));
    }
}

#[tokio::test]
async fn read_backfills_a_missing_identity_and_refuses_a_changed_one() {
    let s = server();
    configure(&s).await;
    let state = thing(Value::string("x1"), "n", Value::Null);
    // State written before identity existed: the identity is computed from it.
    let r = read(&s, &state).await;
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    assert_eq!(
        identity_of(r.new_identity),
        Value::object([("thing_id", Value::string("x1"))])
    );
    // The same identity again: fine.
    let req = |id: &str| pb::read_resource::Request {
        type_name: "fake_thing".into(),
        current_state: dv(&state),
        current_identity: identity(id),
        ..Default::default()
    };
    let r = s
        .read_resource(Request::new(req("x1")))
        .await
        .unwrap()
        .into_inner();
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    // Terraform holds another identity for this object: a provider may never change it.
    let r = s
        .read_resource(Request::new(req("other")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(summaries(&r.diagnostics), ["Unexpected identity change"]);
    assert_eq!(identity_of(r.new_identity), identity_of(identity("other")));
}

#[tokio::test]
async fn planned_identity_is_unknown_only_for_new_objects() {
    let s = server();
    configure(&s).await;
    let new = thing(Value::Null, "n", Value::Null);
    let r = plan(&s, &Value::Null, &new).await;
    let dv = r.planned_identity.unwrap().identity_data.unwrap();
    let planned = crate::framework::value::from_msgpack(&dv.msgpack, &identity_ty()).unwrap();
    assert!(planned.is_unknown(), "{planned:?}");
    // An update keeps the prior identity (computed from the prior state when Terraform has none).
    let prior = thing(Value::string("x1"), "n", Value::Null);
    let r = plan(&s, &prior, &prior).await;
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    assert_eq!(identity_of(r.planned_identity), identity_of(identity("x1")));
    // A destroy plans the prior identity.
    let r = plan(&s, &prior, &Value::Null).await;
    assert_eq!(identity_of(r.planned_identity), identity_of(identity("x1")));
    // A replacement may leave it unknown.
    let renamed = thing(Value::string("x1"), "m", Value::Null);
    let r = plan(&s, &prior, &renamed).await;
    assert!(!r.requires_replace.is_empty());
    assert!(r.planned_identity.is_some());
}

#[tokio::test]
async fn apply_reports_the_new_objects_identity_and_refuses_a_change_on_update() {
    let s = server();
    configure(&s).await;
    let planned = thing(Value::Unknown, "n", Value::Null);
    let r = s
        .apply_resource_change(Request::new(pb::apply_resource_change::Request {
            type_name: "fake_thing".into(),
            prior_state: dv(&Value::Null),
            planned_state: dv(&planned),
            config: dv(&thing(Value::Null, "n", Value::Null)),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    assert_eq!(identity_of(r.new_identity), identity_of(identity("x1")));
    // An update whose result names another object than the planned identity.
    let prior = thing(Value::string("x1"), "n", Value::Null);
    let r = s
        .apply_resource_change(Request::new(pb::apply_resource_change::Request {
            type_name: "fake_thing".into(),
            prior_state: dv(&prior),
            planned_state: dv(&prior),
            config: dv(&prior),
            planned_identity: identity("elsewhere"),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(summaries(&r.diagnostics), ["Unexpected identity change"]);
}

#[tokio::test]
async fn import_by_identity_returns_one_object_with_its_identity() {
    let s = server();
    configure(&s).await;
    let r = s
        .import_resource_state(Request::new(pb::import_resource_state::Request {
            type_name: "fake_thing".into(),
            identity: identity("x9"),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    assert_eq!(r.imported_resources.len(), 1);
    let imported = r.imported_resources.into_iter().next().unwrap();
    assert_eq!(identity_of(imported.identity), identity_of(identity("x9")));
    assert_eq!(decoded(imported.state).attr("id"), &Value::string("x9"));
    // The attribute the schema requires for import must be there.
    let r = s
        .import_resource_state(Request::new(pb::import_resource_state::Request {
            type_name: "fake_thing".into(),
            identity: wire::identity(
                &Value::object([("thing_id", Value::Null)]),
                &identity_ty(),
                &mut Diagnostics::new(),
            ),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        summaries(&r.diagnostics),
        ["Missing import identity attribute"]
    );
    assert!(r.imported_resources.is_empty());
}

#[tokio::test]
async fn identity_of_the_current_version_upgrades_as_is_and_a_newer_one_is_refused() {
    let s = server();
    let upgrade = |version: i64, json: &str| pb::upgrade_resource_identity::Request {
        type_name: "fake_thing".into(),
        version,
        raw_identity: Some(pb::RawState {
            json: json.as_bytes().to_vec(),
            ..Default::default()
        }),
    };
    let r = s
        .upgrade_resource_identity(Request::new(upgrade(0, r#"{"thing_id":"x1"}"#)))
        .await
        .unwrap()
        .into_inner();
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    assert_eq!(
        identity_of(r.upgraded_identity),
        identity_of(identity("x1"))
    );
    let r = s
        .upgrade_resource_identity(Request::new(upgrade(1, r#"{"thing_id":"x1"}"#)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        summaries(&r.diagnostics),
        ["Identity written by a newer provider"]
    );
    let r = s
        .upgrade_resource_identity(Request::new(upgrade(0, "{")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(summaries(&r.diagnostics), ["Unreadable stored identity"]);
}

#[tokio::test]
async fn generated_configuration_holds_only_what_a_configuration_can_set() {
    let s = server();
    let state = thing(Value::string("x1"), "n", Value::Null);
    let r = s
        .generate_resource_config(Request::new(pb::generate_resource_config::Request {
            type_name: "fake_thing".into(),
            state: dv(&state),
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    assert_eq!(r.config, dv(&thing(Value::Null, "n", Value::Null)));
    // And it validates.
    let v = s
        .validate_resource_config(Request::new(pb::validate_resource_config::Request {
            type_name: "fake_thing".into(),
            config: r.config,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(v.diagnostics.is_empty(), "{:?}", v.diagnostics);
    assert_eq!(
        s.schema_response()
            .server_capabilities
            .as_ref()
            .map(|c| c.generate_resource_config),
        Some(true)
    );
}

/// How many objects `Things` has handed to `send`, and a signal when a listing ends (returns or
/// is dropped), for the cancellation tests. Each test uses its own `mode` so they cannot mix.
static SENT: std::sync::Mutex<Vec<(String, usize)>> = std::sync::Mutex::new(Vec::new());
static ENDED: tokio::sync::Notify = tokio::sync::Notify::const_new();

struct Ends(String);
impl Drop for Ends {
    fn drop(&mut self) {
        SENT.lock().unwrap().push((format!("{} ended", self.0), 0));
        ENDED.notify_waiters();
    }
}

fn sent(mode: &str) -> usize {
    SENT.lock()
        .unwrap()
        .iter()
        .filter(|(m, _)| m == mode)
        .count()
}

fn ended(mode: &str) -> bool {
    sent(&format!("{mode} ended")) > 0
}

#[async_trait]
impl ListResource<()> for Things {
    fn type_name(&self) -> &'static str {
        "fake_thing"
    }
    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new("l", vec![Attribute::string("mode").optional()]),
        )
    }
    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        if config.attr("mode").as_str() == Some("bad") {
            diags.attr_error(AttrPath::attr("mode"), "Bad mode", "Use another.");
        }
    }
    async fn list(
        &self,
        _: &(),
        config: &Value,
        results: &mut ListResults,
        diags: &mut Diagnostics,
    ) {
        let mode = config.attr("mode").as_str().unwrap_or("").to_owned();
        let _ends = Ends(mode.clone());
        match mode.as_str() {
            "panic" => panic!("list boom"),
            "fail" => {
                results
                    .send(&thing(Value::string("x0"), "n", Value::Null), "first")
                    .await;
                diags.error("API down", "The listing failed.");
            }
            // Sends one, then waits forever (an API call that never answers).
            "hang" => {
                results
                    .send(&thing(Value::string("x0"), "n", Value::Null), "first")
                    .await;
                std::future::pending::<()>().await;
            }
            _ => {
                for n in 0.. {
                    SENT.lock().unwrap().push((mode.clone(), n));
                    let t = thing(Value::string(format!("x{n}")), "n", Value::Null);
                    if !results.send(&t, &format!("thing {n}")).await {
                        return;
                    }
                }
            }
        }
    }
}

fn list_config(mode: Value) -> Option<pb::DynamicValue> {
    wire::encode(
        &Value::object([("mode", mode)]),
        &Things.schema().value_type(),
        &mut Diagnostics::new(),
    )
}

async fn list(
    s: &Server<Fake>,
    mode: Value,
    include: bool,
    limit: i64,
) -> BoxStream<pb::list_resource::Event> {
    s.list_resource(Request::new(pb::list_resource::Request {
        type_name: "fake_thing".into(),
        config: list_config(mode),
        include_resource_object: include,
        limit,
    }))
    .await
    .unwrap()
    .into_inner()
}

async fn all(stream: BoxStream<pb::list_resource::Event>) -> Vec<pb::list_resource::Event> {
    use futures::StreamExt;
    let events: Vec<_> = stream.collect().await;
    events.into_iter().map(Result::unwrap).collect()
}

/// Waits (bounded, as a guard against a hang) until the listing in `mode` has ended.
async fn until_ended(mode: &str) {
    let wait = async {
        loop {
            let notified = ENDED.notified();
            if ended(mode) {
                return;
            }
            notified.await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), wait)
        .await
        .expect("the listing never stopped");
}

#[tokio::test]
async fn a_list_stops_at_the_limit_with_identities_and_objects_only_when_asked() {
    let s = server();
    configure(&s).await;
    let events = all(list(&s, Value::string("limit"), false, 3).await).await;
    assert_eq!(events.len(), 3);
    for (n, e) in events.iter().enumerate() {
        assert!(e.diagnostic.is_empty(), "{:?}", e.diagnostic);
        assert_eq!(e.display_name, format!("thing {n}"));
        assert_eq!(
            identity_of(e.identity.clone()),
            identity_of(identity(&format!("x{n}")))
        );
        assert!(e.resource_object.is_none());
    }
    assert_eq!(sent("limit"), 3);
    let events = all(list(&s, Value::string("objects"), true, 2).await).await;
    assert_eq!(events.len(), 2);
    let object = events[1].resource_object.clone();
    assert_eq!(
        decoded(object),
        thing(Value::string("x1"), "n", Value::Null)
    );
}

#[tokio::test]
async fn a_cancelled_list_stops_producing() {
    use futures::StreamExt;
    let s = server();
    configure(&s).await;
    // No limit: the list would run forever; Terraform reads two events and cancels.
    let mut stream = list(&s, Value::string("cancel"), false, 0).await;
    for _ in 0..2 {
        assert!(stream.next().await.is_some());
    }
    drop(stream);
    until_ended("cancel").await;
    // At most what fits in the channel was produced beyond what was read.
    assert!(sent("cancel") <= 2 + 16 + 1, "{}", sent("cancel"));
    // A list stuck inside a call is dropped too.
    let mut stream = list(&s, Value::string("hang"), false, 0).await;
    assert!(stream.next().await.is_some());
    drop(stream);
    until_ended("hang").await;
}

#[tokio::test]
async fn list_failures_arrive_as_events_with_diagnostics() {
    let s = server();
    configure(&s).await;
    // A configuration Terraform cannot know yet.
    let events = all(list(&s, Value::Unknown, false, 10).await).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        summaries(&events[0].diagnostic),
        ["List configuration not known"]
    );
    assert!(events[0].identity.is_none());
    // Invalid configuration.
    let events = all(list(&s, Value::string("bad"), false, 10).await).await;
    assert_eq!(summaries(&events[0].diagnostic), ["Bad mode"]);
    // The provider's error after a result: the result, then the error.
    let events = all(list(&s, Value::string("fail"), false, 10).await).await;
    assert_eq!(events.len(), 2);
    assert!(events[0].identity.is_some());
    assert_eq!(summaries(&events[1].diagnostic), ["API down"]);
    // A panic.
    let events = all(list(&s, Value::string("panic"), false, 10).await).await;
    assert_eq!(
        summaries(&events[0].diagnostic),
        ["The provider hit an internal error"]
    );
    // ValidateListResourceConfig runs the same checks.
    let r = s
        .validate_list_resource_config(Request::new(pb::validate_list_resource_config::Request {
            type_name: "fake_thing".into(),
            config: list_config(Value::string("bad")),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(summaries(&r.diagnostics), ["Bad mode"]);
}

#[tokio::test]
async fn kinds_this_provider_lacks_answer_with_a_diagnostic() {
    let s = server();
    let r = s
        .plan_action(Request::new(pb::plan_action::Request {
            action_type: "fake_reboot".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(summaries(&r.diagnostics), ["Unknown action type"]);
    let r = s
        .get_states(Request::new(pb::get_states::Request {
            type_name: "fake_store".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(summaries(&r.diagnostics), ["Unknown state store type"]);
}

struct Unmatched;

#[async_trait]
impl Provider for Unmatched {
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
        types.list_resource(Things);
    }
}

#[test]
#[should_panic(expected = "needs a resource of the same name with an identity")]
fn a_list_without_its_resource_stops_the_server_from_being_built() {
    let _ = Server::new(Unmatched);
}
