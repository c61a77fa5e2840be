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
  workflow_id = "a1f7fad397c0ac5b8339697b"
}

# Only the tenants who switched it off, among the pilot customers.
data "alloy_workflow_users" "paused_pilots" {
  workflow_id    = "a1f7fad397c0ac5b8339697b"
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
