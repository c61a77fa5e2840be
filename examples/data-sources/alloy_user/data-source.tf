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

# In practice Jane was created outside Terraform, for example by your application's sign-up
# flow, and only the data block below is needed. Here she is created too, so that the example
# runs as written against an empty environment (such as the local emulator).
resource "alloy_user" "jane" {
  username  = "jane@example.com"
  full_name = "Jane Doe"
}

# Look a user up by `username` or by `id`, not both. `depends_on` is needed only because the
# same configuration creates the user: it makes Terraform read after the create.
data "alloy_user" "jane" {
  username   = "jane@example.com"
  depends_on = [alloy_user.jane]
}

output "jane_user_id" {
  value = data.alloy_user.jane.id
}
