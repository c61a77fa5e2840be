terraform {
  required_providers {
    alloy = {
      source = "alloy-automation/alloy"
    }
  }
}

provider "alloy" {}

# The environment this configuration is applied to (one state per environment).
variable "environment" {
  type    = string
  default = "development"
}

# One Alloy end user per customer of your application. In production, deleting it is refused
# at plan time (destroy, removing this block, changing the username) until
# `deletion_protection = false` has been applied.
resource "alloy_user" "acme" {
  username            = "acme-corp@customers.example.com"
  full_name           = "Acme Corporation"
  deletion_protection = var.environment == "production"
}

# Tenants from a map: adding a key adds a user, removing one deletes it.
variable "tenants" {
  type = map(string)
  default = {
    "globex"  = "Globex Inc."
    "initech" = "Initech LLC"
  }
}

resource "alloy_user" "tenant" {
  for_each  = var.tenants
  username  = "${each.key}@customers.example.com"
  full_name = each.value
}

# Other infrastructure references the userId.
output "tenant_user_ids" {
  value = { for k, u in alloy_user.tenant : k => u.id }
}
