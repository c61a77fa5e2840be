terraform {
  required_providers {
    alloy = {
      source = "alloy-automation/alloy"
    }
  }
}

# Configured from ALLOY_API_KEY and ALLOY_ENVIRONMENT (or ALLOY_<ENVIRONMENT>_API_KEY).
provider "alloy" {}

# The addresses Alloy calls your systems from, for firewall and security-group rules.
# Built into the provider: reading it makes no API call.
data "alloy_ip_addresses" "alloy" {}

output "alloy_cidr_blocks" {
  value = data.alloy_ip_addresses.alloy.cidr_blocks
}
