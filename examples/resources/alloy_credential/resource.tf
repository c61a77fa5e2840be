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
  # Offboarding: destroying the tenant also erases what Alloy keeps about it.
  purge_logs_on_destroy         = true
  delete_credentials_on_destroy = true
}

# The tenant's API key for an app authenticated by an HTTP header. Pass it from a secret store
# or `TF_VAR_acme_api_key`; being ephemeral, it is kept in no plan or state file.
variable "acme_api_key" {
  type      = string
  sensitive = true
  ephemeral = true
  default   = "example-key-replace-me"
}

# Bump when the key changes: Alloy cannot update a credential, so a new one replaces it.
variable "acme_api_key_version" {
  type    = number
  default = 1
}

resource "alloy_credential" "acme_api" {
  user_id = alloy_user.acme.id
  type    = "httpHeaderAuth"
  data = {
    fieldName = "X-Api-Key"
    value     = var.acme_api_key
  }
  data_version = var.acme_api_key_version
}

output "acme_api_credential_id" {
  value = alloy_credential.acme_api.id
}
