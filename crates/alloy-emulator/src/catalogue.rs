//! The built-in integration catalogue: a dozen integrations that look like the ones an Alloy
//! account offers, each with a few workflows.
//!
//! The data is static (fixed 24-hex ids, fixed connector uuids) so that tests, examples and
//! documentation can name an integration by id and get the same answer from every emulator
//! process. Whether an integration or workflow is *installed* is per-user state and lives in the
//! store; this module only describes what exists.

/// One integration of the catalogue.
#[derive(Debug)]
pub struct IntegrationDef {
    /// The `integrationId` (24 lowercase hex digits).
    pub id: &'static str,
    /// The display name, returned as `app`; `GET /integrations/{name}` also matches it.
    pub app: &'static str,
    pub primary_connector: &'static str,
    /// The connector slug used for the icon and the `credentials` entry.
    pub slug: &'static str,
    pub description: &'static str,
    /// Reported as `installedVersion` once the integration is installed for a user.
    pub version: u32,
    pub credentials: &'static [&'static str],
    pub workflows: &'static [WorkflowDef],
}

/// One workflow of an integration.
#[derive(Debug)]
pub struct WorkflowDef {
    pub id: &'static str,
    pub name: &'static str,
    /// The latest version until the admin API publishes another (see `store.rs`).
    pub version: u32,
    pub connectors: &'static [ConnectorDef],
}

/// One step (connector block) of a workflow.
#[derive(Debug)]
pub struct ConnectorDef {
    pub id: &'static str,
    pub name: &'static str,
    pub connector: &'static str,
    pub subtitle: &'static str,
}

/// The icon URL of a connector slug. The `.invalid` top-level domain is reserved, so nothing
/// will ever try to fetch these for real.
pub fn icon_url(slug: &str) -> String {
    format!("https://icons.alloy-emulator.invalid/{slug}.svg")
}

/// Every integration, in the order `GET /integrations` lists them.
pub fn catalogue() -> &'static [IntegrationDef] {
    CATALOGUE
}

/// Find an integration by id, or by its `app` name (case-insensitive), as the API allows.
pub fn find_integration(id_or_name: &str) -> Option<&'static IntegrationDef> {
    CATALOGUE.iter().find(|i| i.id == id_or_name).or_else(|| {
        CATALOGUE
            .iter()
            .find(|i| i.app.eq_ignore_ascii_case(id_or_name))
    })
}

/// The workflow with id `workflow_id` (ids only, no names) and the integration it belongs to.
/// Workflow ids are unique across the catalogue, as parent workflow ids are across an account.
pub fn find_workflow(workflow_id: &str) -> Option<(&'static IntegrationDef, &'static WorkflowDef)> {
    CATALOGUE.iter().find_map(|i| {
        i.workflows
            .iter()
            .find(|w| w.id == workflow_id)
            .map(|w| (i, w))
    })
}

/// Every workflow named `name` (case-insensitive), with its integration. Names are not unique:
/// Shopify's and BigCommerce's "Sync new orders" are two workflows.
pub fn workflows_named(
    name: &str,
) -> impl Iterator<Item = (&'static IntegrationDef, &'static WorkflowDef)> + '_ {
    CATALOGUE.iter().flat_map(move |i| {
        i.workflows
            .iter()
            .filter(move |w| w.name.eq_ignore_ascii_case(name))
            .map(move |w| (i, w))
    })
}

impl IntegrationDef {
    /// Find one of this integration's workflows by id, or by name (case-insensitive).
    pub fn find_workflow(&self, id_or_name: &str) -> Option<&'static WorkflowDef> {
        self.workflows
            .iter()
            .find(|w| w.id == id_or_name)
            .or_else(|| {
                self.workflows
                    .iter()
                    .find(|w| w.name.eq_ignore_ascii_case(id_or_name))
            })
    }
}

static CATALOGUE: &[IntegrationDef] = &[
    IntegrationDef {
        id: "5ba9e7af0bfabd19f1a4495d",
        app: "Shopify",
        primary_connector: "Shopify",
        slug: "shopify",
        description: "Sync Shopify orders, customers and inventory with your platform.",
        version: 3,
        credentials: &["shopify"],
        workflows: &[
            WorkflowDef {
                id: "a1f7fad397c0ac5b8339697b",
                name: "Sync new orders",
                version: 2,
                connectors: &[
                    ConnectorDef {
                        id: "924ad99f-1518-556c-95b1-e78afeb7adc8",
                        name: "Shopify",
                        connector: "shopify",
                        subtitle: "When an order is created",
                    },
                    ConnectorDef {
                        id: "f46bc351-3ca6-5293-b467-c281e9b53578",
                        name: "Webhook",
                        connector: "webhook",
                        subtitle: "Send the order to your endpoint",
                    },
                ],
            },
            WorkflowDef {
                id: "61c6f35ec1e207cb6d97a79c",
                name: "Update inventory levels",
                version: 1,
                connectors: &[
                    ConnectorDef {
                        id: "daf0bf7b-3874-5fd6-85cf-96e3431faeb1",
                        name: "Webhook",
                        connector: "webhook",
                        subtitle: "When stock changes in your platform",
                    },
                    ConnectorDef {
                        id: "d2617b7b-4ca8-5634-815d-f2a5cbee7165",
                        name: "Shopify",
                        connector: "shopify",
                        subtitle: "Set the inventory level",
                    },
                ],
            },
            WorkflowDef {
                id: "344a04fbdfeff4e4f2e48bd0",
                name: "Tag high-value customers",
                version: 1,
                connectors: &[
                    ConnectorDef {
                        id: "3f3b41c5-f9f9-5087-9d31-fb4ab0f201ec",
                        name: "Shopify",
                        connector: "shopify",
                        subtitle: "When a customer is updated",
                    },
                    ConnectorDef {
                        id: "057b0a3e-ddf0-5625-8505-fdb035686d1e",
                        name: "Shopify",
                        connector: "shopify",
                        subtitle: "Add a customer tag",
                    },
                ],
            },
        ],
    },
    IntegrationDef {
        id: "407cb3f08b7b39a21fd04ddf",
        app: "Salesforce",
        primary_connector: "Salesforce",
        slug: "salesforce",
        description: "Keep Salesforce leads, contacts and opportunities in step with your app.",
        version: 2,
        credentials: &["salesforce"],
        workflows: &[
            WorkflowDef {
                id: "08af73482977433dd3b3073a",
                name: "Create leads from sign-ups",
                version: 3,
                connectors: &[
                    ConnectorDef {
                        id: "52f2a8a2-f2bb-5bb8-93d9-732a35a44983",
                        name: "Webhook",
                        connector: "webhook",
                        subtitle: "When a user signs up",
                    },
                    ConnectorDef {
                        id: "2712f0b3-ee2a-5d46-bd0b-b3e351e1938d",
                        name: "Salesforce",
                        connector: "salesforce",
                        subtitle: "Create a lead",
                    },
                ],
            },
            WorkflowDef {
                id: "0339c1a668a25308de5349e7",
                name: "Sync closed opportunities",
                version: 1,
                connectors: &[
                    ConnectorDef {
                        id: "ca1918bf-c97c-5448-b868-6ab9f0aad6ff",
                        name: "Salesforce",
                        connector: "salesforce",
                        subtitle: "When an opportunity is closed won",
                    },
                    ConnectorDef {
                        id: "65ef0a91-91c4-5ea9-a3ba-bf977468e231",
                        name: "Webhook",
                        connector: "webhook",
                        subtitle: "Notify your platform",
                    },
                ],
            },
        ],
    },
    IntegrationDef {
        id: "f5d6b70e79326ab17fb4ea8e",
        app: "HubSpot",
        primary_connector: "HubSpot",
        slug: "hubspot",
        description: "Push contacts and deals to HubSpot.",
        version: 1,
        credentials: &["hubspot"],
        workflows: &[
            WorkflowDef {
                id: "efcc0dd5c609b61b3e69d3e6",
                name: "Upsert contacts",
                version: 2,
                connectors: &[
                    ConnectorDef {
                        id: "a492799d-e127-5346-893c-4d4ac156fada",
                        name: "Webhook",
                        connector: "webhook",
                        subtitle: "When a contact changes",
                    },
                    ConnectorDef {
                        id: "c5574dc3-e099-50e5-a4ca-ef476946d064",
                        name: "HubSpot",
                        connector: "hubspot",
                        subtitle: "Create or update a contact",
                    },
                ],
            },
            WorkflowDef {
                id: "92cba4590e840e1d75837d9d",
                name: "Log deal stage changes",
                version: 1,
                connectors: &[
                    ConnectorDef {
                        id: "81ab62a3-5116-570a-9b29-5b6109cacf07",
                        name: "HubSpot",
                        connector: "hubspot",
                        subtitle: "When a deal moves stage",
                    },
                    ConnectorDef {
                        id: "89843eb4-afaa-5b6b-a296-8a854f2a3776",
                        name: "Webhook",
                        connector: "webhook",
                        subtitle: "Send the deal to your endpoint",
                    },
                ],
            },
        ],
    },
    IntegrationDef {
        id: "c350390d371072476ded9428",
        app: "Slack",
        primary_connector: "Slack",
        slug: "slack",
        description: "Post notifications from your platform to Slack channels.",
        version: 1,
        credentials: &["slack"],
        workflows: &[WorkflowDef {
            id: "7ac84a3ce47a43a7a92028e0",
            name: "Post alerts to a channel",
            version: 1,
            connectors: &[
                ConnectorDef {
                    id: "78116e13-f78d-5dfb-8c78-6ee11dc9f1c4",
                    name: "Webhook",
                    connector: "webhook",
                    subtitle: "When an alert is raised",
                },
                ConnectorDef {
                    id: "dd15896d-dc36-543b-bee5-5d1db6031130",
                    name: "Slack",
                    connector: "slack",
                    subtitle: "Send a channel message",
                },
            ],
        }],
    },
    IntegrationDef {
        id: "7669edeeff2a89e2dc260427",
        app: "NetSuite",
        primary_connector: "NetSuite",
        slug: "netsuite",
        description: "Send orders and invoices to NetSuite.",
        version: 4,
        credentials: &["netsuite"],
        workflows: &[
            WorkflowDef {
                id: "c432ba93c17a79c963239eed",
                name: "Create sales orders",
                version: 3,
                connectors: &[
                    ConnectorDef {
                        id: "8803a901-4f0b-5ae8-98be-f9d61bad5baf",
                        name: "Webhook",
                        connector: "webhook",
                        subtitle: "When an order is placed",
                    },
                    ConnectorDef {
                        id: "f15ff0b7-d7bd-5f2f-a564-cdc18b2a7f6d",
                        name: "NetSuite",
                        connector: "netsuite",
                        subtitle: "Create a sales order",
                    },
                ],
            },
            WorkflowDef {
                id: "a9365d6964b689b3d6f51425",
                name: "Sync item fulfilments",
                version: 2,
                connectors: &[
                    ConnectorDef {
                        id: "a0fcd949-07ee-5ac7-b1c7-97bbeb56897b",
                        name: "NetSuite",
                        connector: "netsuite",
                        subtitle: "When an item is fulfilled",
                    },
                    ConnectorDef {
                        id: "84330a0e-2c66-5634-a93e-ef048cdbb3df",
                        name: "Webhook",
                        connector: "webhook",
                        subtitle: "Send tracking details",
                    },
                ],
            },
            WorkflowDef {
                id: "8011630cd36dec801394d157",
                name: "Export invoices",
                version: 1,
                connectors: &[
                    ConnectorDef {
                        id: "19a1b070-49f3-5f40-babf-e2da6fd18e03",
                        name: "NetSuite",
                        connector: "netsuite",
                        subtitle: "When an invoice is created",
                    },
                    ConnectorDef {
                        id: "2cd710bf-d5da-51b7-af94-7f59cf32155a",
                        name: "Webhook",
                        connector: "webhook",
                        subtitle: "Send the invoice",
                    },
                ],
            },
            WorkflowDef {
                id: "020027da72c01c20dc93d045",
                name: "Reconcile customer records",
                version: 1,
                connectors: &[
                    ConnectorDef {
                        id: "06a49ae1-42d8-550a-9d16-e9910cb76c2f",
                        name: "NetSuite",
                        connector: "netsuite",
                        subtitle: "Every night",
                    },
                    ConnectorDef {
                        id: "12c92b06-aefc-5dd5-bd1c-c1b9c3ebe535",
                        name: "NetSuite",
                        connector: "netsuite",
                        subtitle: "Find customers",
                    },
                    ConnectorDef {
                        id: "2e3e1b43-3d98-5dca-89d4-dbd1fdf69fab",
                        name: "Webhook",
                        connector: "webhook",
                        subtitle: "Send the changes",
                    },
                ],
            },
        ],
    },
    IntegrationDef {
        id: "3c734dda8587f2e80739cdb2",
        app: "Zendesk",
        primary_connector: "Zendesk",
        slug: "zendesk",
        description: "Open and update Zendesk tickets from your product.",
        version: 2,
        credentials: &["zendesk"],
        workflows: &[
            WorkflowDef {
                id: "3e03cff2dc905627b6c8dab9",
                name: "Open tickets from feedback",
                version: 1,
                connectors: &[
                    ConnectorDef {
                        id: "452a5709-3f5e-5413-ac42-e5a4963caf66",
                        name: "Webhook",
                        connector: "webhook",
                        subtitle: "When feedback is submitted",
                    },
                    ConnectorDef {
                        id: "0d47e376-8303-503a-9739-dbd9a00efbeb",
                        name: "Zendesk",
                        connector: "zendesk",
                        subtitle: "Create a ticket",
                    },
                ],
            },
            WorkflowDef {
                id: "dfabc278d70cfed69f18f4a7",
                name: "Sync ticket status",
                version: 2,
                connectors: &[
                    ConnectorDef {
                        id: "8885b5a7-d749-5679-9f6e-acf30451a15b",
                        name: "Zendesk",
                        connector: "zendesk",
                        subtitle: "When a ticket is solved",
                    },
                    ConnectorDef {
                        id: "8df375d7-40ba-578f-ad66-d58bd723037e",
                        name: "Webhook",
                        connector: "webhook",
                        subtitle: "Update the request in your platform",
                    },
                ],
            },
        ],
    },
    IntegrationDef {
        id: "835420f1d2c3e6af26f578b1",
        app: "Stripe",
        primary_connector: "Stripe",
        slug: "stripe",
        description: "React to Stripe payments and subscriptions.",
        version: 2,
        credentials: &["stripe"],
        workflows: &[
            WorkflowDef {
                id: "f87b9c06bfe9a90cac0959fe",
                name: "Record successful payments",
                version: 2,
                connectors: &[
                    ConnectorDef {
                        id: "fe3bf60a-8b33-54c2-8801-ccdf6777f8c6",
                        name: "Stripe",
                        connector: "stripe",
                        subtitle: "When a payment succeeds",
                    },
                    ConnectorDef {
                        id: "bc58c3f9-8b1a-5da6-989c-de471be3d722",
                        name: "Webhook",
                        connector: "webhook",
                        subtitle: "Record the payment",
                    },
                ],
            },
            WorkflowDef {
                id: "6e4b61abbf816984e099ed46",
                name: "Handle cancelled subscriptions",
                version: 1,
                connectors: &[
                    ConnectorDef {
                        id: "1dedb41c-46b0-5af3-a963-fd6d1f9f5036",
                        name: "Stripe",
                        connector: "stripe",
                        subtitle: "When a subscription is cancelled",
                    },
                    ConnectorDef {
                        id: "b0e7c8d1-6474-578b-8712-120202e8a732",
                        name: "Webhook",
                        connector: "webhook",
                        subtitle: "Downgrade the account",
                    },
                ],
            },
            WorkflowDef {
                id: "12ea4a36419980ebd936e7ac",
                name: "Create customers",
                version: 1,
                connectors: &[
                    ConnectorDef {
                        id: "5b7c761a-51c1-5225-8eb4-42af50017300",
                        name: "Webhook",
                        connector: "webhook",
                        subtitle: "When an account is created",
                    },
                    ConnectorDef {
                        id: "4edb4294-a35c-59d0-83cd-564c08a69011",
                        name: "Stripe",
                        connector: "stripe",
                        subtitle: "Create a customer",
                    },
                ],
            },
        ],
    },
    IntegrationDef {
        id: "f41bddf8b45f318a43cf54cf",
        app: "Magento",
        primary_connector: "Magento",
        slug: "magento",
        description: "Sync Magento (Adobe Commerce) orders and products.",
        version: 1,
        credentials: &["magento"],
        workflows: &[
            WorkflowDef {
                id: "7f05a9f1e4cbdc63191b424f",
                name: "Import new orders",
                version: 1,
                connectors: &[
                    ConnectorDef {
                        id: "b214f677-201d-56e1-8dbe-7446d337817f",
                        name: "Magento",
                        connector: "magento",
                        subtitle: "When an order is placed",
                    },
                    ConnectorDef {
                        id: "f5a68c0d-d0a8-5aa3-ade3-4eeb8cb63210",
                        name: "Webhook",
                        connector: "webhook",
                        subtitle: "Send the order",
                    },
                ],
            },
            WorkflowDef {
                id: "2da7408a9841100c22a8465d",
                name: "Publish product updates",
                version: 2,
                connectors: &[
                    ConnectorDef {
                        id: "6c01d426-2a21-5c4f-8263-e299d13cd777",
                        name: "Webhook",
                        connector: "webhook",
                        subtitle: "When a product changes",
                    },
                    ConnectorDef {
                        id: "309ebef9-c76d-5542-a948-4ab4d3cec6fa",
                        name: "Magento",
                        connector: "magento",
                        subtitle: "Update the product",
                    },
                ],
            },
        ],
    },
    IntegrationDef {
        id: "68be0b10ba021a37343478f5",
        app: "QuickBooks Online",
        primary_connector: "QuickBooks Online",
        slug: "quickbooks",
        description: "Create invoices and payments in QuickBooks Online.",
        version: 3,
        credentials: &["quickbooks"],
        workflows: &[
            WorkflowDef {
                id: "c3885d1970e50f6820f001ab",
                name: "Create invoices",
                version: 2,
                connectors: &[
                    ConnectorDef {
                        id: "b628aeb5-145a-5e86-9bf5-ac6b2ddc483e",
                        name: "Webhook",
                        connector: "webhook",
                        subtitle: "When an order is completed",
                    },
                    ConnectorDef {
                        id: "d8454370-e63e-55af-9963-68f839f297cc",
                        name: "QuickBooks Online",
                        connector: "quickbooks",
                        subtitle: "Create an invoice",
                    },
                ],
            },
            WorkflowDef {
                id: "1f80a6b770a505b3e291bd7a",
                name: "Record payments",
                version: 1,
                connectors: &[
                    ConnectorDef {
                        id: "3ce60ab8-dc98-5981-92a6-316b6cee78e4",
                        name: "Stripe",
                        connector: "stripe",
                        subtitle: "When a payment succeeds",
                    },
                    ConnectorDef {
                        id: "820427ab-ca23-5d46-8d64-d49969597a09",
                        name: "QuickBooks Online",
                        connector: "quickbooks",
                        subtitle: "Receive a payment",
                    },
                ],
            },
        ],
    },
    IntegrationDef {
        id: "158e57069b72819559076f2c",
        app: "Mailchimp",
        primary_connector: "Mailchimp",
        slug: "mailchimp",
        description: "Subscribe your users to Mailchimp audiences.",
        version: 1,
        credentials: &["mailchimp"],
        workflows: &[WorkflowDef {
            id: "eb2bc3a7f98e1e7cfc4f43de",
            name: "Add subscribers",
            version: 1,
            connectors: &[
                ConnectorDef {
                    id: "273ebf61-1636-5a4b-aecc-360d102f4cad",
                    name: "Webhook",
                    connector: "webhook",
                    subtitle: "When a user opts in",
                },
                ConnectorDef {
                    id: "655f8814-2ae1-5c8d-a831-137c4a5a7648",
                    name: "Mailchimp",
                    connector: "mailchimp",
                    subtitle: "Add or update a list member",
                },
            ],
        }],
    },
    IntegrationDef {
        id: "e68b9cbd220eba3f791e98f4",
        app: "BigCommerce",
        primary_connector: "BigCommerce",
        slug: "bigcommerce",
        description: "Sync BigCommerce orders and shipments.",
        version: 2,
        credentials: &["bigcommerce"],
        workflows: &[
            WorkflowDef {
                id: "9f02cad3435094cd8a992683",
                name: "Sync new orders",
                version: 1,
                connectors: &[
                    ConnectorDef {
                        id: "ac08ac7f-bd22-5d7a-8484-64d3dfae54c5",
                        name: "BigCommerce",
                        connector: "bigcommerce",
                        subtitle: "When an order is created",
                    },
                    ConnectorDef {
                        id: "29af5790-6fc9-5836-9603-181015d83174",
                        name: "Webhook",
                        connector: "webhook",
                        subtitle: "Send the order",
                    },
                ],
            },
            WorkflowDef {
                id: "c077b2848f129e980eedf959",
                name: "Push shipment tracking",
                version: 2,
                connectors: &[
                    ConnectorDef {
                        id: "f37921f2-5316-5993-86e3-9f4ce03a95f2",
                        name: "Webhook",
                        connector: "webhook",
                        subtitle: "When a shipment is created",
                    },
                    ConnectorDef {
                        id: "44012b04-f0d8-580e-82a1-eba491b2e7c4",
                        name: "BigCommerce",
                        connector: "bigcommerce",
                        subtitle: "Create a shipment",
                    },
                ],
            },
            WorkflowDef {
                id: "6f7779f4cef4096be42f23f3",
                name: "Sync customers",
                version: 1,
                connectors: &[
                    ConnectorDef {
                        id: "3f468bbf-4d51-585f-982b-615044d8fd16",
                        name: "BigCommerce",
                        connector: "bigcommerce",
                        subtitle: "When a customer is created",
                    },
                    ConnectorDef {
                        id: "8fe071d4-d475-5fee-803b-8ed5b3fc0968",
                        name: "Webhook",
                        connector: "webhook",
                        subtitle: "Send the customer",
                    },
                ],
            },
        ],
    },
    IntegrationDef {
        id: "8e0457158e24b0a528a19c35",
        app: "Google Sheets",
        primary_connector: "Google Sheets",
        slug: "googleSheets",
        description: "Append rows to Google Sheets reports.",
        version: 1,
        credentials: &["googleSheets"],
        workflows: &[
            WorkflowDef {
                id: "a3b580a1e4cc6ba2a26b2512",
                name: "Append daily report rows",
                version: 1,
                connectors: &[
                    ConnectorDef {
                        id: "0a9fd0d3-e1d0-572d-a98a-67c9aa7dc010",
                        name: "Webhook",
                        connector: "webhook",
                        subtitle: "Every day at 06:00",
                    },
                    ConnectorDef {
                        id: "1779c266-98a9-56a0-a7c7-a16b572916a4",
                        name: "Google Sheets",
                        connector: "googleSheets",
                        subtitle: "Append a row",
                    },
                ],
            },
            WorkflowDef {
                id: "7b0577e25240fa0e61a49e45",
                name: "Export new users",
                version: 1,
                connectors: &[
                    ConnectorDef {
                        id: "d656c1df-ac30-5ef2-921d-5b691d1c31a4",
                        name: "Webhook",
                        connector: "webhook",
                        subtitle: "When a user is created",
                    },
                    ConnectorDef {
                        id: "8ff8c587-d642-5d13-ab30-aa27372abaa7",
                        name: "Google Sheets",
                        connector: "googleSheets",
                        subtitle: "Append a row",
                    },
                ],
            },
        ],
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn is_object_id(s: &str) -> bool {
        s.len() == 24
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }

    #[test]
    fn a_dozen_integrations_with_one_to_four_workflows() {
        assert_eq!(catalogue().len(), 12);
        for i in catalogue() {
            assert!((1..=4).contains(&i.workflows.len()), "{}", i.app);
            for w in i.workflows {
                assert!(!w.connectors.is_empty(), "{}", w.name);
            }
        }
    }

    #[test]
    fn ids_are_unique_object_ids() {
        let mut seen = HashSet::new();
        for i in catalogue() {
            assert!(is_object_id(i.id), "{}", i.id);
            assert!(seen.insert(i.id));
            for w in i.workflows {
                assert!(is_object_id(w.id), "{}", w.id);
                assert!(seen.insert(w.id));
                for c in w.connectors {
                    assert_eq!(c.id.len(), 36);
                    assert!(seen.insert(c.id));
                }
            }
        }
    }

    #[test]
    fn lookup_by_id_or_name() {
        let shopify = find_integration("shopify").expect("by name, any case");
        assert_eq!(shopify.app, "Shopify");
        assert_eq!(find_integration(shopify.id).map(|i| i.app), Some("Shopify"));
        assert!(find_integration("Nope").is_none());
        let wf = &shopify.workflows[1];
        assert_eq!(shopify.find_workflow(wf.id).map(|w| w.id), Some(wf.id));
        assert_eq!(
            shopify.find_workflow(&wf.name.to_uppercase()).map(|w| w.id),
            Some(wf.id)
        );
        assert!(shopify.find_workflow("nope").is_none());
    }

    #[test]
    fn workflows_by_id_across_integrations_and_by_shared_name() {
        let (i, w) = find_workflow("7ac84a3ce47a43a7a92028e0").expect("Slack's workflow");
        assert_eq!((i.app, w.name), ("Slack", "Post alerts to a channel"));
        assert!(
            find_workflow("Post alerts to a channel").is_none(),
            "ids only"
        );
        let apps: Vec<_> = workflows_named("SYNC NEW ORDERS")
            .map(|(i, _)| i.app)
            .collect();
        assert_eq!(apps, ["Shopify", "BigCommerce"]);
        assert_eq!(workflows_named("nope").count(), 0);
    }
}
