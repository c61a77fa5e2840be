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

# Everything Jane has installed.
data "alloy_integrations" "installed" {
  user_id   = "jane@example.com"
  installed = true
}

# The CRM integrations, whether installed or not, matched by name.
data "alloy_integrations" "crm" {
  user_id    = "jane@example.com"
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
