# The demo the README runs: provision three tenants against the local Alloy emulator and show
# what other infrastructure would consume. The provider reads ALLOY_BASE_URL, ALLOY_ENVIRONMENT
# and ALLOY_DEVELOPMENT_API_KEY from the environment the demo script sets.
terraform {
  required_providers {
    alloy = {
      source = "alloy-automation/alloy"
    }
  }
}

provider "alloy" {}

variable "tenants" {
  type = map(string)
  default = {
    "acme"    = "Acme Corporation"
    "globex"  = "Globex Inc."
    "initech" = "Initech LLC"
  }
}

resource "alloy_user" "tenant" {
  for_each  = var.tenants
  username  = "${each.key}@customers.example.com"
  full_name = each.value
}

output "tenant_user_ids" {
  description = "Alloy userId of each tenant, for app config, secrets or queues."
  value       = { for k, u in alloy_user.tenant : k => u.id }
}

output "environment" {
  value = one(distinct([for u in alloy_user.tenant : u.environment]))
}

# What the first tenant can install (a data source: read at plan time).
data "alloy_integrations" "acme" {
  user_id = alloy_user.tenant["acme"].id
}

output "acme_integrations" {
  description = "Integrations the acme tenant can install, by name."
  value       = [for i in data.alloy_integrations.acme.integrations : i.name]
}

# A frontend token for the first tenant, as an ephemeral resource: it is never stored in the
# plan or the state. A provisioner receives it and records only its expiry (Terraform hides the
# output of commands that touch ephemeral values, so the demo script prints the file).
ephemeral "alloy_user_token" "acme" {
  user_id = alloy_user.tenant["acme"].id
}

resource "terraform_data" "token_expiry" {
  triggers_replace = alloy_user.tenant["acme"].id

  provisioner "local-exec" {
    command = "echo \"acme's frontend token expires at $EXPIRES_AT\" > token-expiry.txt"
    environment = {
      EXPIRES_AT = ephemeral.alloy_user_token.acme.expires_at
    }
  }
}
