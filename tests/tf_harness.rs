//! Terraform 1.12–1.16 played by a harness (`tests/common/harness.rs`): resource identity,
//! `terraform query` list resources and generated configuration, against the real provider binary
//! over gRPC with AutoMTLS and the emulator as a real HTTP server. Each check in the harness names
//! the Terraform source file its rule comes from; the tests here add what issue 25 asks of this
//! provider beyond Terraform's rules (one API call per list, identity never changing).

mod common;

use common::harness::{Object, Terraform, errors, fill, rule};
use common::{Admin, Development, Emulator};
use terraform_plugin::framework::Value;
use terraform_plugin::proto::tfplugin6 as pb;

const USER: &str = "alloy_user";

/// A configuration of `alloy_user`.
fn user_config(tf: &Terraform, username: &str, full_name: Option<&str>) -> Value {
    tf.object(
        USER,
        &[
            ("username", Value::string(username)),
            ("full_name", full_name.map_or(Value::Null, Value::string)),
        ],
    )
}

/// Seeds `n` users `user-1..user-n` in the development environment.
fn seed(emu: &Emulator, n: u64) {
    emu.admin_ok(
        reqwest::Method::POST,
        "seed",
        Some(serde_json::json!({"environment": "development", "count": n, "prefix": "user-"})),
    );
}

/// `identity` keeping only the attributes an `import { identity = {…} }` block must give.
fn required_only(tf: &Terraform, type_name: &str, identity: &Value) -> Value {
    let schema = tf.identity(type_name);
    let required: Vec<(&str, Value)> = schema
        .attributes
        .iter()
        .filter(|a| a.required_for_import)
        .map(|a| (a.name.as_str(), identity.attr(&a.name).clone()))
        .collect();
    fill(&schema.ty, &required)
}

// ---------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------

#[test]
fn identity_schemas_come_after_the_provider_schema_and_never_fail() {
    let emu = Emulator::start();
    // internal/plugin6/grpc_provider.go GetProviderSchema: the identity schemas are asked for
    // right after the provider schema, before the provider is configured (the harness fails the
    // load on an error or a non-JSON attribute type).
    let mut tf = Terraform::start();
    assert_eq!(
        tf.calls,
        ["GetProviderSchema", "GetResourceIdentitySchemas"],
        "the schema load's order"
    );
    let first = tf.schemas.identities.clone();
    // Identity on every managed resource type (issue 25: alloy_user and the kinds added since).
    for name in tf.schemas.resources.keys() {
        let Some(id) = first.get(name) else {
            panic!("{name} has no identity schema")
        };
        assert_eq!(id.version, 0, "{name}: the first identity version is 0");
        assert!(!id.attributes.is_empty(), "{name}: an empty identity");
        assert!(
            id.attributes.iter().any(|a| a.required_for_import),
            "{name}: nothing identifies an object on import"
        );
        for a in &id.attributes {
            assert!(
                a.required_for_import != a.optional_for_import,
                "{name}.{}: exactly one of required_for_import and optional_for_import",
                a.name
            );
            assert!(
                !a.description.is_empty(),
                "{name}.{}: no description",
                a.name
            );
        }
    }
    // Asked again once configured, and first thing in a process whose schema Terraform cached
    // (get_provider_schema_optional): the same answer, never an error.
    tf.configure_for(&emu);
    let again = tf.identity_schemas();
    assert_eq!(format!("{first:?}"), format!("{again:?}"));
    let (status, _) = tf.shutdown();
    assert!(status.success());
    let mut cached = Terraform::launch();
    let fresh = cached.identity_schemas();
    assert_eq!(format!("{first:?}"), format!("{fresh:?}"));
    cached.shutdown();
}

#[test]
fn list_resource_schemas_follow_terraforms_wire_rules() {
    // The harness's schema load checks the rule of grpc_provider.go ListResource (a list type
    // has a managed type and an identity schema of the same name); here the list type exists
    // with the data source's filters, and the capability for generated configuration is on.
    let mut tf = Terraform::start();
    let (ty, block) = tf
        .schemas
        .lists
        .get(USER)
        .cloned()
        .expect("list alloy_user");
    let names: Vec<&str> = block.attributes.iter().map(|a| a.name.as_str()).collect();
    assert!(names.contains(&"username_regex"), "{names:?}");
    assert!(names.contains(&"workflow_id"), "{names:?}");
    for a in &block.attributes {
        assert!(
            !a.required,
            "{}: a required filter would make `config` mandatory",
            a.name
        );
        assert!(!a.computed, "{}: a list config is input only", a.name);
    }
    // convert.ProtoToListSchema wraps the block in `config`: the provider sees only the inner
    // object, whose attributes are exactly the provider's list schema.
    assert!(
        !tf.list_config_required(USER),
        "`config {{}}` may be left out"
    );
    assert!(
        tf.list_config_required("alloy_user_workflow"),
        "a workflow's tenants need its workflow_id: `config` is required"
    );
    let wrapped = tf.list_block(USER, &[]);
    let Value::Object(outer) = &wrapped else {
        panic!("{wrapped:?}")
    };
    assert_eq!(outer.keys().collect::<Vec<_>>(), ["config"]);
    let (Value::Object(inner), terraform_plugin::framework::Type::Object(types)) =
        (wrapped.attr("config"), &ty)
    else {
        panic!("{wrapped:?} {ty:?}")
    };
    assert!(inner.keys().eq(types.keys()), "{inner:?} {types:?}");
    assert!(tf.schemas.capabilities.generate_resource_config);
    let diags = tf.validate_list(USER, &wrapped);
    assert!(errors(&diags).is_empty(), "{diags:?}");
    tf.shutdown();
}

// ---------------------------------------------------------------------------
// Identity through the resource lifecycle
// ---------------------------------------------------------------------------

#[test]
fn identity_is_known_conforming_and_unchanged_from_create_to_destroy() {
    let emu = Emulator::start();
    let mut tf = Terraform::configured(&emu);

    // Create: the plan may leave the identity unknown (node_resource_abstract_instance.go plan),
    // the apply must make it known (apply).
    let config = user_config(&tf, "ada@example.com", Some("Ada"));
    let created = tf.create_or_update(None, USER, &config);
    let identity = created.identity.clone().expect("apply returns an identity");
    let id = created.state.attr("id").as_str().expect("id").to_string();
    assert!(
        identity_mentions(&identity, &id),
        "the identity holds the userId {id}: {identity:?}"
    );

    // Refresh: the same identity.
    let (read, diags) = tf.read(&created);
    assert!(errors(&diags).is_empty(), "{diags:?}");
    let read = read.expect("the user exists");
    assert_eq!(read.identity.as_ref(), Some(&identity), "refresh keeps it");

    // Update in place: known in the plan (it is not a create or a replacement) and unchanged.
    let config2 = user_config(&tf, "ada@example.com", Some("Ada Lovelace"));
    let planned = tf.plan(Some(&read), USER, &config2);
    assert!(planned.requires_replace.is_empty());
    assert_eq!(
        planned.identity.as_ref(),
        Some(&identity),
        "plan of an update"
    );
    let (updated, diags) = tf.apply(Some(&read), USER, &config2, &planned);
    assert!(errors(&diags).is_empty(), "{diags:?}");
    assert_eq!(
        updated.identity.as_ref(),
        Some(&identity),
        "apply of an update"
    );
    assert_eq!(
        updated.state.attr("full_name").as_str(),
        Some("Ada Lovelace")
    );

    // A new username replaces the user: the plan may leave the identity unknown then.
    let renamed = user_config(&tf, "ada.l@example.com", None);
    let replace = tf.plan(Some(&updated), USER, &renamed);
    assert!(
        !replace.requires_replace.is_empty(),
        "a username change replaces"
    );

    // Destroy (plan_destroy) keeps the prior identity valid; the apply removes the object.
    let planned = tf.plan_destroy(&updated);
    assert!(
        errors(&planned.diagnostics).is_empty(),
        "{:?}",
        planned.diagnostics
    );
    let (gone, diags) = tf.apply(Some(&updated), USER, &Value::Null, &planned);
    assert!(errors(&diags).is_empty(), "{diags:?}");
    assert!(gone.state.is_null());
    assert!(emu.users(Development).is_empty());
    let (status, _) = tf.shutdown();
    assert!(status.success());
}

#[test]
fn an_identity_that_would_change_is_refused() {
    // Terraform core never compares identities (node_resource_abstract_instance.go: "we allow
    // identity changes" on destroy and replace only by not checking); the "never changes for an
    // object's life" rule is the provider's, as in the SDKs ("Unexpected Identity Change").
    let emu = Emulator::start();
    let mut tf = Terraform::configured(&emu);
    let created = tf.create_or_update(None, USER, &user_config(&tf, "eve@example.com", None));
    let identity = created.identity.clone().expect("identity");
    let mut other = identity.clone();
    let Value::Object(m) = &mut other else {
        panic!("{identity:?}")
    };
    for v in m.values_mut() {
        if v.as_str().is_some_and(|s| s.len() == 24) {
            *v = Value::string("0123456789abcdef01234567");
        }
    }
    assert_ne!(other, identity);
    let tampered = Object {
        identity: Some(other.clone()),
        ..created.clone()
    };
    let (_, diags) = tf.read(&tampered);
    assert!(
        !errors(&diags).is_empty(),
        "a refresh that would change the identity"
    );
    let planned = tf.plan(
        Some(&tampered),
        USER,
        &user_config(&tf, "eve@example.com", Some("Eve")),
    );
    assert!(
        !errors(&planned.diagnostics).is_empty(),
        "an update planned against another identity"
    );
    tf.shutdown();
}

#[test]
fn a_tenants_workflow_keeps_its_identity_through_create_update_and_refresh() {
    // The same rules for alloy_user_workflow, whose identity is (user_id, workflow_id).
    const TYPE: &str = "alloy_user_workflow";
    let emu = Emulator::start();
    let def = &alloy_emulator::catalogue::catalogue()[0];
    let (integration, wf) = (def.id, def.workflows[0].id);
    let user = emu.create_user(common::DEV_KEY, "wes@example.com", None);
    emu.install(Development, &user, integration, Some(wf));
    let mut tf = Terraform::configured(&emu);
    let config = |tf: &Terraform, active: Value| {
        tf.object(
            TYPE,
            &[
                ("user_id", Value::string(&user)),
                ("workflow_id", Value::string(wf)),
                ("active", active),
            ],
        )
    };
    let created = tf.create_or_update(None, TYPE, &config(&tf, Value::Null));
    let identity = created.identity.clone().expect("apply returns an identity");
    assert!(identity_mentions(&identity, &user) && identity_mentions(&identity, wf));
    let off = config(&tf, Value::Bool(false));
    let planned = tf.plan(Some(&created), TYPE, &off);
    assert!(
        planned.requires_replace.is_empty(),
        "{:?}",
        planned.requires_replace
    );
    assert_eq!(
        planned.identity.as_ref(),
        Some(&identity),
        "plan of an update"
    );
    let (updated, diags) = tf.apply(Some(&created), TYPE, &off, &planned);
    assert!(errors(&diags).is_empty(), "{diags:?}");
    assert_eq!(updated.state.attr("active").as_bool(), Some(false));
    assert_eq!(
        updated.identity.as_ref(),
        Some(&identity),
        "apply of an update"
    );
    let (read, diags) = tf.read(&updated);
    assert!(errors(&diags).is_empty(), "{diags:?}");
    assert_eq!(
        read.expect("still installed").identity,
        Some(identity.clone())
    );
    // Imported by its identity: the same object.
    let imported = tf
        .import(TYPE, "", Some(&required_only(&tf, TYPE, &identity)))
        .expect("import by identity");
    assert_eq!(imported.identity, Some(identity));
    tf.shutdown();
}

/// Whether some attribute of `identity` is the string `s`.
fn identity_mentions(identity: &Value, s: &str) -> bool {
    match identity {
        Value::Object(m) => m.values().any(|v| v.as_str() == Some(s)),
        _ => false,
    }
}

#[test]
fn import_by_identity_and_by_id_give_one_object_with_the_same_identity() {
    let emu = Emulator::start();
    let id = emu.create_user(common::DEV_KEY, "grace@example.com", Some("Grace"));
    let mut tf = Terraform::configured(&emu);

    // `import { id = … }` (node_resource_plan_instance.go importState): one object, an identity.
    let by_id = tf.import(USER, &id, None).expect("import by id");
    let identity = by_id.identity.clone().expect("identity");
    assert_eq!(
        by_id.state.attr("username").as_str(),
        Some("grace@example.com")
    );

    // `import { identity = {…} }` with only the required attributes: the same object, and the
    // provider completes the identity (the plan records the provider's, complete identity).
    let given = required_only(&tf, USER, &identity);
    let by_identity = tf
        .import(USER, "", Some(&given))
        .expect("import by identity");
    assert_eq!(by_identity.identity.as_ref(), Some(&identity));
    assert_eq!(by_identity.state.attr("id").as_str(), Some(id.as_str()));
    assert_eq!(by_identity.state, by_id.state);

    // An identity naming no user: refused with an error, not an empty import.
    let mut missing = given.clone();
    for a in tf
        .identity(USER)
        .attributes
        .iter()
        .filter(|a| a.required_for_import)
    {
        if missing.attr(&a.name).as_str() == Some(id.as_str()) {
            missing.set_attr(&a.name, Value::string("0123456789abcdef01234567"));
        }
    }
    let refused = tf
        .import(USER, "", Some(&missing))
        .expect_err("no such user");
    assert!(!errors(&refused).is_empty());
    tf.shutdown();
}

#[test]
fn state_written_before_identity_gets_one_on_its_first_refresh() {
    let emu = Emulator::start();
    let id = emu.create_user(common::DEV_KEY, "hopper@example.com", None);
    let mut tf = Terraform::configured(&emu);
    // A state as Terraform 1.11 wrote it (schema version 1, no identity): upgraded, then read
    // with a null current_identity (node_resource_abstract_instance.go refresh sends none).
    let version = tf.resource(USER).version;
    let json = serde_json::json!({
        "id": id, "username": "hopper@example.com", "full_name": null,
        "environment": "development", "deletion_protection": false,
    });
    let state = tf.upgrade_state(USER, version, &json);
    let old = Object {
        type_name: USER.into(),
        state,
        identity: None,
        private: vec![],
    };
    let (read, diags) = tf.read(&old);
    assert!(errors(&diags).is_empty(), "{diags:?}");
    let read = read.expect("the user exists");
    let identity = read
        .identity
        .clone()
        .expect("the refresh backfills the identity");
    assert!(identity_mentions(&identity, &id), "{identity:?}");
    // The same identity an import would record.
    let imported = tf.import(USER, &id, None).expect("import");
    assert_eq!(imported.identity, Some(identity));
    tf.shutdown();
}

#[test]
fn a_user_deleted_out_of_band_reads_as_gone_with_or_without_identity() {
    // The roll-out bug of aws#46964 and azapi#1156: a refresh of an object that no longer exists
    // must report it gone (null state), not fail for want of an identity to return.
    let emu = Emulator::start();
    seed(&emu, 5);
    let mut tf = Terraform::configured(&emu);
    let listed = tf.list(USER, &tf.list_block(USER, &[]), true, 100);
    assert_eq!(listed.results.len(), 5);
    let objects: Vec<Object> = listed
        .results
        .iter()
        .map(|r| Object {
            type_name: USER.into(),
            state: r.object.clone().expect("object"),
            identity: Some(r.identity.clone()),
            private: vec![],
        })
        .collect();
    let (with, without) = (&objects[0], &objects[1]);
    let without = Object {
        identity: None,
        ..without.clone()
    };
    for gone in [with, &without] {
        let id = gone.state.attr("id").as_str().expect("id").to_string();
        emu.delete_out_of_band(Development, &id);
    }
    let (status, _) = tf.shutdown();
    assert!(status.success());
    // A new process, as the next `terraform plan` is.
    let mut tf = Terraform::configured(&emu);
    for gone in [with, &without] {
        let (read, diags) = tf.read(gone);
        assert!(errors(&diags).is_empty(), "{diags:?}");
        assert!(read.is_none(), "reported gone: {read:?}");
    }
    for kept in &objects[2..] {
        let (read, diags) = tf.read(kept);
        assert!(errors(&diags).is_empty(), "{diags:?}");
        assert_eq!(read.expect("still there").identity, kept.identity);
    }
    tf.shutdown();
}

#[test]
fn an_update_without_refresh_of_pre_identity_state_gets_an_identity() {
    // tfe#1977: `terraform apply -refresh=false` after upgrading the provider plans and applies
    // an update of state that has no identity yet; the plan (an update: the identity must be
    // known, node_resource_abstract_instance.go plan) and the apply must both supply it.
    let emu = Emulator::start();
    let id = emu.create_user(common::DEV_KEY, "kay@example.com", None);
    let mut tf = Terraform::configured(&emu);
    let version = tf.resource(USER).version;
    let state = tf.upgrade_state(
        USER,
        version,
        &serde_json::json!({
            "id": id, "username": "kay@example.com", "full_name": null,
            "environment": "development", "deletion_protection": false,
        }),
    );
    let old = Object {
        type_name: USER.into(),
        state,
        identity: None,
        private: vec![],
    };
    let config = user_config(&tf, "kay@example.com", Some("Kay"));
    let planned = tf.plan(Some(&old), USER, &config);
    assert!(
        errors(&planned.diagnostics).is_empty(),
        "{:?}",
        planned.diagnostics
    );
    let identity = planned
        .identity
        .clone()
        .expect("the plan supplies the identity");
    assert!(identity_mentions(&identity, &id), "{identity:?}");
    let (updated, diags) = tf.apply(Some(&old), USER, &config, &planned);
    assert!(errors(&diags).is_empty(), "{diags:?}");
    assert_eq!(updated.identity, Some(identity));
    tf.shutdown();
}

#[test]
fn upgrade_resource_identity_from_version_0_returns_it_whole() {
    let emu = Emulator::start();
    let mut tf = Terraform::configured(&emu);
    let created = tf.create_or_update(None, USER, &user_config(&tf, "lin@example.com", None));
    let identity = created.identity.clone().expect("identity");
    let ty = tf.identity(USER).ty;
    let json = terraform_plugin::framework::value::to_json(&identity, &ty);
    // upgrade_resource_state.go: the upgraded identity must be wholly known and conform.
    let (upgraded, diags) = tf.upgrade_identity(USER, 0, &json);
    assert!(errors(&diags).is_empty(), "{diags:?}");
    assert_eq!(upgraded, Some(identity));
    // A version newer than the provider's is refused with a diagnostic (Terraform itself stops
    // earlier: "Resource instance managed by newer provider version").
    let (none, diags) = tf.upgrade_identity(USER, 7, &json);
    assert!(none.is_none() && !errors(&diags).is_empty(), "{diags:?}");
    tf.shutdown();
}

// ---------------------------------------------------------------------------
// terraform query: list resources
// ---------------------------------------------------------------------------

#[test]
fn list_stops_at_the_limit_in_a_stable_order_for_one_api_call() {
    let emu = Emulator::start();
    seed(&emu, 250);
    let mut tf = Terraform::configured(&emu);
    emu.clear_requests();
    let block = tf.list_block(USER, &[]);
    let first = tf.list(USER, &block, false, 100);
    assert!(
        errors(&first.diagnostics).is_empty(),
        "{:?}",
        first.diagnostics
    );
    assert_eq!(first.results.len(), 100, "Terraform's default limit");
    assert!(first.cut_at_limit);
    assert_eq!(emu.total_requests(), 1, "one GET /users for the whole list");
    assert!(first.results.iter().all(|r| r.object.is_none()));
    // display_name is the username; identities are distinct.
    let users = emu.users(Development);
    for r in &first.results {
        let u = users
            .iter()
            .find(|u| identity_mentions(&r.identity, &u.user_id))
            .unwrap_or_else(|| panic!("{:?} names no user", r.identity));
        assert_eq!(r.display_name, u.username);
    }
    let mut ids: Vec<String> = first
        .results
        .iter()
        .map(|r| format!("{:?}", r.identity))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 100);
    // The same order in another process (another `terraform query`), and all 250 past the limit.
    let (status, _) = tf.shutdown();
    assert!(status.success());
    let mut tf = Terraform::configured(&emu);
    let all = tf.list(USER, &block, false, 1000);
    assert_eq!(all.results.len(), 250);
    assert!(!all.cut_at_limit);
    let names = |o: &common::harness::ListOutcome| {
        o.results
            .iter()
            .map(|r| r.display_name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&all)[..100], names(&first)[..]);
    // A filter narrows it (the data source's `username_regex`).
    let block = tf.list_block(USER, &[("username_regex", Value::string("^user-1[0-9]$"))]);
    let some = tf.list(USER, &block, false, 100);
    assert_eq!(some.results.len(), 10, "{:?}", names(&some));
    tf.shutdown();
}

#[test]
fn a_cancelled_list_stops_without_another_api_call() {
    let emu = Emulator::start();
    seed(&emu, 500);
    let mut tf = Terraform::configured(&emu);
    emu.clear_requests();
    let block = tf.list_block(USER, &[]);
    let mut stream = tf.open_list(USER, block.attr("config"), true, 100);
    let got = tf.read_list(USER, &mut stream, true, 1);
    assert_eq!(got.results.len(), 1);
    // Terraform cancels the stream's context: dropping the stream resets it. On Ctrl-C it also
    // sends StopProvider, which must answer without error.
    drop(stream);
    let at_cancel = emu.request_counts();
    assert_eq!(tf.stop_provider(), "", "StopProvider reports no error");
    // Nothing more after the cancel: counted once the provider has exited, so no request can
    // still be on its way.
    let (status, _) = tf.shutdown();
    assert!(status.success());
    let after = emu.request_counts();
    assert_eq!(after.total, at_cancel.total, "{:?}", after.by_route);
    assert!(after.total <= 1, "{:?}", after.by_route);
}

#[test]
fn include_resource_object_gives_objects_of_the_managed_schema_only_when_asked() {
    let emu = Emulator::start();
    emu.create_user(common::DEV_KEY, "ann@example.com", Some("Ann"));
    emu.create_user(common::DEV_KEY, "bob@example.com", None);
    let mut tf = Terraform::configured(&emu);
    let block = tf.list_block(USER, &[]);
    // Off: the events carry no object at all (not only ignored by Terraform).
    let mut stream = tf.open_list(USER, block.attr("config"), false, 100);
    let mut events = 0;
    while let Some(e) = tf.rt.block_on(stream.message()).expect("event") {
        assert!(
            e.resource_object.is_none(),
            "an object nobody asked for: {e:?}"
        );
        events += 1;
    }
    assert_eq!(events, 2);
    // On: objects conforming to alloy_user's schema (the harness decodes them with it), whose
    // identity and display name agree with them.
    let on = tf.list(USER, &block, true, 100);
    assert_eq!(on.results.len(), 2);
    for r in &on.results {
        let obj = r.object.as_ref().expect("object");
        assert!(obj.is_wholly_known(), "{obj:?}");
        assert_eq!(obj.attr("username").as_str(), Some(r.display_name.as_str()));
        let id = obj.attr("id").as_str().expect("id");
        assert!(identity_mentions(&r.identity, id));
        assert_eq!(obj.attr("environment").as_str(), Some("development"));
    }
    let ann = on
        .results
        .iter()
        .find(|r| r.display_name == "ann@example.com")
        .expect("ann");
    assert_eq!(
        ann.object
            .as_ref()
            .expect("object")
            .attr("full_name")
            .as_str(),
        Some("Ann")
    );
    tf.shutdown();
}

#[test]
fn an_unknown_list_config_is_refused_in_the_stream() {
    let emu = Emulator::start();
    seed(&emu, 3);
    let mut tf = Terraform::configured(&emu);
    emu.clear_requests();
    // Terraform never sends one (node_resource_plan_instance_query.go: "config is not known"),
    // and neither does the harness...
    let block = tf.list_block(USER, &[("username_regex", Value::Unknown)]);
    let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tf.list(USER, &block, false, 100);
    }));
    let message = refused.expect_err("the harness refuses an unknown config");
    let message = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("config is not known"), "{message}");
    // ...but a provider that gets one anyway refuses it in the stream and calls no API.
    let mut stream = tf.open_list(USER, block.attr("config"), false, 100);
    let out = tf.read_list(USER, &mut stream, false, 100);
    assert!(out.results.is_empty());
    let errs = errors(&out.diagnostics);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(emu.total_requests(), 0);
    // And a bad filter is caught by ValidateListResourceConfig, naming the attribute.
    let bad = tf.list_block(USER, &[("username_regex", Value::string("(unclosed"))]);
    let diags = tf.validate_list(USER, &bad);
    let err = diags
        .iter()
        .find(|d| d.severity == pb::diagnostic::Severity::Error as i32)
        .expect("an error");
    let path = err.attribute.as_ref().expect("on an attribute");
    assert!(format!("{path:?}").contains("username_regex"), "{path:?}");
    tf.shutdown();
}

#[test]
fn an_api_failure_is_an_error_in_the_stream() {
    let emu = Emulator::with(
        serde_json::json!({"error_rate": 1.0, "routes": ["GET /users"]}),
        Some(7),
    );
    let mut tf = Terraform::configured(&emu);
    let block = tf.list_block(USER, &[]);
    // The harness fails on a gRPC error status: the failure must come as an event diagnostic.
    let out = tf.list(USER, &block, false, 100);
    assert!(out.results.is_empty());
    let errs = errors(&out.diagnostics);
    assert!(!errs.is_empty(), "{:?}", out.diagnostics);
    let (status, _) = tf.shutdown();
    assert!(status.success());
}

// ---------------------------------------------------------------------------
// Generated configuration
// ---------------------------------------------------------------------------

#[test]
fn generated_configuration_passes_validation() {
    let emu = Emulator::start();
    emu.create_user(common::DEV_KEY, "cy@example.com", Some("Cy"));
    emu.create_user(common::DEV_KEY, "di@example.com", None);
    let mut tf = Terraform::configured(&emu);
    assert!(tf.schemas.capabilities.generate_resource_config);
    // `-generate-config-out` forces include_resource (eval_query.go), then asks for a body per
    // result (node_resource_plan_instance.go generateHCLResourceDef).
    let block = tf.list_block(USER, &[]);
    let out = tf.list(USER, &block, true, 100);
    assert_eq!(out.results.len(), 2);
    let schema = tf.resource(USER);
    for r in &out.results {
        let state = r.object.clone().expect("object");
        let (config, diags) = tf.generate_config(USER, &state);
        assert!(errors(&diags).is_empty(), "{diags:?}");
        // What a configuration cannot set stays out of it.
        for a in &schema.block.attributes {
            if a.computed && !a.optional {
                assert!(
                    config.attr(&a.name).is_null(),
                    "{} is computed only: {config:?}",
                    a.name
                );
            }
        }
        assert_eq!(config.attr("username"), state.attr("username"));
        let diags = tf.validate(USER, &config);
        rule(
            errors(&diags).is_empty(),
            "internal/terraform/node_resource_validate.go",
            "generated configuration must validate",
            format!("{config:?}: {diags:?}"),
        );
        // And it plans as no change against the imported object.
        let imported = tf
            .import(USER, "", Some(&r.identity))
            .expect("import by the listed identity");
        let planned = tf.plan(Some(&imported), USER, &config);
        assert!(
            errors(&planned.diagnostics).is_empty(),
            "{:?}",
            planned.diagnostics
        );
        assert_eq!(
            planned.state, imported.state,
            "generated config plans no change"
        );
    }
    tf.shutdown();
}

#[test]
fn a_workflows_tenants_list_import_and_generate_like_users() {
    // list "alloy_user_workflow": one workflow's tenants from its one list request, each with an
    // identity of the managed alloy_user_workflow type (the harness checks both on every event).
    let emu = Emulator::start();
    let wf = alloy_emulator::catalogue::catalogue()[0].workflows[0].id;
    emu.admin_ok(
        reqwest::Method::POST,
        "seed",
        Some(serde_json::json!({"environment": "development", "count": 5, "workflows": [wf]})),
    );
    seed_more(&emu, 3);
    let mut tf = Terraform::configured(&emu);
    const TYPE: &str = "alloy_user_workflow";
    let block = tf.list_block(TYPE, &[("workflow_id", Value::string(wf))]);
    assert!(errors(&tf.validate_list(TYPE, &block)).is_empty());
    emu.clear_requests();
    let out = tf.list(TYPE, &block, true, 100);
    assert!(errors(&out.diagnostics).is_empty(), "{:?}", out.diagnostics);
    assert_eq!(out.results.len(), 5, "the workflow's tenants only");
    let listed_calls = emu.request_counts();
    assert_eq!(listed_calls.total, 1, "{:?}", listed_calls.by_route);
    let mut names: Vec<&str> = out
        .results
        .iter()
        .map(|r| r.display_name.as_str())
        .collect();
    names.sort_unstable();
    let expected: Vec<String> = (1..=5).map(|i| format!("user-{i}/{wf}")).collect();
    assert_eq!(names, expected, "display names: username/workflow");
    // `terraform query -generate-config-out`, then the plan of what it wrote: each tenant imports
    // by its listed identity, its generated configuration validates, and plans no change.
    for r in &out.results {
        let imported = tf
            .import(TYPE, "", Some(&r.identity))
            .expect("import by the listed identity");
        assert_eq!(imported.identity.as_ref(), Some(&r.identity));
        let (config, diags) = tf.generate_config(TYPE, r.object.as_ref().expect("object"));
        assert!(errors(&diags).is_empty(), "{diags:?}");
        let diags = tf.validate(TYPE, &config);
        rule(
            errors(&diags).is_empty(),
            "internal/terraform/node_resource_validate.go",
            "generated configuration must validate",
            format!("{config:?}: {diags:?}"),
        );
        let planned = tf.plan(Some(&imported), TYPE, &config);
        assert!(
            errors(&planned.diagnostics).is_empty(),
            "{:?}",
            planned.diagnostics
        );
        assert!(planned.requires_replace.is_empty());
        assert_eq!(
            planned.state, imported.state,
            "generated config plans no change"
        );
        assert_eq!(planned.identity.as_ref(), Some(&r.identity));
    }
    tf.shutdown();
}

/// Seeds `n` more users (`other-1..`) with no workflow.
fn seed_more(emu: &Emulator, n: u64) {
    emu.admin_ok(
        reqwest::Method::POST,
        "seed",
        Some(serde_json::json!({"environment": "development", "count": n, "prefix": "other-"})),
    );
}

// ---------------------------------------------------------------------------
// Benchmark driver (not a test): run through bench/list.sh
// ---------------------------------------------------------------------------

/// Lists `BENCH_USERS` (3000) users through the harness, as `terraform query` would, and for
/// comparison plans them as `terraform plan` does (ReadResource, then PlanResourceChange, per
/// user): API calls, provider wall time and the provider's peak RSS (`VmHWM`, read from /proc
/// before it exits), each in a fresh provider process. `HARNESS_PROVIDER_BIN` names the provider
/// binary (bench/list.sh passes the release build). Prints figures; asserts only that the work
/// was done.
#[test]
#[ignore = "benchmark; run bench/list.sh"]
fn bench_list() {
    use std::time::Instant;
    let n: u64 = std::env::var("BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    println!(
        "provider: {}",
        std::env::var("HARNESS_PROVIDER_BIN").unwrap_or_else(|_| common::plugin::BIN.to_string())
    );
    println!("users: {n}");
    let emu = Emulator::start();
    seed(&emu, n);
    let session = || {
        let mut tf = Terraform::launch();
        tf.load_schemas();
        tf.configure_for(&emu);
        tf
    };
    let report = |what: &str, tf: &mut Terraform, started: Instant, results: usize| {
        let calls = emu.request_counts();
        println!(
            "FIGURES {what}: users={n} results={results} api_calls={} wall={:.3}s peak_rss={:.1}MiB routes={:?}",
            calls.total,
            started.elapsed().as_secs_f64(),
            tf.peak_rss_kib() as f64 / 1024.0,
            calls.by_route
        );
    };

    // The configured process before any work: the floor of every figure below.
    let mut tf = session();
    println!(
        "FIGURES idle: peak_rss={:.1}MiB (schemas loaded, provider configured)",
        tf.peak_rss_kib() as f64 / 1024.0
    );
    tf.shutdown();

    // terraform plan of the users (no change): refresh, then plan, one user at a time, from
    // state as Terraform 1.11 wrote it.
    let mut tf = session();
    let states: Vec<Object> = emu
        .users(Development)
        .into_iter()
        .map(|u| Object {
            type_name: USER.into(),
            state: tf.object(
                USER,
                &[
                    ("id", Value::string(u.user_id)),
                    ("username", Value::string(u.username)),
                    ("full_name", u.full_name.map_or(Value::Null, Value::string)),
                    ("environment", Value::string("development")),
                    ("deletion_protection", Value::Bool(false)),
                ],
            ),
            identity: None,
            private: vec![],
        })
        .collect();
    emu.clear_requests();
    let started = Instant::now();
    for obj in &states {
        let (read, diags) = tf.read(obj);
        assert!(errors(&diags).is_empty(), "{diags:?}");
        let read = read.expect("user exists");
        let config = user_config(
            &tf,
            read.state.attr("username").as_str().expect("username"),
            read.state.attr("full_name").as_str(),
        );
        let planned = tf.plan(Some(&read), USER, &config);
        assert!(errors(&planned.diagnostics).is_empty());
    }
    report("plan", &mut tf, started, states.len());
    tf.shutdown();

    // terraform query: one list block, limit = all users, without and with the objects
    // (`-generate-config-out` asks for them).
    for include in [false, true] {
        let mut tf = session();
        emu.clear_requests();
        let block = tf.list_block(USER, &[]);
        let started = Instant::now();
        let out = tf.list(USER, &block, include, i64::try_from(n).unwrap_or(i64::MAX));
        assert!(errors(&out.diagnostics).is_empty(), "{:?}", out.diagnostics);
        assert_eq!(out.results.len() as u64, n);
        let what = if include { "list+objects" } else { "list" };
        report(what, &mut tf, started, out.results.len());
        tf.shutdown();
    }
}
