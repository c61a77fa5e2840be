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

# This data source writes the token into the state in clear text, and the token expires within
# 30 minutes. Prefer the `alloy_user_token` ephemeral resource, which is never stored.
data "alloy_user_token" "jane" {
  user_id = "jane@example.com"
}

output "jane_token" {
  value     = data.alloy_user_token.jane.token
  sensitive = true
}

output "jane_token_expires_at" {
  value = data.alloy_user_token.jane.expires_at
}
