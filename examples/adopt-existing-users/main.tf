# Adopt every existing Alloy user whose username matches, in one `terraform apply`:
# the data source lists them, the import block imports each one, and the resource with the
# same for_each manages them from then on. The next plan is empty.
#
# Two guards stop a typo in the filter from planning to destroy every adopted user:
# - the data source's postcondition fails the plan when the filter matches nobody (or not
#   `expected_count` users, when you set it);
# - `deletion_protection = true` makes any plan that would delete an adopted user fail.
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

variable "expected_count" {
  description = "How many users the filter must match; null accepts any number but zero."
  type        = number
  default     = null
}

data "alloy_users" "existing" {
  username_regex = var.username_regex

  lifecycle {
    postcondition {
      condition     = length(self.users) > 0 && (var.expected_count == null || length(self.users) == var.expected_count)
      error_message = "The filter matched ${length(self.users)} users, expected ${var.expected_count == null ? "at least one" : var.expected_count}. Check username_regex before applying: an empty match would plan to destroy every adopted user."
    }
  }
}

locals {
  # Keyed by username, as users are once Terraform owns them: the same keys in a literal map
  # later plan no change, and a new key is a new tenant. (`alloy_user` needs a username, so
  # users Alloy lists without one are left out.)
  existing = { for u in data.alloy_users.existing.users : u.username => u if u.username != null }
}

import {
  for_each = local.existing
  to       = alloy_user.adopted[each.key]
  id       = each.value.id
}

resource "alloy_user" "adopted" {
  for_each            = local.existing
  username            = each.value.username
  full_name           = each.value.full_name
  deletion_protection = true
}

output "adopted" {
  value = length(alloy_user.adopted)
}
