//! Resource identity on the wire (Terraform ≥ 1.12): what every Read, Plan, Apply and Import
//! response carries for a resource type that has one.
//!
//! The identity of a state is always computed here, from the state, by the type's
//! [`IdentitySchema`](crate::framework::IdentitySchema); a resource never builds one itself. The
//! rules Terraform enforces (`internal/terraform/node_resource_abstract_instance.go`): an identity
//! is wholly known except in the plan of a create or a replacement, and it conforms to the
//! schema. Terraform itself never compares an old identity with a new one; like the SDKs, the
//! server refuses a change ([`Identity::check_unchanged`]), since an object's identity is what
//! Terraform uses to recognise it.

use crate::framework::diag::Diagnostics;
use crate::framework::value::Value;
use crate::framework::wire;
use crate::proto::tfplugin6 as pb;

use super::registry::Identity;

impl Identity {
    /// Decodes an identity Terraform sent; null when there is none (state written before the
    /// type had an identity, or by a Terraform older than 1.12).
    pub fn decode(
        &self,
        sent: Option<&pb::ResourceIdentityData>,
        what: &str,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        wire::decode(
            sent.and_then(|i| i.identity_data.as_ref()),
            &self.ty,
            what,
            diags,
        )
    }

    /// The identity of `state`, for a response that must carry a known one: null for a null
    /// state, and an error diagnostic (no identity) if part of it is unknown.
    pub fn known(
        &self,
        type_name: &str,
        state: &Value,
        diags: &mut Diagnostics,
    ) -> Option<pb::ResourceIdentityData> {
        let identity = self.schema.of(state);
        if !identity.is_wholly_known() {
            diags.error(
                "Provider bug: identity not known",
                format!(
                    "The provider produced a {type_name} state whose identity is not wholly known. This \
                     is a bug in the provider; please report it to the provider developers."
                ),
            );
            return None;
        }
        wire::identity(&identity, &self.ty, diags)
    }

    /// The planned identity of a new object (a create or a replacement): known if the planned
    /// state already holds it, else unknown, which Terraform allows for exactly these plans.
    pub fn planned_new(
        &self,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Option<pb::ResourceIdentityData> {
        let identity = self.schema.of(planned);
        let identity = if identity.is_wholly_known() {
            identity
        } else {
            Value::Unknown
        };
        Some(pb::ResourceIdentityData {
            identity_data: Some(wire::encode(&identity, &self.ty, diags)?),
        })
    }

    /// Refuses an identity that changes for the same object: `before` is what Terraform holds
    /// (null when it holds none, which is never a change), `after` what the provider would now
    /// report. Unknown parts are not compared.
    pub fn check_unchanged(
        &self,
        type_name: &str,
        before: &Value,
        after: &Value,
        diags: &mut Diagnostics,
    ) {
        if before.is_null() || !before.is_wholly_known() || !after.is_wholly_known() {
            return;
        }
        // An identity whose attributes are all null says nothing (an SDK wrote it); not a change.
        if let Value::Object(m) = before
            && m.values().all(Value::is_null)
        {
            return;
        }
        if before != after {
            let show = |v: &Value| crate::framework::value::to_json(v, &self.ty).to_string();
            diags.error(
                "Unexpected identity change",
                format!(
                    "The identity of this {type_name} would change from {} to {}. An object's identity \
                     never changes for its whole life, so this is a bug in the provider; please report \
                     it to the provider developers. Nothing was changed.",
                    show(before),
                    show(after)
                ),
            );
        }
    }

    /// Checks an identity given in an `import { identity = {…} }` block: every attribute the
    /// schema requires for import is set.
    pub fn check_import(&self, identity: &Value, diags: &mut Diagnostics) -> bool {
        if !identity.is_wholly_known() || identity.is_null() {
            diags.error(
                "Invalid import identity",
                "The identity of an import block must be wholly known at plan time.",
            );
            return false;
        }
        let mut ok = true;
        for a in &self.schema.attributes {
            if a.required_for_import && identity.attr(&a.name).is_null() {
                diags.error(
                    "Missing import identity attribute",
                    format!(
                        "The identity of an import block needs `{}`. Set it in `identity = {{ … }}`.",
                        a.name
                    ),
                );
                ok = false;
            }
        }
        ok
    }
}
