use super::*;
use terraform_plugin::framework::schema::{Block, NestedBlock, Nesting};
use terraform_plugin::framework::{Attribute, Type};

const SAMPLE_ENV_VARS: &[(&str, &str)] = &[
    ("token", "SAMPLE_TOKEN"),
    ("token", "SAMPLE_TOKEN_FILE"),
    ("mode", "SAMPLE_MODE"),
];

/// A provider with every shape the generator handles: flags, nesting, blocks, object types.
fn sample() -> (Schema, Schema, Schema, Schema) {
    let provider = Schema::new(
        0,
        Block::new(
            "The sample provider.",
            vec![
                Attribute::string("token")
                    .optional()
                    .sensitive()
                    .description("A token. Also `SAMPLE_TOKEN`, or `SAMPLE_TOKEN_FILE`."),
                Attribute::string("mode")
                    .optional()
                    .description("Mode; `SAMPLE_TOKEN` is not read for it. Also `SAMPLE_MODE`."),
            ],
        ),
    );
    let mut thing_block = Block::new(
        "A thing.\nOn two lines.",
        vec![
            Attribute::string("name")
                .required()
                .description("Name\n  of the thing."),
            Attribute::string("id").computed().description("Id."),
            Attribute::string("secret")
                .optional()
                .write_only()
                .description("Secret."),
            Attribute::string("old").optional().deprecated(),
            Attribute::nested(
                "items",
                Nesting::List,
                vec![
                    Attribute::string("key").required().description("Key."),
                    Attribute::nested(
                        "parts",
                        Nesting::Set,
                        vec![Attribute::number("size").computed()],
                    )
                    .computed(),
                ],
            )
            .optional()
            .description("Items."),
            Attribute::new(
                "pairs",
                Type::List(Box::new(Type::Object(BTreeMap::from([
                    ("a".to_string(), Type::String),
                    ("b".to_string(), Type::Map(Box::new(Type::Bool))),
                ])))),
            )
            .computed(),
        ],
    );
    thing_block.blocks.push(NestedBlock {
        type_name: "timeouts".into(),
        block: Block::new("Timeouts.", vec![Attribute::string("create").optional()]),
        nesting: Nesting::Single,
        min_items: 0,
        max_items: 1,
    });
    let thing = Schema::new(0, thing_block);
    let lookup = Schema::new(
        0,
        Block::new("Looks up.", vec![Attribute::string("id").required()]),
    );
    let token = Schema::new(
        0,
        Block::new(
            "A short-lived token.",
            vec![Attribute::string("value").computed().sensitive()],
        ),
    );
    (provider, thing, lookup, token)
}

fn examples() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let put = |rel: &str, text: &str| {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    put("provider/provider.tf", "provider \"sample\" {}\n\n\n");
    put(
        "resources/sample_thing/resource.tf",
        "resource \"sample_thing\" \"x\" {   \n  name = \"x\"\n}\n",
    );
    put(
        "resources/sample_thing/import.sh",
        "# By id.\nterraform import sample_thing.x 123\n",
    );
    put(
        "ephemeral-resources/sample_token/ephemeral-resource.tf",
        "ephemeral \"sample_token\" \"t\" {}\n",
    );
    dir
}

fn rendered() -> Generated {
    let (provider, thing, lookup, token) = sample();
    let schemas = Schemas {
        provider,
        resources: vec![("sample_thing", &thing)],
        data_sources: vec![("sample_lookup", &lookup)],
        ephemeral_resources: vec![("sample_token", &token)],
        list_resources: vec![],
        identities: vec![],
    };
    let ex = examples();
    render("sample", SAMPLE_ENV_VARS, &schemas, ex.path()).unwrap()
}

#[test]
fn lays_out_one_page_per_type() {
    let g = rendered();
    let names: Vec<String> = g.files.keys().map(|p| p.display().to_string()).collect();
    assert_eq!(
        names,
        [
            "data-sources/lookup.md",
            "ephemeral-resources/token.md",
            "index.md",
            "resources/thing.md"
        ]
    );
    assert_eq!(
        g.warnings,
        ["sample_lookup has no example: add examples/data-sources/sample_lookup/data-source.tf"]
    );
}

#[test]
fn resource_page_has_front_matter_example_schema_and_import() {
    let g = rendered();
    let page = &g.files[Path::new("resources/thing.md")];
    assert!(
        page.starts_with(
            "---\npage_title: \"sample_thing Resource - sample\"\nsubcategory: \"\"\ndescription: |-\n  A thing.\n  On two lines.\n---\n"
        ),
        "{page}"
    );
    assert!(page.contains("# sample_thing (Resource)\n\nA thing.\nOn two lines.\n\n## Example Usage\n\n```terraform\nresource \"sample_thing\" \"x\" {\n  name = \"x\"\n}\n```\n"), "{page}");
    let schema = page.split("## Schema\n\n").nth(1).unwrap();
    let expected_lists = "### Required\n\n\
        - `name` (String) Name of the thing.\n\n\
        ### Optional\n\n\
        - `items` (Attributes List) Items. (see [below for nested schema](#nestedatt--items))\n\
        - `old` (String, Deprecated)\n\
        - `secret` (String, Write-only) Secret.\n\
        - `timeouts` (Block Single, Max: 1) Timeouts. (see [below for nested schema](#nestedblock--timeouts))\n\n\
        ### Read-Only\n\n\
        - `id` (String) Id.\n\
        - `pairs` (List of Object) (see [below for nested schema](#nestedobjatt--pairs))\n\n";
    assert!(schema.starts_with(expected_lists), "{schema}");
    let nested = "<a id=\"nestedatt--items\"></a>\n### Nested Schema for `items`\n\n\
        Required:\n\n- `key` (String) Key.\n\n\
        Read-Only:\n\n- `parts` (Attributes Set) (see [below for nested schema](#nestedatt--items--parts))\n\n\
        <a id=\"nestedblock--timeouts\"></a>\n### Nested Schema for `timeouts`\n\n\
        Optional:\n\n- `create` (String)\n\n\
        <a id=\"nestedobjatt--pairs\"></a>\n### Nested Schema for `pairs`\n\n\
        - `a` (String)\n- `b` (Map of Boolean)\n\n\
        <a id=\"nestedatt--items--parts\"></a>\n### Nested Schema for `items.parts`\n\n\
        Read-Only:\n\n- `size` (Number)\n\n\
        ## Import\n\nImport is supported using the following syntax:\n\n\
        ```shell\n# By id.\nterraform import sample_thing.x 123\n```\n";
    assert!(schema.ends_with(nested), "{schema}");
    // Every link has its anchor.
    for link in page.split("](#").skip(1) {
        let anchor = &link[..link.find(')').unwrap()];
        assert!(
            page.contains(&format!("<a id=\"{anchor}\"></a>")),
            "{anchor}"
        );
    }
}

#[test]
fn index_lists_arguments_and_environment_variables() {
    let g = rendered();
    let page = &g.files[Path::new("index.md")];
    assert!(page.contains("page_title: \"sample Provider\""));
    assert!(page.contains("# sample Provider\n\nThe sample provider.\n\n-> **Note:** This provider needs Terraform 1.10 or later (or OpenTofu 1.11 or later), the first releases that support ephemeral resources.\n\n## Example Usage\n\n```terraform\nprovider \"sample\" {}\n```\n"), "{page}");
    assert!(
        page.contains("### Optional\n\n- `mode` (String) Mode;"),
        "{page}"
    );
    assert!(
        page.contains("- `token` (String, Sensitive) A token."),
        "{page}"
    );
    assert!(
        page.ends_with(
            "| Variable | Attribute |\n|---|---|\n\
             | `SAMPLE_MODE` | `mode` |\n\
             | `SAMPLE_TOKEN` | `token` |\n\
             | `SAMPLE_TOKEN_FILE` | `token` |\n"
        ),
        "{page}"
    );
}

#[test]
fn ephemeral_and_data_source_pages() {
    let g = rendered();
    let eph = &g.files[Path::new("ephemeral-resources/token.md")];
    assert!(eph.contains("page_title: \"sample_token Ephemeral Resource - sample\""));
    assert!(eph.contains("# sample_token (Ephemeral Resource)"));
    assert!(eph.contains("Terraform 1.10 or later"));
    assert!(
        eph.contains("### Read-Only\n\n- `value` (String, Sensitive)\n"),
        "{eph}"
    );
    assert!(!eph.contains("## Import"));
    let ds = &g.files[Path::new("data-sources/lookup.md")];
    assert!(ds.contains("# sample_lookup (Data Source)"));
    assert!(
        !ds.contains("## Example Usage"),
        "no example file, no section"
    );
    assert!(ds.ends_with("### Required\n\n- `id` (String)\n"), "{ds}");
}

#[test]
fn output_is_deterministic_whatever_the_input_order() {
    let (provider, thing, lookup, token) = sample();
    let other = Schema::new(0, Block::new("Other.", vec![]));
    let ex = examples();
    let a = render(
        "sample",
        SAMPLE_ENV_VARS,
        &Schemas {
            provider: provider.clone(),
            resources: vec![("sample_thing", &thing), ("sample_other", &other)],
            data_sources: vec![("sample_lookup", &lookup)],
            ephemeral_resources: vec![("sample_token", &token)],
            list_resources: vec![],
            identities: vec![],
        },
        ex.path(),
    )
    .unwrap();
    let b = render(
        "sample",
        SAMPLE_ENV_VARS,
        &Schemas {
            provider,
            resources: vec![("sample_other", &other), ("sample_thing", &thing)],
            data_sources: vec![("sample_lookup", &lookup)],
            ephemeral_resources: vec![("sample_token", &token)],
            list_resources: vec![],
            identities: vec![],
        },
        ex.path(),
    )
    .unwrap();
    assert_eq!(a.files, b.files);
    for page in a.files.values() {
        assert!(page.ends_with('\n') && !page.ends_with("\n\n"));
        assert!(!page.contains("\n\n\n"));
    }
}

#[test]
fn a_type_without_the_provider_prefix_is_refused() {
    let (provider, thing, ..) = sample();
    let ex = examples();
    let err = render(
        "sample",
        SAMPLE_ENV_VARS,
        &Schemas {
            provider,
            resources: vec![("other_thing", &thing)],
            data_sources: vec![],
            ephemeral_resources: vec![],
            list_resources: vec![],
            identities: vec![],
        },
        ex.path(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("other_thing"), "{err}");
}

#[test]
fn check_and_write_keep_guides_and_remove_stale_pages() {
    let g = rendered();
    let docs = tempfile::tempdir().unwrap();
    let d = docs.path();
    std::fs::create_dir_all(d.join("guides")).unwrap();
    std::fs::write(d.join("guides/start.md"), "hand-written").unwrap();
    std::fs::create_dir_all(d.join("resources")).unwrap();
    std::fs::write(d.join("resources/gone.md"), "old").unwrap();
    std::fs::write(d.join("resources/notes.txt"), "not a page").unwrap();

    let changes = check(&g, d).unwrap();
    assert_eq!(changes.len(), 5, "{changes:?}");
    assert!(changes.contains(&Change {
        path: "resources/gone.md".into(),
        kind: ChangeKind::Stale
    }));
    assert!(changes.contains(&Change {
        path: "index.md".into(),
        kind: ChangeKind::Missing
    }));

    write(&g, d).unwrap();
    assert!(check(&g, d).unwrap().is_empty());
    assert!(!d.join("resources/gone.md").exists());
    assert_eq!(
        std::fs::read_to_string(d.join("guides/start.md")).unwrap(),
        "hand-written"
    );
    assert!(d.join("resources/notes.txt").exists());

    std::fs::write(d.join("resources/thing.md"), "edited by hand").unwrap();
    assert_eq!(
        check(&g, d).unwrap(),
        vec![Change {
            path: "resources/thing.md".into(),
            kind: ChangeKind::Differs
        }]
    );
}

#[test]
fn the_alloy_provider_documents_every_type_it_serves() {
    let ex = repo_examples();
    let g = generate(&ex).unwrap();
    let server = Server::new(AlloyProvider);
    let s = server.schemas();
    let expected = 1
        + s.resources.len()
        + s.data_sources.len()
        + s.ephemeral_resources.len()
        + s.list_resources.len();
    assert_eq!(g.files.len(), expected);
    let index = &g.files[Path::new("index.md")];
    for var in [
        "ALLOY_API_KEY",
        "ALLOY_DEVELOPMENT_API_KEY",
        "ALLOY_PRODUCTION_API_KEY",
        "ALLOY_ENVIRONMENT",
    ] {
        assert!(
            index.contains(&format!("| `{var}` |")),
            "{var} in the table"
        );
    }
    assert!(index.contains("- `api_key` (String, Sensitive)"));
    let user = &g.files[Path::new("resources/user.md")];
    assert!(user.contains("## Import"));
    assert!(user.contains("### Required\n\n- `username` (String)"));
    // Identity: its import example and its schema, in the import section.
    assert!(user.contains("### Import by identity"));
    assert!(user.contains("identity = {\n    user_id = "));
    assert!(user.contains("### Identity Schema\n\n#### Required\n\n- `user_id` (String)"));
    let list = &g.files[Path::new("list-resources/user.md")];
    assert!(list.contains("# alloy_user (List Resource)"));
    assert!(list.contains("list \"alloy_user\""));
    assert!(list.contains("Terraform 1.14 or later"));
    assert!(g.warnings.is_empty(), "{:?}", g.warnings);
}

fn repo_examples() -> PathBuf {
    super::super::repo_root().join("examples")
}

#[test]
fn type_pages_leave_out_the_examples_terraform_block() {
    let text = "terraform {\n  required_providers {\n    sample = {\n      source = \"x/sample\"\n    }\n  }\n}\n\n\
                provider \"sample\" {}\n\nresource \"sample_thing\" \"a\" {}\n";
    assert_eq!(
        without_terraform_block(text),
        "provider \"sample\" {}\n\nresource \"sample_thing\" \"a\" {}\n"
    );
    let plain = "# A comment.\nresource \"sample_thing\" \"a\" {}\n";
    assert_eq!(
        without_terraform_block(plain),
        plain,
        "nothing to leave out"
    );
}
