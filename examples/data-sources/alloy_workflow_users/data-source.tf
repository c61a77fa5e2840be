terraform {
  required_providers {
    alloy = {
      source = "alloy-automation/alloy"
    }
  }
}

provider "alloy" {}

# Every tenant of one workflow, in one API call.
data "alloy_workflow_users" "fleet" {
  workflow_id = "66326849aa11bb22cc33dd44"
}

# Only the tenants who switched it off, among the pilot customers.
data "alloy_workflow_users" "paused_pilots" {
  workflow_id    = "66326849aa11bb22cc33dd44"
  active         = false
  username_regex = "^pilot-"
}

# Who runs which version.
output "versions" {
  value = { for u in data.alloy_workflow_users.fleet.users : u.username => u.installed_version }
}

output "paused_pilots" {
  value = data.alloy_workflow_users.paused_pilots.users[*].username
}
