//! `alloy_user` end to end: real `terraform`, the provider binary and the emulator on loopback.
//! Every test checks Terraform's output, the state (`terraform show -json`) and the emulator.

mod common;

use common::{
    Admin, DEV_KEY, Development, Emulator, Production, REFRESH_CALLS_BEST, REFRESH_CALLS_MAX, User,
    Workspace, config, user_hcl,
};
use serde_json::json;

fn is_24_hex(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[test]
fn create_then_plan_is_empty_and_state_matches_the_api() {
    let emu = Emulator::start();
    let ws = Workspace::new(&emu);
    ws.write_main(&config(&[user_hcl(
        "jane",
        "jane@example.com",
        Some("Jane Doe"),
    )]));
    let out = ws.apply();
    assert!(out.stdout.contains("1 added"), "{}", out.stdout);

    let v = ws.resource("alloy_user.jane");
    let id = v["id"].as_str().expect("id");
    assert!(is_24_hex(id), "{id}");
    assert_eq!(v["username"], "jane@example.com");
    assert_eq!(v["full_name"], "Jane Doe");
    assert_eq!(v["environment"], "development");
    assert_eq!(
        emu.users(Development),
        vec![User {
            user_id: id.to_string(),
            username: "jane@example.com".into(),
            full_name: Some("Jane Doe".into())
        }]
    );
    assert!(
        emu.users(Production).is_empty(),
        "the other environment must stay untouched"
    );

    emu.clear_requests();
    assert!(ws.plan_is_empty());
    assert_eq!(emu.count("POST /users"), 0);
    assert_eq!(
        emu.count("GET /users/{id}"),
        1,
        "a plan refreshes each user with one GET"
    );
}

#[test]
fn full_name_updates_in_place_and_username_replaces() {
    let emu = Emulator::start();
    let ws = Workspace::new(&emu);
    ws.write_main(&config(&[user_hcl("u", "anna", Some("Anna"))]));
    ws.apply();
    let id = ws.resource("alloy_user.u")["id"]
        .as_str()
        .expect("id")
        .to_string();

    // full_name: in place, same id.
    ws.write_main(&config(&[user_hcl("u", "anna", Some("Anna K."))]));
    let plan = ws.tf(&["plan", "-input=false"]).expect_ok("plan");
    assert!(plan.stdout.contains("updated in-place"), "{}", plan.stdout);
    assert!(plan.stdout.contains("1 to change"), "{}", plan.stdout);
    ws.apply();
    assert_eq!(ws.resource("alloy_user.u")["id"], id.as_str());
    assert_eq!(
        emu.users(Development)[0].full_name.as_deref(),
        Some("Anna K.")
    );

    // Removing full_name clears it in Alloy.
    ws.write_main(&config(&[user_hcl("u", "anna", None)]));
    ws.apply();
    assert_eq!(emu.users(Development)[0].full_name, None);
    assert!(ws.plan_is_empty());

    // username: replacement, documented as such in the plan.
    ws.write_main(&config(&[user_hcl("u", "anna.k", None)]));
    let plan = ws.tf(&["plan", "-input=false"]).expect_ok("plan");
    assert!(
        plan.stdout.contains("forces replacement"),
        "{}",
        plan.stdout
    );
    ws.apply();
    let users = emu.users(Development);
    assert_eq!(users.len(), 1, "{users:?}");
    assert_eq!(users[0].username, "anna.k");
    assert_ne!(users[0].user_id, id, "a new user replaces the old one");
    assert!(ws.plan_is_empty());

    ws.destroy();
    assert!(emu.users(Development).is_empty());
}

#[test]
fn a_user_deleted_outside_terraform_is_reported_and_recreated() {
    let emu = Emulator::start();
    let ws = Workspace::new(&emu);
    ws.write_main(&config(&[user_hcl("d", "drift@example.com", None)]));
    ws.apply();
    let id = ws.resource("alloy_user.d")["id"]
        .as_str()
        .expect("id")
        .to_string();
    emu.delete_out_of_band(Development, &id);

    let plan = ws.tf(&["plan", "-input=false"]).expect_ok("plan");
    let out = plan.flat();
    assert!(
        out.contains("Alloy user deleted outside Terraform"),
        "{out}"
    );
    assert!(
        out.contains("drift@example.com") && out.contains(&id),
        "the warning names the user: {out}"
    );
    assert!(out.contains("1 to add"), "{out}");

    ws.apply();
    let users = emu.users(Development);
    assert_eq!(users.len(), 1);
    assert_ne!(users[0].user_id, id);
    assert!(ws.plan_is_empty());
}

#[test]
fn deleting_a_user_that_is_already_gone_succeeds() {
    let emu = Emulator::start();
    let ws = Workspace::new(&emu);
    ws.write_main(&config(&[user_hcl("g", "gone", None)]));
    ws.apply();
    let id = ws.resource("alloy_user.g")["id"]
        .as_str()
        .expect("id")
        .to_string();
    emu.delete_out_of_band(Development, &id);
    // -refresh=false so Terraform still believes the user exists and sends DELETE.
    ws.tf(&["destroy", "-auto-approve", "-input=false", "-refresh=false"])
        .expect_ok("destroy");
    assert_eq!(emu.count("DELETE /users/{id}"), 1);
    assert!(ws.resources().is_empty());
}

#[test]
fn import_by_id_or_username_gives_the_same_state_as_create() {
    let emu = Emulator::start();
    // The reference: a user created by Terraform.
    let created = Workspace::new(&emu);
    created.write_main(&config(&[user_hcl("u", "ref@example.com", Some("Ref"))]));
    created.apply();
    let mut reference = created.resource("alloy_user.u");
    reference["id"] = json!(null);

    for (how, username) in [
        ("id", "by-id@example.com"),
        ("username", "by-name@example.com"),
    ] {
        let id = emu.create_user(DEV_KEY, username, Some("Ref"));
        let ws = Workspace::new(&emu);
        ws.write_main(&config(&[user_hcl("u", username, Some("Ref"))]));
        let import_id = if how == "id" {
            id.clone()
        } else {
            username.to_string()
        };
        ws.tf(&["import", "-input=false", "alloy_user.u", &import_id])
            .expect_ok("terraform import");
        let mut v = ws.resource("alloy_user.u");
        assert_eq!(v["id"], id.as_str(), "import by {how} stores the userId");
        v["id"] = json!(null);
        let mut expected = reference.clone();
        expected["username"] = json!(username);
        assert_eq!(v, expected, "import by {how}");
        assert!(
            ws.plan_is_empty(),
            "plan after import by {how} must be empty"
        );
    }
    assert_eq!(
        emu.users(Development).len(),
        3,
        "import never creates users"
    );
}

#[test]
fn import_blocks_and_generated_configuration_work() {
    let emu = Emulator::start();
    let id = emu.create_user(DEV_KEY, "generated@example.com", Some("Gen Erated"));
    let ws = Workspace::new(&emu);
    ws.write_main(&format!(
        "provider \"alloy\" {{}}\n\nimport {{\n  to = alloy_user.gen\n  id = \"{id}\"\n}}\n"
    ));
    ws.tf(&["plan", "-input=false", "-generate-config-out=generated.tf"])
        .expect_ok("plan -generate-config-out");
    let generated = std::fs::read_to_string(ws.path().join("generated.tf")).expect("generated.tf");
    assert!(
        generated.contains("resource \"alloy_user\" \"gen\""),
        "{generated}"
    );
    assert!(
        generated.contains("username") && generated.contains("generated@example.com"),
        "{generated}"
    );
    assert!(generated.contains("Gen Erated"), "{generated}");
    let out = ws.apply();
    assert!(out.stdout.contains("1 imported"), "{}", out.stdout);
    assert_eq!(ws.resource("alloy_user.gen")["id"], id.as_str());
    assert!(ws.plan_is_empty());
    assert_eq!(emu.users(Development).len(), 1);
}

#[test]
fn import_of_an_unknown_user_is_a_clear_error() {
    let emu = Emulator::start();
    let ws = Workspace::new(&emu);
    ws.write_main(&config(&[user_hcl("u", "nobody", None)]));
    let r = ws
        .tf(&["import", "-input=false", "alloy_user.u", "nobody"])
        .expect_fail("import of a missing user");
    let out = r.flat();
    assert!(
        out.contains("Alloy user not found") && out.contains("\"nobody\""),
        "{out}"
    );
    assert!(out.contains("development environment"), "{out}");
}

#[test]
fn an_existing_username_is_an_error_that_shows_the_import_command() {
    let emu = Emulator::start();
    emu.create_user(DEV_KEY, "taken@example.com", None);
    let ws = Workspace::new(&emu);
    ws.write_main(&config(&[user_hcl("t", "taken@example.com", None)]));
    let r = ws.apply_fails("apply of a taken username");
    let out = r.flat();
    assert!(out.contains("Alloy user already exists"), "{out}");
    assert!(
        out.contains("terraform import") && out.contains("`import` block"),
        "{out}"
    );
    assert!(!out.contains("<resource address>"), "no placeholder: {out}");
    assert!(out.contains("taken@example.com"), "{out}");
    assert_eq!(emu.users(Development).len(), 1, "no duplicate");
    assert!(
        ws.resources().is_empty(),
        "nothing recorded for a user Terraform did not create"
    );
}

#[test]
fn a_lost_create_response_adopts_the_user_instead_of_duplicating_it() {
    let emu = Emulator::start();
    let ws = Workspace::new(&emu);
    // Every write commits, then the connection drops before the answer.
    emu.patch_faults(json!({"lost_response_rate": 1.0}));
    ws.write_main(&config(&[user_hcl("l", "lost@example.com", None)]));
    ws.apply();
    emu.patch_faults(json!({"lost_response_rate": 0.0}));

    let users = emu.users(Development);
    assert_eq!(users.len(), 1, "exactly one user: {users:?}");
    assert_eq!(
        emu.count("POST /users"),
        1,
        "the create is never re-posted blindly"
    );
    assert_eq!(ws.resource("alloy_user.l")["id"], users[0].user_id.as_str());
    assert!(ws.plan_is_empty());
}

#[test]
fn switching_environment_fails_the_plan_instead_of_recreating_users() {
    let emu = Emulator::start();
    let mut ws = Workspace::new(&emu);
    ws.write_main(&config(&[user_hcl("p", "pinned@example.com", None)]));
    ws.apply();

    ws.set_env("ALLOY_ENVIRONMENT", "production");
    emu.clear_requests();
    let r = ws
        .tf(&["plan", "-input=false"])
        .expect_fail("plan against the other environment");
    let out = r.flat();
    assert!(out.contains("Alloy environment mismatch"), "{out}");
    assert!(
        out.contains("created in the development environment")
            && out.contains("configured for production"),
        "{out}"
    );
    assert_eq!(emu.total_requests(), 0, "no API call under the wrong key");
    let apply = ws.apply_fails("apply against the other environment");
    assert!(apply.all().contains("Alloy environment mismatch"));
    assert!(
        emu.users(Production).is_empty(),
        "nothing created in production"
    );
    assert_eq!(emu.users(Development).len(), 1);
}

#[test]
fn invalid_usernames_fail_at_plan_time_without_api_calls() {
    let emu = Emulator::start();
    let ws = Workspace::new(&emu);
    let long = "x".repeat(256);
    let cases = [
        ("\"\"", "must not be empty"),
        ("\" padded\"", "must not start or end with whitespace"),
        ("\"tab\\there\"", "must not contain control characters"),
        (long.as_str(), "must be at most 255 characters"),
    ];
    for (value, expected) in cases {
        let value = if value.starts_with('"') {
            value.to_string()
        } else {
            format!("\"{value}\"")
        };
        ws.write_main(&format!("provider \"alloy\" {{}}\n\nresource \"alloy_user\" \"bad\" {{\n  username = {value}\n}}\n"));
        let r = ws
            .tf(&["plan", "-input=false"])
            .expect_fail("plan with a bad username");
        let out = r.flat();
        assert!(
            out.contains("Invalid username") && out.contains(expected),
            "{expected}: {out}"
        );
        assert!(
            out.contains("username ="),
            "the diagnostic points at the attribute: {out}"
        );
    }
    assert_eq!(emu.total_requests(), 0);
}

#[test]
fn five_hundred_users_apply_with_one_post_each_and_plan_from_one_list() {
    let emu = Emulator::start();
    let ws = Workspace::new(&emu);
    ws.write_main(
        "provider \"alloy\" {}\n\nresource \"alloy_user\" \"many\" {\n  count    = 500\n  username = \"tenant-${count.index}@example.com\"\n}\n",
    );
    let started = std::time::Instant::now();
    ws.apply();
    let apply_secs = started.elapsed().as_secs_f64();
    assert_eq!(emu.users(Development).len(), 500);
    assert_eq!(emu.count("POST /users"), 500);
    assert_eq!(
        emu.total_requests(),
        500,
        "a create is one POST: Alloy answers the userId and the rest is what was sent"
    );

    emu.clear_requests();
    let started = std::time::Instant::now();
    assert!(ws.plan_is_empty());
    let plan_secs = started.elapsed().as_secs_f64();
    // The refresh reads a few users one by one, then the rest from one list (see e2e_refresh).
    assert_eq!(emu.count("GET /users"), 1, "one list of the users");
    let total = emu.total_requests();
    println!(
        "500 users: apply {apply_secs:.1}s, no-change plan {plan_secs:.1}s in {total} requests \
         (best case {REFRESH_CALLS_BEST}, documented bound {REFRESH_CALLS_MAX})"
    );
    assert!(total <= REFRESH_CALLS_MAX, "{total} requests");
}
