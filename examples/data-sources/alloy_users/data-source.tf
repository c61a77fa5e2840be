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

# Every user of the provider's environment (none in an empty one).
data "alloy_users" "all" {}

# Only the users whose username matches (users without a username are skipped).
data "alloy_users" "tenants" {
  username_regex = "^tenant-[0-9]+@example\\.com$"
}

output "user_count" {
  value = length(data.alloy_users.all.users)
}

output "tenant_ids" {
  value = { for u in data.alloy_users.tenants.users : u.username => u.id }
}
