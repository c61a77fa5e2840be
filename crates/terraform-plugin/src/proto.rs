//! Generated protocol types: Terraform plugin protocol 6.10 (`tfplugin6`) and
//! the go-plugin housekeeping services (`plugin`).
//!
//! The code comes from `proto/` via `build.rs`. It is kept in this one module
//! so the rest of the crate names the wire types through a stable path
//! (`crate::proto::tfplugin6::...`) and generated-code lint noise stays here.

/// Terraform plugin protocol 6: the `Provider` service and its messages.
#[allow(clippy::all, clippy::pedantic, missing_docs, rustdoc::all)]
pub mod tfplugin6 {
    tonic::include_proto!("tfplugin6");
}

/// go-plugin services every plugin process serves: `GRPCController`
/// (shutdown), `GRPCStdio` (stdout/stderr forwarding) and `GRPCBroker`.
#[allow(clippy::all, clippy::pedantic, missing_docs, rustdoc::all)]
pub mod plugin {
    tonic::include_proto!("plugin");
}

#[cfg(test)]
mod tests {
    use super::tfplugin6::{
        ClientCapabilities, DynamicValue, ResourceIdentityData, ServerCapabilities,
        get_provider_schema, import_resource_state, list_resource, open_ephemeral_resource,
        read_resource, schema, stop_provider, validate_resource_config,
    };
    use prost::Message;

    /// Protobuf key byte for a field: (number << 3) | wire type.
    fn key(field: u32, wire_type: u32) -> u8 {
        u8::try_from((field << 3) | wire_type).unwrap()
    }

    #[test]
    fn write_only_is_field_11() {
        let attr = schema::Attribute {
            write_only: true,
            ..Default::default()
        };
        // Varint (wire type 0) field 11 = key 0x58, value 1.
        assert_eq!(attr.encode_to_vec(), vec![key(11, 0), 1]);
        assert_eq!(key(11, 0), 0x58);
    }

    #[test]
    fn dynamic_value_msgpack_is_1_and_json_is_2() {
        let v = DynamicValue {
            msgpack: vec![0xc0],
            json: b"{}".to_vec(),
        };
        assert_eq!(
            v.encode_to_vec(),
            vec![key(1, 2), 1, 0xc0, key(2, 2), 2, b'{', b'}']
        );
    }

    #[test]
    fn get_provider_schema_optional_is_2() {
        let caps = ServerCapabilities {
            get_provider_schema_optional: true,
            ..Default::default()
        };
        assert_eq!(caps.encode_to_vec(), vec![key(2, 0), 1]);
        // And the capabilities sit at field 6 of the schema response.
        let resp = get_provider_schema::Response {
            server_capabilities: Some(caps),
            ..Default::default()
        };
        assert_eq!(resp.encode_to_vec(), vec![key(6, 2), 2, key(2, 0), 1]);
    }

    #[test]
    fn write_only_client_capability_is_2_and_on_validate_resource_at_3() {
        let req = validate_resource_config::Request {
            client_capabilities: Some(ClientCapabilities {
                write_only_attributes_allowed: true,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(req.encode_to_vec(), vec![key(3, 2), 2, key(2, 0), 1]);
    }

    #[test]
    fn stop_provider_error_field_decodes() {
        let bytes = [key(1, 2), 3, b'b', b'a', b'd'];
        let resp = stop_provider::Response::decode(&bytes[..]).unwrap();
        assert_eq!(resp.error, "bad");
    }

    #[test]
    fn renew_at_is_an_optional_timestamp() {
        let resp = open_ephemeral_resource::Response {
            renew_at: Some(prost_types::Timestamp {
                seconds: 1,
                nanos: 0,
            }),
            private: Some(Vec::new()),
            ..Default::default()
        };
        // renew_at = field 2 (Timestamp{seconds=1}); private = field 4, present
        // even though empty because it is proto3 `optional`.
        assert_eq!(
            resp.encode_to_vec(),
            vec![key(2, 2), 2, key(1, 0), 1, key(4, 2), 0]
        );
    }

    #[test]
    fn generate_resource_config_capability_is_4() {
        let caps = ServerCapabilities {
            generate_resource_config: true,
            ..Default::default()
        };
        assert_eq!(caps.encode_to_vec(), vec![key(4, 0), 1]);
    }

    #[test]
    fn list_resource_schemas_are_field_9() {
        let mut resp = get_provider_schema::Response::default();
        resp.list_resource_schemas
            .insert("a".into(), Default::default());
        // Map entry: key (field 1) "a"; prost leaves out the empty Schema value.
        assert_eq!(resp.encode_to_vec(), vec![key(9, 2), 3, key(1, 2), 1, b'a']);
    }

    /// The identity fields added in 6.9 sit where Terraform reads them.
    #[test]
    fn identity_fields() {
        let identity = || {
            Some(ResourceIdentityData {
                identity_data: Some(DynamicValue {
                    msgpack: vec![0xc0],
                    json: Vec::new(),
                }),
            })
        };
        let inner = [key(1, 2), 3, key(1, 2), 1, 0xc0];
        let resp = read_resource::Response {
            new_identity: identity(),
            ..Default::default()
        };
        assert_eq!(resp.encode_to_vec(), [&[key(5, 2), 5][..], &inner].concat());
        let req = read_resource::Request {
            current_identity: identity(),
            ..Default::default()
        };
        assert_eq!(req.encode_to_vec(), [&[key(6, 2), 5][..], &inner].concat());
        let req = import_resource_state::Request {
            identity: identity(),
            ..Default::default()
        };
        assert_eq!(req.encode_to_vec(), [&[key(4, 2), 5][..], &inner].concat());
    }

    #[test]
    fn list_event_diagnostics_are_field_4_and_display_name_2() {
        let event = list_resource::Event {
            display_name: "x".into(),
            diagnostic: vec![Default::default()],
            ..Default::default()
        };
        assert_eq!(
            event.encode_to_vec(),
            vec![key(2, 2), 1, b'x', key(4, 2), 0]
        );
    }
}
