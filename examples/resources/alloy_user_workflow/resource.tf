terraform {
  required_providers {
    alloy = {
      source = "alloy-automation/alloy"
    }
  }
}

provider "alloy" {}

# The parent workflow's id, as `alloy_integrations` lists it.
variable "shopify_sync_workflow_id" {
  type    = string
  default = "a1f7fad397c0ac5b8339697b"
}

# Every tenant who installed the workflow (in Alloy's modal)...
data "alloy_workflow_users" "shopify_sync" {
  workflow_id = var.shopify_sync_workflow_id
}

# ...runs it at the latest version. Tenants who have not installed it are not managed, so the
# plan never fails for them; a tenant who installs it later appears in the next plan.
resource "alloy_user_workflow" "shopify_sync" {
  for_each     = { for u in data.alloy_workflow_users.shopify_sync.users : u.user_id => u }
  user_id      = each.key
  workflow_id  = var.shopify_sync_workflow_id
  active       = true
  auto_upgrade = true
}

# One tenant, by reference to its `alloy_user`: switched off, and removed for good (which the
# end user cannot undo) when this block is deleted.
resource "alloy_user" "churned" {
  username = "churned-corp@customers.example.com"
}

resource "alloy_user_workflow" "churned" {
  user_id              = alloy_user.churned.id
  workflow_id          = var.shopify_sync_workflow_id
  active               = false
  uninstall_on_destroy = true
}
