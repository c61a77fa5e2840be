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

resource "alloy_user" "ada" {
  username  = "ada@example.com"
  full_name = "Ada Lovelace"
}

# A fresh token for Ada, fetched during each plan and apply that needs it and never written to
# the plan or the state.
ephemeral "alloy_user_token" "ada" {
  user_id = alloy_user.ada.id
}

# Ephemeral values can go to provider blocks, write-only arguments, ephemeral variables and
# outputs, and provisioners. Here a command receives the token through its environment, so it
# appears neither on a command line nor in Terraform's output.
resource "terraform_data" "hand_over_token" {
  triggers_replace = alloy_user.ada.id

  provisioner "local-exec" {
    command = "test -n \"$ALLOY_USER_TOKEN\" && echo \"Token for Ada valid until $ALLOY_USER_TOKEN_EXPIRES_AT\""
    environment = {
      ALLOY_USER_TOKEN            = ephemeral.alloy_user_token.ada.token
      ALLOY_USER_TOKEN_EXPIRES_AT = ephemeral.alloy_user_token.ada.expires_at
    }
  }
}
