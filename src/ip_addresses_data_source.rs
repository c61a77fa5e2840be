//! `alloy_ip_addresses`: the fixed addresses Alloy's servers call out from, for firewall and
//! security-group rules that must let Alloy reach your systems.
//!
//! Alloy publishes this list in its documentation; there is no API for it. So the list lives
//! here, and reading the data source makes no API call: it works the same in every environment
//! and region, and costs nothing. When Alloy publishes a change, a provider release carries it.

use std::net::Ipv4Addr;

use async_trait::async_trait;

use super::AlloyData;
use terraform_plugin::framework::{
    Attr, Attribute, Block, DataSource, Diagnostics, Model, Schema, Type, Value,
};

pub struct IpAddressesDataSource;

/// The outbound addresses published by Alloy.
pub const ALLOY_EGRESS_IPV4: [Ipv4Addr; 2] = [
    Ipv4Addr::new(3, 211, 13, 53),
    Ipv4Addr::new(54, 160, 36, 113),
];

terraform_plugin::model! {
    /// The `alloy_ip_addresses` data source's result.
    pub(crate) struct IpAddressesModel {
        ipv4: Attr<Vec<String>>,
        cidr_blocks: Attr<Vec<String>>,
    }
}

pub(crate) fn state() -> Value {
    IpAddressesModel {
        ipv4: Attr::Known(ALLOY_EGRESS_IPV4.iter().map(|ip| ip.to_string()).collect()),
        cidr_blocks: Attr::Known(
            ALLOY_EGRESS_IPV4
                .iter()
                .map(|ip| format!("{ip}/32"))
                .collect(),
        ),
    }
    .to_value()
}

fn list_of_strings(name: &str) -> Attribute {
    Attribute::new(name, Type::List(Box::new(Type::String)))
}

#[async_trait]
impl DataSource<AlloyData> for IpAddressesDataSource {
    fn type_name(&self) -> &'static str {
        "alloy_ip_addresses"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new(
                "The fixed IPv4 addresses that Alloy's servers use when they call your systems (webhooks, \
                 your APIs), as published by Alloy in its documentation. Use them to allow Alloy through \
                 firewalls and security groups. The list is built into the provider: reading it makes no \
                 API call.",
                vec![
                    list_of_strings("ipv4")
                        .computed()
                        .description("The addresses, e.g. `3.211.13.53`."),
                    list_of_strings("cidr_blocks").computed().description(
                        "The same addresses as single-address CIDR blocks (`/32`), ready for firewall and \
                         security-group rules.",
                    ),
                ],
            ),
        )
    }

    async fn read(
        &self,
        _data: &AlloyData,
        _config: &Value,
        _diags: &mut Diagnostics,
    ) -> Option<Value> {
        Some(state())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_matches_schema() {
        terraform_plugin::framework::model::assert_matches_schema::<IpAddressesModel>(
            &IpAddressesDataSource.schema(),
        );
    }

    #[test]
    fn published_addresses_and_their_cidr_blocks() {
        let s = state();
        assert_eq!(
            s.attr("ipv4"),
            &Value::List(vec![
                Value::string("3.211.13.53"),
                Value::string("54.160.36.113")
            ])
        );
        assert_eq!(
            s.attr("cidr_blocks"),
            &Value::List(vec![
                Value::string("3.211.13.53/32"),
                Value::string("54.160.36.113/32")
            ])
        );
        // The value matches the schema's shape exactly.
        let ty = IpAddressesDataSource.schema().value_type();
        let bytes = terraform_plugin::framework::value::to_msgpack(&s, &ty).unwrap();
        assert_eq!(
            terraform_plugin::framework::value::from_msgpack(&bytes, &ty).unwrap(),
            s
        );
    }
}
