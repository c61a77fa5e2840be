//! A harness that plays Terraform 1.12–1.16 against the real provider binary.
//!
//! No Terraform newer than 1.11.4 can be installed here, so this client does what Terraform's
//! `internal/plugin6` and `internal/terraform` packages do: it starts the provider the way
//! go-plugin does ([`super::plugin`]: magic cookie, AutoMTLS, the handshake line, gRPC over the
//! unix socket), loads the schemas (`GetProviderSchema`, then `GetResourceIdentitySchemas`),
//! configures the provider and issues the RPC sequences of plan, apply, refresh, import and
//! `terraform query`. Every answer goes through the checks Terraform makes on it; a breach panics
//! with the Terraform source file the rule comes from (`tf@v1.15.9` unless said otherwise) and the
//! error Terraform would show, so a failing test reads like the Terraform run that would fail.
//!
//! The harness knows the provider only through what it says on the wire: value types come from
//! the protocol schemas it sent, never from the provider's Rust types.

use std::collections::BTreeMap;
use std::process::ExitStatus;

use terraform_plugin::framework::value::{from_msgpack, to_msgpack};
use terraform_plugin::framework::{Type, Value};
use terraform_plugin::proto::tfplugin6 as pb;
use terraform_plugin::proto::tfplugin6::provider_client::ProviderClient;
use tonic::transport::Channel;

use super::plugin::{
    Provider, client_tls, connect, go_plugin_client_identity, managed_command_for, shutdown,
};
use super::{Admin, DEV_KEY};

/// Panics as Terraform would fail: `source` is the Terraform file that enforces `rule`.
#[track_caller]
pub fn rule(ok: bool, source: &str, rule: &str, detail: impl std::fmt::Display) {
    assert!(ok, "Terraform would fail here ({source}: {rule}): {detail}");
}

/// The error diagnostics among `diags`, as "summary: detail" lines.
pub fn errors(diags: &[pb::Diagnostic]) -> Vec<String> {
    diags
        .iter()
        .filter(|d| d.severity == pb::diagnostic::Severity::Error as i32)
        .map(|d| format!("{}: {}", d.summary, d.detail))
        .collect()
}

/// Every diagnostic, for messages.
pub fn describe(diags: &[pb::Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| format!("[{}] {}: {}", d.severity, d.summary, d.detail))
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------
// Schemas as Terraform holds them
// ---------------------------------------------------------------------------

/// A managed resource type's schema as Terraform decoded it.
#[derive(Clone, Debug)]
pub struct ResourceSchema {
    pub version: i64,
    pub ty: Type,
    pub block: pb::schema::Block,
}

/// An identity schema as `convert.ProtoToIdentitySchema` makes it: one object.
#[derive(Clone, Debug)]
pub struct IdentitySchema {
    pub version: i64,
    pub ty: Type,
    pub attributes: Vec<pb::resource_identity_schema::IdentityAttribute>,
}

#[derive(Clone, Debug, Default)]
pub struct Schemas {
    pub provider: Option<Type>,
    pub resources: BTreeMap<String, ResourceSchema>,
    pub identities: BTreeMap<String, IdentitySchema>,
    /// The inner `config` block of each list resource type.
    pub lists: BTreeMap<String, (Type, pb::schema::Block)>,
    pub capabilities: pb::ServerCapabilities,
}

/// The value type of a protocol schema block (`configschema.Block.ImpliedType`).
pub fn block_type(b: &pb::schema::Block) -> Type {
    let mut attrs = BTreeMap::new();
    for a in &b.attributes {
        attrs.insert(a.name.clone(), attribute_type(a));
    }
    for nb in &b.block_types {
        let inner = nb
            .block
            .as_ref()
            .map_or(Type::Object(BTreeMap::new()), block_type);
        use pb::schema::nested_block::NestingMode as N;
        let t = match N::try_from(nb.nesting).unwrap_or(N::Invalid) {
            N::Single | N::Group => inner,
            N::List => Type::List(Box::new(inner)),
            N::Set => Type::Set(Box::new(inner)),
            N::Map => Type::Map(Box::new(inner)),
            N::Invalid => panic!("block {:?}: nesting mode INVALID", nb.type_name),
        };
        attrs.insert(nb.type_name.clone(), t);
    }
    Type::Object(attrs)
}

fn attribute_type(a: &pb::schema::Attribute) -> Type {
    if let Some(nested) = &a.nested_type {
        let mut attrs = BTreeMap::new();
        for n in &nested.attributes {
            attrs.insert(n.name.clone(), attribute_type(n));
        }
        let inner = Type::Object(attrs);
        use pb::schema::object::NestingMode as N;
        return match N::try_from(nested.nesting).unwrap_or(N::Invalid) {
            N::Single => inner,
            N::List => Type::List(Box::new(inner)),
            N::Set => Type::Set(Box::new(inner)),
            N::Map => Type::Map(Box::new(inner)),
            N::Invalid => panic!("attribute {:?}: nesting mode INVALID", a.name),
        };
    }
    let json: serde_json::Value = serde_json::from_slice(&a.r#type)
        .unwrap_or_else(|e| panic!("attribute {:?}: type is not JSON: {e}", a.name));
    Type::from_json(&json).unwrap_or_else(|e| panic!("attribute {:?}: {e}", a.name))
}

/// `msgpack` of `v` as type `ty` (the harness's own values are always whole).
pub fn dv(v: &Value, ty: &Type) -> pb::DynamicValue {
    pb::DynamicValue {
        msgpack: to_msgpack(v, ty).unwrap_or_else(|e| panic!("harness value lacks {}", e.path)),
        json: vec![],
    }
}

/// Decodes a `DynamicValue` the provider returned, as Terraform's `msgpack.Unmarshal` with the
/// schema's type: a value that does not conform is the error named by `source`/`what`.
#[track_caller]
pub fn decode(d: Option<&pb::DynamicValue>, ty: &Type, source: &str, what: &str) -> Value {
    let Some(d) = d else {
        return Value::Null;
    };
    if d.msgpack.is_empty() && !d.json.is_empty() {
        let j: serde_json::Value = serde_json::from_slice(&d.json)
            .unwrap_or_else(|e| panic!("{what}: JSON DynamicValue is not JSON: {e}"));
        return terraform_plugin::framework::value::from_json(&j, ty)
            .unwrap_or_else(|e| panic!("Terraform would fail here ({source}: {what}): {e}"));
    }
    if d.msgpack.is_empty() {
        return Value::Null;
    }
    from_msgpack(&d.msgpack, ty)
        .unwrap_or_else(|e| panic!("Terraform would fail here ({source}: {what}): {e}"))
}

// ---------------------------------------------------------------------------
// Objects as Terraform keeps them in plan and state
// ---------------------------------------------------------------------------

/// One resource instance object: its state, identity and private data.
#[derive(Clone, Debug)]
pub struct Object {
    pub type_name: String,
    pub state: Value,
    /// `None` for state written before identity existed (or a type without identity).
    pub identity: Option<Value>,
    pub private: Vec<u8>,
}

/// What PlanResourceChange answered, checked.
#[derive(Clone, Debug)]
pub struct Planned {
    pub state: Value,
    pub identity: Option<Value>,
    pub requires_replace: Vec<pb::AttributePath>,
    pub private: Vec<u8>,
    pub diagnostics: Vec<pb::Diagnostic>,
}

/// One `ListResource` result Terraform kept.
#[derive(Clone, Debug)]
pub struct Listed {
    pub identity: Value,
    pub display_name: String,
    pub object: Option<Value>,
}

/// What `terraform query` gets from one `list` block.
#[derive(Clone, Debug, Default)]
pub struct ListOutcome {
    pub results: Vec<Listed>,
    /// Every diagnostic of the events read (an error one ends the stream).
    pub diagnostics: Vec<pb::Diagnostic>,
    /// Whether Terraform stopped reading at `limit` (and cancelled the stream).
    pub cut_at_limit: bool,
}

// ---------------------------------------------------------------------------
// The session
// ---------------------------------------------------------------------------

/// One provider process as Terraform drives it, from launch to shutdown.
pub struct Terraform {
    pub rt: tokio::runtime::Runtime,
    provider: Option<Provider>,
    _socket_parent: tempfile::TempDir,
    channel: Channel,
    pub client: ProviderClient<Channel>,
    pub schemas: Schemas,
    /// The RPCs issued, in order.
    pub calls: Vec<&'static str>,
    /// The Terraform version announced in ConfigureProvider.
    pub version: &'static str,
}

impl Terraform {
    /// Launches the provider as go-plugin does, with AutoMTLS, and connects; loads no schema.
    /// The binary is the one cargo built for this test run, or `HARNESS_PROVIDER_BIN` when set
    /// (`HARNESS_PROVIDER_BIN=target/release/terraform-provider-alloy` plays Terraform against
    /// the release build).
    pub fn launch() -> Terraform {
        let bin = std::env::var_os("HARNESS_PROVIDER_BIN")
            .filter(|b| !b.is_empty())
            .map_or_else(
                || std::path::PathBuf::from(super::plugin::BIN),
                std::path::PathBuf::from,
            );
        Terraform::launch_bin(&bin)
    }

    /// [`Terraform::launch`] of another build of the provider (a benchmark's release binary).
    pub fn launch_bin(bin: &std::path::Path) -> Terraform {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let socket_parent = tempfile::tempdir().expect("tempdir");
        let me = go_plugin_client_identity();
        let mut cmd = managed_command_for(bin, socket_parent.path());
        cmd.env("PLUGIN_CLIENT_CERT", &me.pem);
        let provider = Provider::spawn(cmd);
        assert!(
            !provider.cert_field.is_empty(),
            "AutoMTLS: the handshake line announces a server certificate"
        );
        let channel = rt
            .block_on(connect(
                &provider.addr,
                Some(client_tls(&provider.cert_field, &me)),
            ))
            .expect("mTLS connection to the provider");
        let client = ProviderClient::new(channel.clone())
            .max_decoding_message_size(256 << 20)
            .max_encoding_message_size(256 << 20);
        Terraform {
            rt,
            provider: Some(provider),
            _socket_parent: socket_parent,
            channel,
            client,
            schemas: Schemas::default(),
            calls: Vec::new(),
            version: "1.15.9",
        }
    }

    /// Launches and loads the schemas: what every Terraform command does first.
    pub fn start() -> Terraform {
        let mut tf = Terraform::launch();
        tf.load_schemas();
        tf
    }

    /// [`Terraform::start`], then ConfigureProvider against `emu`'s development environment.
    pub fn configured(emu: &impl Admin) -> Terraform {
        let mut tf = Terraform::start();
        tf.configure_for(emu);
        tf
    }

    /// The provider process id.
    pub fn pid(&mut self) -> i32 {
        self.provider.as_mut().expect("provider running").pid()
    }

    /// The provider process's peak resident set so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&mut self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("/proc/<pid>/status (Linux)");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/<pid>/status")
    }

    /// `GetProviderSchema`, then `GetResourceIdentitySchemas`, as `GRPCProvider.GetProviderSchema`
    /// does, with the checks of the schema load.
    pub fn load_schemas(&mut self) {
        self.calls.push("GetProviderSchema");
        let resp = self
            .rt
            .block_on(
                self.client
                    .get_provider_schema(pb::get_provider_schema::Request {}),
            )
            .expect("GetProviderSchema")
            .into_inner();
        rule(
            errors(&resp.diagnostics).is_empty(),
            "internal/plugin6/grpc_provider.go GetProviderSchema",
            "an error diagnostic fails the schema load",
            describe(&resp.diagnostics),
        );
        let mut s = Schemas {
            provider: resp
                .provider
                .as_ref()
                .and_then(|p| p.block.as_ref())
                .map(block_type),
            capabilities: resp.server_capabilities.unwrap_or_default(),
            ..Schemas::default()
        };
        for (name, schema) in &resp.resource_schemas {
            let block = schema.block.clone().unwrap_or_default();
            s.resources.insert(
                name.clone(),
                ResourceSchema {
                    version: schema.version,
                    ty: block_type(&block),
                    block,
                },
            );
        }
        for (name, schema) in &resp.list_resource_schemas {
            let block = schema.block.clone().unwrap_or_default();
            s.lists.insert(name.clone(), (block_type(&block), block));
        }
        self.schemas = s;
        self.schemas.identities = self.identity_schemas();
        // internal/plugin6/grpc_provider.go ListResource: the results of a list type are decoded
        // with the managed resource type of the same name and its identity schema.
        for name in self.schemas.lists.keys() {
            rule(
                self.schemas.resources.contains_key(name)
                    && self.schemas.identities.contains_key(name),
                "internal/plugin6/grpc_provider.go ListResource",
                "a list type needs a managed resource type of the same name with an identity schema",
                format!(
                    "Identity schema not found for resource type {name}; this is a bug in the provider"
                ),
            );
        }
    }

    /// `GetResourceIdentitySchemas` with Terraform's checks: `Unimplemented` means none; any other
    /// gRPC error or an error diagnostic fails the whole schema load; each attribute's type must
    /// be JSON (`convert.ProtoToIdentitySchema` panics otherwise).
    pub fn identity_schemas(&mut self) -> BTreeMap<String, IdentitySchema> {
        self.calls.push("GetResourceIdentitySchemas");
        let resp = match self.rt.block_on(
            self.client
                .get_resource_identity_schemas(pb::get_resource_identity_schemas::Request {}),
        ) {
            Ok(r) => r.into_inner(),
            Err(s) if s.code() == tonic::Code::Unimplemented => return BTreeMap::new(),
            Err(s) => {
                rule(
                    false,
                    "internal/plugin6/grpc_provider.go GetProviderSchema",
                    "GetResourceIdentitySchemas must not fail",
                    format!("{s:?}"),
                );
                unreachable!()
            }
        };
        rule(
            errors(&resp.diagnostics).is_empty(),
            "internal/plugin6/grpc_provider.go GetProviderSchema",
            "an error diagnostic from GetResourceIdentitySchemas fails the schema load",
            describe(&resp.diagnostics),
        );
        let mut out = BTreeMap::new();
        for (name, schema) in resp.identity_schemas {
            let mut attrs = BTreeMap::new();
            for a in &schema.identity_attributes {
                let json: serde_json::Value =
                    serde_json::from_slice(&a.r#type).unwrap_or_else(|e| {
                        panic!(
                            "Terraform would panic here (internal/plugin6/convert/schema.go \
                         ProtoToIdentitySchema: attribute type must be JSON): {name}.{}: {e}",
                            a.name
                        )
                    });
                let ty = Type::from_json(&json)
                    .unwrap_or_else(|e| panic!("{name}.{}: not a type: {e}", a.name));
                attrs.insert(a.name.clone(), ty);
            }
            out.insert(
                name,
                IdentitySchema {
                    version: schema.version,
                    ty: Type::Object(attrs),
                    attributes: schema.identity_attributes,
                },
            );
        }
        out
    }

    /// The provider block pointing at `emu` (development environment, its key).
    pub fn provider_config(&self, emu: &impl Admin) -> Value {
        let mut m = BTreeMap::new();
        if let Some(Type::Object(attrs)) = &self.schemas.provider {
            for k in attrs.keys() {
                m.insert(k.clone(), Value::Null);
            }
        }
        m.insert("base_url".into(), Value::string(emu.url()));
        m.insert("api_key".into(), Value::string(DEV_KEY));
        m.insert("environment".into(), Value::string("development"));
        m.insert("max_retries".into(), Value::int(0));
        Value::Object(m)
    }

    /// ValidateProviderConfig and ConfigureProvider, as every command after init does.
    pub fn configure_for(&mut self, emu: &impl Admin) {
        let cfg = self.provider_config(emu);
        let diags = self.configure(&cfg);
        assert!(errors(&diags).is_empty(), "configure: {}", describe(&diags));
    }

    pub fn configure(&mut self, cfg: &Value) -> Vec<pb::Diagnostic> {
        let ty = self.schemas.provider.clone().expect("provider schema");
        self.calls.push("ValidateProviderConfig");
        let v =
            self.rt
                .block_on(self.client.validate_provider_config(
                    pb::validate_provider_config::Request {
                        config: Some(dv(cfg, &ty)),
                    },
                ))
                .expect("ValidateProviderConfig")
                .into_inner();
        if !errors(&v.diagnostics).is_empty() {
            return v.diagnostics;
        }
        self.calls.push("ConfigureProvider");
        self.rt
            .block_on(
                self.client
                    .configure_provider(pb::configure_provider::Request {
                        terraform_version: self.version.into(),
                        config: Some(dv(cfg, &ty)),
                        client_capabilities: Some(client_capabilities()),
                    }),
            )
            .expect("ConfigureProvider")
            .into_inner()
            .diagnostics
    }

    pub fn resource(&self, type_name: &str) -> ResourceSchema {
        self.schemas
            .resources
            .get(type_name)
            .cloned()
            .unwrap_or_else(|| panic!("no managed resource type {type_name}"))
    }

    pub fn identity(&self, type_name: &str) -> IdentitySchema {
        self.schemas
            .identities
            .get(type_name)
            .cloned()
            .unwrap_or_else(|| panic!("no identity schema for {type_name}"))
    }

    /// An object of `type_name`'s type with the given attributes, the rest null.
    pub fn object(&self, type_name: &str, attrs: &[(&str, Value)]) -> Value {
        fill(&self.resource(type_name).ty, attrs)
    }

    // ---- validate ----

    pub fn validate(&mut self, type_name: &str, config: &Value) -> Vec<pb::Diagnostic> {
        let ty = self.resource(type_name).ty;
        self.calls.push("ValidateResourceConfig");
        self.rt
            .block_on(
                self.client
                    .validate_resource_config(pb::validate_resource_config::Request {
                        type_name: type_name.into(),
                        config: Some(dv(config, &ty)),
                        client_capabilities: Some(client_capabilities()),
                    }),
            )
            .expect("ValidateResourceConfig")
            .into_inner()
            .diagnostics
    }

    // ---- plan ----

    /// `objchange.ProposedNew`: the configuration, with each computed attribute the
    /// configuration leaves null taking its prior value (null when creating).
    pub fn proposed_new(&self, type_name: &str, prior: &Value, config: &Value) -> Value {
        let schema = self.resource(type_name);
        let mut out = config.clone();
        for a in &schema.block.attributes {
            if a.computed && config.attr(&a.name).is_null() && !prior.is_null() {
                out.set_attr(&a.name, prior.attr(&a.name).clone());
            }
        }
        out
    }

    /// PlanResourceChange for `config` against `prior` (None: create), with the checks of
    /// `node_resource_abstract_instance.go plan`.
    pub fn plan(&mut self, prior: Option<&Object>, type_name: &str, config: &Value) -> Planned {
        let schema = self.resource(type_name);
        let ident = self.schemas.identities.get(type_name).cloned();
        let prior_state = prior.map_or(Value::Null, |p| p.state.clone());
        let proposed = self.proposed_new(type_name, &prior_state, config);
        self.plan_raw(
            prior,
            type_name,
            &prior_state,
            &proposed,
            config,
            &schema,
            ident,
        )
    }

    /// PlanResourceChange for a destroy (`plan_destroy`): proposed and config null.
    pub fn plan_destroy(&mut self, prior: &Object) -> Planned {
        let schema = self.resource(&prior.type_name);
        let ident = self.schemas.identities.get(&prior.type_name).cloned();
        let type_name = prior.type_name.clone();
        self.plan_raw(
            Some(prior),
            &type_name,
            &prior.state.clone(),
            &Value::Null,
            &Value::Null,
            &schema,
            ident,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn plan_raw(
        &mut self,
        prior: Option<&Object>,
        type_name: &str,
        prior_state: &Value,
        proposed: &Value,
        config: &Value,
        schema: &ResourceSchema,
        ident: Option<IdentitySchema>,
    ) -> Planned {
        self.calls.push("PlanResourceChange");
        let resp = self
            .rt
            .block_on(
                self.client
                    .plan_resource_change(pb::plan_resource_change::Request {
                        type_name: type_name.into(),
                        prior_state: Some(dv(prior_state, &schema.ty)),
                        proposed_new_state: Some(dv(proposed, &schema.ty)),
                        config: Some(dv(config, &schema.ty)),
                        prior_private: prior.map(|p| p.private.clone()).unwrap_or_default(),
                        provider_meta: None,
                        client_capabilities: Some(client_capabilities()),
                        prior_identity: prior.and_then(|p| {
                            let i = ident.as_ref()?;
                            Some(identity_data(p.identity.as_ref()?, &i.ty))
                        }),
                    }),
            )
            .expect("PlanResourceChange")
            .into_inner();
        const SRC: &str = "internal/terraform/node_resource_abstract_instance.go plan";
        let state = decode(
            resp.planned_state.as_ref(),
            &schema.ty,
            SRC,
            "Provider produced invalid plan",
        );
        let identity = match (&ident, &resp.planned_identity) {
            (Some(i), Some(d)) => {
                let v = decode(
                    d.identity_data.as_ref(),
                    &i.ty,
                    SRC,
                    "Provider produced an identity that doesn't match the schema",
                );
                let creating = prior_state.is_null();
                let replacing = !resp.requires_replace.is_empty();
                if !(creating || replacing) && errors(&resp.diagnostics).is_empty() {
                    rule(
                        v.is_wholly_known(),
                        SRC,
                        "planned_identity may be unknown only when planning a create or a \
                         replacement (\"Provider produced invalid identity\")",
                        format!("{v:?}"),
                    );
                }
                Some(v)
            }
            _ => None,
        };
        Planned {
            state,
            identity,
            requires_replace: resp.requires_replace,
            private: resp.planned_private,
            diagnostics: resp.diagnostics,
        }
    }

    // ---- apply ----

    /// ApplyResourceChange of `planned`, with the checks of `node_resource_abstract_instance.go
    /// apply`. The object Terraform records (state null: destroyed).
    pub fn apply(
        &mut self,
        prior: Option<&Object>,
        type_name: &str,
        config: &Value,
        planned: &Planned,
    ) -> (Object, Vec<pb::Diagnostic>) {
        let schema = self.resource(type_name);
        let ident = self.schemas.identities.get(type_name).cloned();
        let prior_state = prior.map_or(Value::Null, |p| p.state.clone());
        self.calls.push("ApplyResourceChange");
        let resp = self
            .rt
            .block_on(self.client.apply_resource_change(
                pb::apply_resource_change::Request {
                    type_name: type_name.into(),
                    prior_state: Some(dv(&prior_state, &schema.ty)),
                    planned_state: Some(dv(&planned.state, &schema.ty)),
                    config: Some(dv(config, &schema.ty)),
                    planned_private: planned.private.clone(),
                    provider_meta: None,
                    planned_identity:
                        ident.as_ref().and_then(|i| {
                            planned.identity.as_ref().map(|v| identity_data(v, &i.ty))
                        }),
                },
            ))
            .expect("ApplyResourceChange")
            .into_inner();
        const SRC: &str = "internal/terraform/node_resource_abstract_instance.go apply";
        let state = decode(
            resp.new_state.as_ref(),
            &schema.ty,
            SRC,
            "Provider produced invalid object",
        );
        let identity = match (&ident, &resp.new_identity) {
            (Some(i), Some(d)) => {
                let v = decode(
                    d.identity_data.as_ref(),
                    &i.ty,
                    SRC,
                    "Provider produced an identity that doesn't match the schema",
                );
                if !state.is_null() {
                    rule(
                        v.is_wholly_known(),
                        SRC,
                        "new_identity must be wholly known (\"Provider produced invalid identity\")",
                        format!("{v:?}"),
                    );
                }
                Some(v)
            }
            _ => None,
        };
        (
            Object {
                type_name: type_name.into(),
                state,
                identity,
                private: resp.private,
            },
            resp.diagnostics,
        )
    }

    /// Plan then apply of `config` (a create when `prior` is None), expecting no error.
    pub fn create_or_update(
        &mut self,
        prior: Option<&Object>,
        type_name: &str,
        config: &Value,
    ) -> Object {
        assert!(
            errors(&self.validate(type_name, config)).is_empty(),
            "validate {config:?}"
        );
        let planned = self.plan(prior, type_name, config);
        assert!(
            errors(&planned.diagnostics).is_empty(),
            "plan: {}",
            describe(&planned.diagnostics)
        );
        let (obj, diags) = self.apply(prior, type_name, config, &planned);
        assert!(errors(&diags).is_empty(), "apply: {}", describe(&diags));
        obj
    }

    // ---- refresh ----

    /// ReadResource of `obj` (sending its identity as `current_identity`), with the checks of
    /// `node_resource_abstract_instance.go refresh`. `None`: the object is gone.
    pub fn read(&mut self, obj: &Object) -> (Option<Object>, Vec<pb::Diagnostic>) {
        let schema = self.resource(&obj.type_name);
        let ident = self.schemas.identities.get(&obj.type_name).cloned();
        self.calls.push("ReadResource");
        let resp = self
            .rt
            .block_on(
                self.client.read_resource(pb::read_resource::Request {
                    type_name: obj.type_name.clone(),
                    current_state: Some(dv(&obj.state, &schema.ty)),
                    private: obj.private.clone(),
                    provider_meta: None,
                    client_capabilities: Some(client_capabilities()),
                    current_identity: ident
                        .as_ref()
                        .and_then(|i| obj.identity.as_ref().map(|v| identity_data(v, &i.ty))),
                }),
            )
            .expect("ReadResource")
            .into_inner();
        const SRC: &str = "internal/terraform/node_resource_abstract_instance.go refresh";
        let state = decode(
            resp.new_state.as_ref(),
            &schema.ty,
            SRC,
            "Provider produced invalid object",
        );
        let identity = match (&ident, &resp.new_identity) {
            (Some(i), Some(d)) => {
                let v = decode(
                    d.identity_data.as_ref(),
                    &i.ty,
                    SRC,
                    "Provider produced an identity that doesn't match the schema",
                );
                rule(
                    v.is_wholly_known(),
                    SRC,
                    "new_identity must be wholly known (\"Provider produced invalid identity\")",
                    format!("{v:?}"),
                );
                Some(v)
            }
            _ => None,
        };
        let out = (!state.is_null()).then(|| Object {
            type_name: obj.type_name.clone(),
            state,
            identity,
            private: resp.private,
        });
        (out, resp.diagnostics)
    }

    /// UpgradeResourceState of a state stored as JSON at `version`.
    pub fn upgrade_state(
        &mut self,
        type_name: &str,
        version: i64,
        json: &serde_json::Value,
    ) -> Value {
        let schema = self.resource(type_name);
        self.calls.push("UpgradeResourceState");
        let resp = self
            .rt
            .block_on(
                self.client
                    .upgrade_resource_state(pb::upgrade_resource_state::Request {
                        type_name: type_name.into(),
                        version,
                        raw_state: Some(pb::RawState {
                            json: json.to_string().into_bytes(),
                            flatmap: Default::default(),
                        }),
                    }),
            )
            .expect("UpgradeResourceState")
            .into_inner();
        assert!(
            errors(&resp.diagnostics).is_empty(),
            "upgrade: {}",
            describe(&resp.diagnostics)
        );
        decode(
            resp.upgraded_state.as_ref(),
            &schema.ty,
            "internal/terraform/upgrade_resource_state.go",
            "Invalid resource state upgrade",
        )
    }

    /// UpgradeResourceIdentity of an identity stored as JSON at `version`, with the checks of
    /// `upgrade_resource_state.go upgradeResourceIdentity`.
    pub fn upgrade_identity(
        &mut self,
        type_name: &str,
        version: i64,
        json: &serde_json::Value,
    ) -> (Option<Value>, Vec<pb::Diagnostic>) {
        let ident = self.identity(type_name);
        self.calls.push("UpgradeResourceIdentity");
        let resp = self
            .rt
            .block_on(self.client.upgrade_resource_identity(
                pb::upgrade_resource_identity::Request {
                    type_name: type_name.into(),
                    version,
                    raw_identity: Some(pb::RawState {
                        json: json.to_string().into_bytes(),
                        flatmap: Default::default(),
                    }),
                },
            ))
            .expect("UpgradeResourceIdentity")
            .into_inner();
        if !errors(&resp.diagnostics).is_empty() {
            return (None, resp.diagnostics);
        }
        const SRC: &str = "internal/terraform/upgrade_resource_state.go";
        let v = decode(
            resp.upgraded_identity
                .as_ref()
                .and_then(|d| d.identity_data.as_ref()),
            &ident.ty,
            SRC,
            "Invalid resource identity upgrade",
        );
        rule(
            !v.is_null() && v.is_wholly_known(),
            SRC,
            "the upgraded identity must be wholly known (\"Invalid resource identity upgrade\")",
            format!("{v:?}"),
        );
        (Some(v), resp.diagnostics)
    }

    // ---- import ----

    /// ImportResourceState by `id` or by `identity`, with the checks of
    /// `node_resource_plan_instance.go importState`, then the follow-up ReadResource that must
    /// find the object. `Err`: the diagnostics of a refused import.
    pub fn import(
        &mut self,
        type_name: &str,
        id: &str,
        identity: Option<&Value>,
    ) -> Result<Object, Vec<pb::Diagnostic>> {
        let schema = self.resource(type_name);
        let ident = self.schemas.identities.get(type_name).cloned();
        self.calls.push("ImportResourceState");
        let resp =
            self.rt
                .block_on(self.client.import_resource_state(
                    pb::import_resource_state::Request {
                        type_name: type_name.into(),
                        id: id.into(),
                        client_capabilities: Some(client_capabilities()),
                        identity: identity.map(|v| {
                            identity_data(v, &ident.as_ref().expect("identity schema").ty)
                        }),
                    },
                ))
                .expect("ImportResourceState")
                .into_inner();
        if !errors(&resp.diagnostics).is_empty() {
            return Err(resp.diagnostics);
        }
        const SRC: &str = "internal/terraform/node_resource_plan_instance.go importState";
        rule(
            resp.imported_resources.len() == 1,
            SRC,
            "exactly one imported object (\"Multiple import states not supported\")",
            resp.imported_resources.len(),
        );
        let imported = &resp.imported_resources[0];
        rule(
            imported.type_name == type_name,
            SRC,
            "the imported object is of the requested type",
            &imported.type_name,
        );
        let state = decode(
            imported.state.as_ref(),
            &schema.ty,
            SRC,
            "Provider produced invalid object",
        );
        let mut identity_out = None;
        if let Some(i) = &ident {
            let d = imported
                .identity
                .as_ref()
                .and_then(|d| d.identity_data.as_ref());
            rule(
                d.is_some(),
                SRC,
                "an import must carry an identity (\"import of X didn't return an identity\")",
                type_name,
            );
            let v = decode(
                d,
                &i.ty,
                SRC,
                "Provider produced an identity that doesn't match the schema",
            );
            rule(
                !v.is_null() && v.is_wholly_known(),
                SRC,
                "the imported identity must be known",
                format!("{v:?}"),
            );
            identity_out = Some(v);
        }
        if identity.is_none() {
            rule(
                !state.is_null(),
                SRC,
                "an import by id returns a state",
                type_name,
            );
        }
        let obj = Object {
            type_name: type_name.into(),
            state: if state.is_null() {
                // An import by identity may return a null state: Terraform then reads with a
                // state holding only what it knows, which is nothing but the identity.
                fill(&schema.ty, &[])
            } else {
                state
            },
            identity: identity_out,
            private: imported.private.clone(),
        };
        let (read, diags) = self.read(&obj);
        assert!(
            errors(&diags).is_empty(),
            "read after import: {}",
            describe(&diags)
        );
        let Some(read) = read else {
            rule(
                false,
                SRC,
                "the read after import must find the object (\"Cannot import non-existent remote object\")",
                format!("{type_name} {id:?} {identity:?}"),
            );
            unreachable!()
        };
        Ok(read)
    }

    // ---- generated configuration ----

    /// GenerateResourceConfig of `state` (as `-generate-config-out` asks when the provider
    /// announces `generate_resource_config`): the configuration value, which must conform.
    pub fn generate_config(
        &mut self,
        type_name: &str,
        state: &Value,
    ) -> (Value, Vec<pb::Diagnostic>) {
        let schema = self.resource(type_name);
        self.calls.push("GenerateResourceConfig");
        let resp =
            self.rt
                .block_on(self.client.generate_resource_config(
                    pb::generate_resource_config::Request {
                        type_name: type_name.into(),
                        state: Some(dv(state, &schema.ty)),
                    },
                ))
                .expect("GenerateResourceConfig")
                .into_inner();
        let v = decode(
            resp.config.as_ref(),
            &schema.ty,
            "internal/terraform/node_resource_plan_instance.go generateHCLResourceDef",
            "generated configuration must conform to the resource schema",
        );
        (v, resp.diagnostics)
    }

    // ---- list resources (`terraform query`) ----

    /// The value of a `list` block as Terraform evaluates it: the provider's list schema wrapped
    /// in a `config` block (`convert.ProtoToListSchema`), with `include_resource` and `limit`.
    pub fn list_block(&self, type_name: &str, config: &[(&str, Value)]) -> Value {
        let (ty, _) = self
            .schemas
            .lists
            .get(type_name)
            .cloned()
            .unwrap_or_else(|| panic!("no list resource type {type_name}"));
        Value::object([("config", fill(&ty, config))])
    }

    /// Whether the `config` block of a `list` block is mandatory: `convert.ProtoToListSchema`
    /// gives it MinItems 1 when an attribute of the list schema is required or one of its blocks
    /// has MinItems.
    pub fn list_config_required(&self, type_name: &str) -> bool {
        let (_, block) = self.schemas.lists.get(type_name).expect("list type");
        block.attributes.iter().any(|a| a.required)
            || block.block_types.iter().any(|b| b.min_items > 0)
    }

    /// ValidateListResourceConfig: Terraform sends only `type_name` and the inner `config`
    /// (`grpc_provider.go ValidateListResourceConfig` drops `include_resource_object` and `limit`).
    pub fn validate_list(&mut self, type_name: &str, block: &Value) -> Vec<pb::Diagnostic> {
        let (ty, _) = self
            .schemas
            .lists
            .get(type_name)
            .cloned()
            .expect("list type");
        self.calls.push("ValidateListResourceConfig");
        self.rt
            .block_on(self.client.validate_list_resource_config(
                pb::validate_list_resource_config::Request {
                    type_name: type_name.into(),
                    config: Some(dv(block.attr("config"), &ty)),
                    include_resource_object: None,
                    limit: None,
                },
            ))
            .expect("ValidateListResourceConfig")
            .into_inner()
            .diagnostics
    }

    /// `terraform query` for one `list` block: checks the config is wholly known (Terraform
    /// refuses otherwise), opens the stream, reads at most `limit` results and then drops the
    /// stream (which cancels it), with every check of `GRPCProvider.ListResource`.
    pub fn list(
        &mut self,
        type_name: &str,
        block: &Value,
        include_resource: bool,
        limit: i64,
    ) -> ListOutcome {
        rule(
            block.attr("config").is_wholly_known(),
            "internal/terraform/node_resource_plan_instance_query.go",
            "the list block's config must be wholly known (\"config is not known\")",
            format!("{block:?}"),
        );
        rule(
            !(block.attr("config").is_null() && self.list_config_required(type_name)),
            "internal/plugin6/convert/schema.go ProtoToListSchema",
            "a list schema with a required attribute makes the `config` block required",
            type_name,
        );
        rule(
            limit >= 0,
            "internal/terraform/eval_query.go",
            "limit must be at least 0",
            limit,
        );
        let mut stream = self.open_list(type_name, block.attr("config"), include_resource, limit);
        self.read_list(type_name, &mut stream, include_resource, limit)
    }

    /// Opens a ListResource stream with `config` as given (no check: for the tests that send
    /// what Terraform never would).
    pub fn open_list(
        &mut self,
        type_name: &str,
        config: &Value,
        include_resource: bool,
        limit: i64,
    ) -> tonic::Streaming<pb::list_resource::Event> {
        let ty = self
            .schemas
            .lists
            .get(type_name)
            .map_or_else(|| config.infer_type(), |(t, _)| t.clone());
        self.calls.push("ListResource");
        self.rt
            .block_on(self.client.list_resource(pb::list_resource::Request {
                type_name: type_name.into(),
                config: Some(dv(config, &ty)),
                include_resource_object: include_resource,
                limit,
            }))
            .expect("ListResource opens a stream")
            .into_inner()
    }

    /// Reads `stream` as `GRPCProvider.ListResource` does, stopping at `limit` results.
    pub fn read_list(
        &mut self,
        type_name: &str,
        stream: &mut tonic::Streaming<pb::list_resource::Event>,
        include_resource: bool,
        limit: i64,
    ) -> ListOutcome {
        const SRC: &str = "internal/plugin6/grpc_provider.go ListResource";
        let resource = self.resource(type_name);
        let ident = self.identity(type_name);
        let mut out = ListOutcome::default();
        if limit == 0 {
            out.cut_at_limit = true;
            return out;
        }
        loop {
            let event = match self.rt.block_on(stream.message()) {
                Ok(Some(e)) => e,
                Ok(None) => break,
                // Terraform would show the bare status as an error; the convention (and
                // terraform-plugin-framework's) is an event carrying diagnostics.
                Err(s) => panic!(
                    "ListResource failed with a gRPC status instead of an in-stream diagnostic: {s:?}"
                ),
            };
            let has_error = !errors(&event.diagnostic).is_empty();
            out.diagnostics.extend(event.diagnostic.iter().cloned());
            if has_error {
                // An error diagnostic in any event stops processing.
                break;
            }
            let Some(id) = event
                .identity
                .as_ref()
                .and_then(|i| i.identity_data.as_ref())
            else {
                // With warnings seen (in this event or an earlier one) an event without identity
                // is skipped; otherwise it is an error.
                rule(
                    !out.diagnostics.is_empty(),
                    SRC,
                    "every result carries an identity (\"missing identity data in ListResource event\")",
                    format!("{event:?}"),
                );
                continue;
            };
            let identity = decode(
                Some(id),
                &ident.ty,
                SRC,
                "identity must conform to the managed type's identity schema",
            );
            rule(
                !identity.is_null() && identity.is_wholly_known(),
                SRC,
                "a result's identity is known",
                format!("{identity:?}"),
            );
            let object = if include_resource {
                let v = decode(
                    event.resource_object.as_ref(),
                    &resource.ty,
                    SRC,
                    "resource_object must conform to the managed resource type's schema",
                );
                Some(v)
            } else {
                None
            };
            out.results.push(Listed {
                identity,
                display_name: event.display_name,
                object,
            });
            if out.results.len() as i64 >= limit {
                out.cut_at_limit = true;
                break;
            }
        }
        out
    }

    // ---- the end ----

    /// StopProvider (what Terraform sends on Ctrl-C).
    pub fn stop_provider(&mut self) -> String {
        self.calls.push("StopProvider");
        self.rt
            .block_on(self.client.stop_provider(pb::stop_provider::Request {}))
            .expect("StopProvider")
            .into_inner()
            .error
    }

    /// go-plugin's `Kill`: the controller's Shutdown, then wait for the process to exit. Returns
    /// its exit status and stderr.
    pub fn shutdown(mut self) -> (ExitStatus, String) {
        self.rt.block_on(shutdown(self.channel.clone()));
        let p = self.provider.take().expect("provider running");
        p.wait()
    }
}

/// What Terraform 1.15 announces on requests that carry client capabilities.
pub fn client_capabilities() -> pb::ClientCapabilities {
    pb::ClientCapabilities {
        deferral_allowed: false,
        write_only_attributes_allowed: true,
    }
}

/// An identity value as `ResourceIdentityData`.
pub fn identity_data(v: &Value, ty: &Type) -> pb::ResourceIdentityData {
    pb::ResourceIdentityData {
        identity_data: Some(dv(v, ty)),
    }
}

/// An object of type `ty` with `attrs` set and every other attribute null.
pub fn fill(ty: &Type, attrs: &[(&str, Value)]) -> Value {
    let Type::Object(types) = ty else {
        panic!("not an object type: {ty:?}")
    };
    let mut m: BTreeMap<String, Value> = types.keys().map(|k| (k.clone(), Value::Null)).collect();
    for (k, v) in attrs {
        assert!(types.contains_key(*k), "no attribute {k} in {ty:?}");
        m.insert((*k).to_string(), v.clone());
    }
    Value::Object(m)
}
