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

# The addresses Alloy calls your systems from, for firewall and security-group rules.
# Built into the provider: reading it makes no API call.
data "alloy_ip_addresses" "alloy" {}

output "alloy_cidr_blocks" {
  value = data.alloy_ip_addresses.alloy.cidr_blocks
}
