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

# A user that Terraform does not manage, for example one created by your application's sign-up
# flow. Look it up by `username` or by `id`, not both.
data "alloy_user" "jane" {
  username = "jane@example.com"
}

output "jane_user_id" {
  value = data.alloy_user.jane.id
}
