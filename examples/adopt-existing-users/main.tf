# Adopt every existing Alloy user whose username matches, in one `terraform apply`:
# the data source lists them, the import block imports each one, and the
# resource with the same for_each manages them from then on. The next plan is empty.
#
# To adopt the users of one workflow instead, set `workflow_id` in the data source.

terraform {
  required_version = ">= 1.10"
  required_providers {
    alloy = {
      source = "alloy-automation/alloy"
    }
  }
}

provider "alloy" {}

variable "username_regex" {
  description = "Which existing users to adopt, by username."
  type        = string
  default     = "^tenant-"
}

data "alloy_users" "existing" {
  username_regex = var.username_regex
}

locals {
  # Keyed by userId: stable for the life of a user.
  existing = { for u in data.alloy_users.existing.users : u.id => u }
}

import {
  for_each = local.existing
  to       = alloy_user.adopted[each.key]
  id       = each.key
}

resource "alloy_user" "adopted" {
  for_each  = local.existing
  username  = each.value.username
  full_name = each.value.full_name
}

output "adopted" {
  value = length(alloy_user.adopted)
}
