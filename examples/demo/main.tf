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
