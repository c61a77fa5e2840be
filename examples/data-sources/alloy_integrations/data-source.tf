terraform {
  required_providers {
    alloy = {
      source = "alloy-automation/alloy"
    }
  }
}

# Configured from ALLOY_ENVIRONMENT and that environment's key variable, ALLOY_DEVELOPMENT_API_KEY
# or ALLOY_PRODUCTION_API_KEY.
provider "alloy" {}

resource "alloy_user" "jane" {
  username  = "jane@example.com"
  full_name = "Jane Doe"
}

# Everything Jane has installed (nothing yet, for a user just created). `user_id` also takes
# the userId or username of a user Terraform does not manage.
data "alloy_integrations" "installed" {
  user_id   = alloy_user.jane.id
  installed = true
}

# The CRM integrations, whether installed or not, matched by name.
data "alloy_integrations" "crm" {
  user_id    = alloy_user.jane.id
  name_regex = "(?i)^(salesforce|hubspot)$"
}

output "installed_integrations" {
  value = [for i in data.alloy_integrations.installed.integrations : i.name]
}

output "crm_workflows" {
  value = {
    for i in data.alloy_integrations.crm.integrations : i.name => [for w in i.workflows : w.name]
  }
}
