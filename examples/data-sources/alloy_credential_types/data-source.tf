terraform {
  required_providers {
    alloy = {
      source = "alloy-automation/alloy"
    }
  }
}

provider "alloy" {}

# The account's credential types, in one API call.
data "alloy_credential_types" "all" {}

# Those alloy_credential can create (the others need the end user's consent in Alloy's modal),
# with the properties each requires in `data`.
output "headless_types" {
  value = {
    for t in data.alloy_credential_types.all.types : t.name => [
      for p in t.properties : p.name if p.required == true
    ] if !t.oauth
  }
}
