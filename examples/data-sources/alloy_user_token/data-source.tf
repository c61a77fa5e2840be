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

# This data source writes the token into the state in clear text, and the token expires within
# 30 minutes. Prefer the `alloy_user_token` ephemeral resource, which is never stored.
# `user_id` also takes the userId or username of a user Terraform does not manage.
data "alloy_user_token" "jane" {
  user_id = alloy_user.jane.id
}

output "jane_token" {
  value     = data.alloy_user_token.jane.token
  sensitive = true
}

output "jane_token_expires_at" {
  value = data.alloy_user_token.jane.expires_at
}
