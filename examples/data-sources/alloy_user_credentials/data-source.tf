terraform {
  required_version = ">= 1.11" # write-only attributes
  required_providers {
    alloy = {
      source = "alloy-automation/alloy"
    }
  }
}

provider "alloy" {}

resource "alloy_user" "acme" {
  username = "acme-corp@customers.example.com"
}

variable "warehouse_password" {
  type      = string
  sensitive = true
  ephemeral = true
  default   = "example-password-replace-me"
}

resource "alloy_credential" "warehouse" {
  user_id = alloy_user.acme.id
  type    = "snowflake"
  data = {
    account   = "acme-xy12345"
    username  = "ALLOY_SYNC"
    password  = var.warehouse_password
    warehouse = "SYNC_WH"
  }
}

# Every credential of the tenant, OAuth ones (connected by the end user) included.
data "alloy_user_credentials" "acme" {
  user_id    = alloy_user.acme.id
  depends_on = [alloy_credential.warehouse]
}

# Only its Snowflake credentials.
data "alloy_user_credentials" "acme_snowflake" {
  user_id    = alloy_user.acme.id
  type       = "snowflake"
  depends_on = [alloy_credential.warehouse]
}

output "credential_types" {
  value = data.alloy_user_credentials.acme.credentials[*].type
}

output "snowflake_ids" {
  value = data.alloy_user_credentials.acme_snowflake.credentials[*].id
}
