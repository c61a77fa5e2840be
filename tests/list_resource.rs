//! `list "alloy_user"` through the provider's real server (the generated tonic trait, in
//! process) against the emulator over HTTP: the API calls a listing costs, its order and
//! identities, Terraform's `limit` and cancellation, and an API failure as an in-stream
//! diagnostic. (The harness that plays Terraform over gRPC drives the release binary; this
//! file pins the provider's side of the same rules.)

use std::time::Instant;

use alloy_emulator::testing::{Admin, TestEmulator};
use futures::StreamExt;
use serde_json::{Value as Json, json};
use terraform_plugin::framework::{Provider, Server, Type, Value, value};
use terraform_plugin::proto::tfplugin6 as pb;
use terraform_plugin::proto::tfplugin6::provider_server::Provider as _;
use terraform_provider_alloy::AlloyProvider;
use tonic::Request;

/// Creates `n` users named `<prefix><i>@example.com` with `POST /users/batch`, 1,000 at a time.
fn existing_users(emu: &TestEmulator, prefix: &str, n: usize) {
    let http = reqwest::blocking::Client::new();
    let users: Vec<Json> = (0..n)
        .map(|i| json!({ "username": format!("{prefix}{i:05}@example.com"), "fullName": format!("User {i}") }))
        .collect();
    for chunk in users.chunks(1000) {
        let r = http
            .post(format!("{}/users/batch", emu.url()))
            .bearer_auth(emu.development_key())
            .json(&json!({ "users": chunk }))
            .send()
            .expect("POST /users/batch");
        assert!(r.status().is_success(), "batch create: {}", r.status());
    }
}

struct World {
    rt: tokio::runtime::Runtime,
    server: Server<AlloyProvider>,
}

fn ty_of(schema: &terraform_plugin::framework::Schema) -> Type {
    schema.value_type()
}

fn encode(v: &Value, ty: &Type) -> Option<pb::DynamicValue> {
    Some(pb::DynamicValue {
        msgpack: value::to_msgpack(v, ty).expect("a whole value"),
        json: vec![],
    })
}

impl World {
    fn new(emu: &TestEmulator) -> World {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let server = Server::new(AlloyProvider);
        let provider_ty = AlloyProvider.schema().value_type();
        let Type::Object(attrs) = &provider_ty else {
            panic!("provider schema is an object")
        };
        let mut cfg = Value::object(attrs.keys().map(|k| (k.clone(), Value::Null)));
        cfg.set_attr("api_key", Value::string(emu.development_key()));
        cfg.set_attr("environment", Value::string("development"));
        cfg.set_attr("base_url", Value::string(emu.url()));
        cfg.set_attr("max_retries", Value::int(1));
        let resp = rt
            .block_on(
                server.configure_provider(Request::new(pb::configure_provider::Request {
                    terraform_version: "1.15.9".into(),
                    config: encode(&cfg, &provider_ty),
                    ..Default::default()
                })),
            )
            .expect("configure")
            .into_inner();
        assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
        World { rt, server }
    }

    fn list_config(&self, regex: Value, workflow: Value) -> Option<pb::DynamicValue> {
        let s = self.server.schemas();
        let (_, schema) = s
            .list_resources
            .iter()
            .find(|(n, _)| *n == "alloy_user")
            .expect("list alloy_user");
        encode(
            &Value::object([("username_regex", regex), ("workflow_id", workflow)]),
            &ty_of(schema),
        )
    }

    /// Starts `list "alloy_user"` and returns its event stream.
    fn list(
        &self,
        regex: Value,
        include: bool,
        limit: i64,
    ) -> tonic::codegen::BoxStream<pb::list_resource::Event> {
        let config = self.list_config(regex, Value::Null);
        self.rt
            .block_on(
                self.server
                    .list_resource(Request::new(pb::list_resource::Request {
                        type_name: "alloy_user".into(),
                        config,
                        include_resource_object: include,
                        limit,
                    })),
            )
            .expect("a stream")
            .into_inner()
    }

    fn all(
        &self,
        stream: tonic::codegen::BoxStream<pb::list_resource::Event>,
    ) -> Vec<pb::list_resource::Event> {
        self.rt
            .block_on(stream.collect::<Vec<_>>())
            .into_iter()
            .map(|e| e.expect("an event, not a gRPC error"))
            .collect()
    }

    fn types(&self) -> (Type, Type) {
        let s = self.server.schemas();
        let user = s
            .resources
            .iter()
            .find(|(n, _)| *n == "alloy_user")
            .map(|(_, s)| s.value_type())
            .expect("alloy_user");
        let identity = s
            .identities
            .iter()
            .find(|(n, _)| *n == "alloy_user")
            .map(|(_, i)| i.value_type())
            .expect("alloy_user has an identity");
        (user, identity)
    }
}

fn decode(dv: &pb::DynamicValue, ty: &Type) -> Value {
    value::from_msgpack(&dv.msgpack, ty).expect("conforms to its schema")
}

#[test]
fn three_thousand_users_are_listed_from_one_request_in_a_stable_order() {
    let emu = TestEmulator::start();
    existing_users(&emu, "tenant-", 3000);
    existing_users(&emu, "other-", 10);
    let world = World::new(&emu);
    let (user_ty, identity_ty) = world.types();
    emu.clear_requests();
    let started = Instant::now();
    let events = world.all(world.list(Value::string("^tenant-"), true, 5000));
    let wall = started.elapsed();
    let calls = emu.total_requests();
    println!(
        "FIGURES list_resource: 3,000 users listed with objects in {:.0} ms (in process, debug build); {calls} API call(s): {:?}",
        wall.as_secs_f64() * 1000.0,
        emu.request_counts()
    );
    assert_eq!(calls, 1, "{:?}", emu.request_counts());
    assert_eq!(emu.count("GET /users"), 1);
    assert_eq!(events.len(), 3000);
    let api = emu.users(alloy_emulator::Environment::Development);
    for (i, e) in events.iter().enumerate() {
        assert!(e.diagnostic.is_empty(), "{:?}", e.diagnostic);
        let username = format!("tenant-{i:05}@example.com");
        assert_eq!(e.display_name, username, "sorted by username");
        let identity = decode(
            e.identity
                .as_ref()
                .and_then(|i| i.identity_data.as_ref())
                .expect("identity"),
            &identity_ty,
        );
        let object = decode(e.resource_object.as_ref().expect("object"), &user_ty);
        // The identity names the object it comes with, and the object is the user in Alloy.
        assert_eq!(identity.attr("user_id"), object.attr("id"));
        assert_eq!(object.attr("username"), &Value::string(&username));
        assert_eq!(
            object.attr("full_name"),
            &Value::string(format!("User {i}"))
        );
        assert_eq!(object.attr("environment"), &Value::string("development"));
        let id = object.attr("id").as_str().expect("an id");
        assert!(
            api.iter()
                .any(|u| u.user_id == id && u.username == username)
        );
    }
    // The same list again: the same order (the identities compare equal one by one).
    let again = world.all(world.list(Value::string("^tenant-"), false, 5000));
    assert_eq!(
        again.iter().map(|e| e.identity.clone()).collect::<Vec<_>>(),
        events
            .iter()
            .map(|e| e.identity.clone())
            .collect::<Vec<_>>()
    );
    assert!(again.iter().all(|e| e.resource_object.is_none()));
}

#[test]
fn the_limit_cuts_and_a_cancelled_stream_makes_no_further_call() {
    let emu = TestEmulator::start();
    existing_users(&emu, "tenant-", 300);
    let world = World::new(&emu);
    emu.clear_requests();
    // Terraform's default limit.
    let events = world.all(world.list(Value::Null, false, 100));
    assert_eq!(events.len(), 100);
    assert_eq!(events[99].display_name, "tenant-00099@example.com");
    // Terraform reads three and cancels the stream.
    let mut stream = world.list(Value::Null, false, 0);
    for _ in 0..3 {
        let e = world
            .rt
            .block_on(stream.next())
            .expect("an event")
            .expect("ok");
        assert!(e.identity.is_some());
    }
    let before = emu.total_requests();
    drop(stream);
    // Another list afterwards shows the provider still serves, and costs its own request.
    let after = world.all(world.list(Value::string("^tenant-0000"), false, 100));
    assert_eq!(after.len(), 10);
    assert!(
        emu.total_requests() <= before + 1,
        "cancelled list kept calling: {:?}",
        emu.request_counts()
    );
}

#[test]
fn an_api_failure_and_bad_input_arrive_as_diagnostics_in_the_stream() {
    let emu = TestEmulator::start();
    let world = World::new(&emu);
    emu.patch_faults(json!({ "error_rate": 1.0 }));
    let events = world.all(world.list(Value::Null, false, 100));
    emu.patch_faults(json!({ "error_rate": 0.0 }));
    assert_eq!(events.len(), 1, "{events:?}");
    let d = &events[0].diagnostic;
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].severity, pb::diagnostic::Severity::Error as i32);
    assert!(d[0].summary.contains("Cannot list Alloy users"), "{d:?}");
    assert!(events[0].identity.is_none());
    // A filter Terraform cannot know yet, and a bad one: refused before any API call.
    emu.clear_requests();
    let events = world.all(world.list(Value::Unknown, false, 100));
    assert_eq!(
        events[0].diagnostic[0].summary,
        "List configuration not known"
    );
    let events = world.all(world.list(Value::string("(unclosed"), false, 100));
    assert_eq!(events.len(), 1);
    let attr = events[0].diagnostic[0]
        .attribute
        .as_ref()
        .expect("an attribute");
    assert_eq!(
        attr.steps[0].selector,
        Some(pb::attribute_path::step::Selector::AttributeName(
            "username_regex".into()
        ))
    );
    assert_eq!(emu.total_requests(), 0);
    // ValidateListResourceConfig says the same at validate time.
    let r = world
        .rt
        .block_on(world.server.validate_list_resource_config(Request::new(
            pb::validate_list_resource_config::Request {
                type_name: "alloy_user".into(),
                config: world.list_config(Value::string("(unclosed"), Value::string("")),
                ..Default::default()
            },
        )))
        .expect("validate")
        .into_inner();
    assert_eq!(r.diagnostics.len(), 2, "{:?}", r.diagnostics);
}

#[test]
fn a_workflows_tenants_are_listed_from_one_request_with_both_identity_attributes() {
    let def = &alloy_emulator::catalogue::catalogue()[0];
    let (integration, wf) = (def.id, def.workflows[0].id);
    let emu = TestEmulator::start();
    existing_users(&emu, "tenant-", 30);
    let users = emu.users(alloy_emulator::Environment::Development);
    // A few tenants install the workflow.
    let mut installed: Vec<(String, String)> = users
        .iter()
        .filter(|u| u.username.ends_with("0@example.com") || u.username.contains("-0001"))
        .map(|u| (u.username.clone(), u.user_id.clone()))
        .collect();
    for (_, id) in &installed {
        emu.install(
            alloy_emulator::Environment::Development,
            id,
            integration,
            Some(wf),
        );
    }
    installed.sort();
    assert!(installed.len() > 5, "{installed:?}");
    let world = World::new(&emu);
    emu.clear_requests();
    let s = world.server.schemas();
    let list_ty = s
        .list_resources
        .iter()
        .find(|(n, _)| *n == "alloy_user_workflow")
        .map(|(_, s)| s.value_type())
        .expect("list alloy_user_workflow");
    let (ty, identity_ty) = (
        s.resources
            .iter()
            .find(|(n, _)| *n == "alloy_user_workflow")
            .map(|(_, s)| s.value_type())
            .expect("resource"),
        s.identities
            .iter()
            .find(|(n, _)| *n == "alloy_user_workflow")
            .map(|(_, i)| i.value_type())
            .expect("identity"),
    );
    drop(s);
    let config = encode(
        &Value::object([
            ("workflow_id", Value::string(wf)),
            ("active", Value::Null),
            ("username_regex", Value::Null),
        ]),
        &list_ty,
    );
    let stream = world
        .rt
        .block_on(
            world
                .server
                .list_resource(Request::new(pb::list_resource::Request {
                    type_name: "alloy_user_workflow".into(),
                    config,
                    include_resource_object: true,
                    limit: 100,
                })),
        )
        .expect("a stream")
        .into_inner();
    let events = world.all(stream);
    assert_eq!(emu.total_requests(), 1, "{:?}", emu.request_counts());
    assert_eq!(emu.count("GET /workflows/{id}/users"), 1);
    assert_eq!(events.len(), installed.len());
    for (e, (username, id)) in events.iter().zip(&installed) {
        assert!(e.diagnostic.is_empty(), "{:?}", e.diagnostic);
        assert_eq!(e.display_name, format!("{username}/{wf}"));
        let identity = decode(
            e.identity
                .as_ref()
                .and_then(|i| i.identity_data.as_ref())
                .expect("identity"),
            &identity_ty,
        );
        assert_eq!(
            identity,
            Value::object([
                ("user_id", Value::string(id)),
                ("workflow_id", Value::string(wf))
            ])
        );
        let object = decode(e.resource_object.as_ref().expect("object"), &ty);
        assert_eq!(object.attr("active"), &Value::Bool(true));
        assert_eq!(object.attr("id"), &Value::string(format!("{id}/{wf}")));
    }
}
