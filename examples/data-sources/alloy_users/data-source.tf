# Every user of the provider's environment.
data "alloy_users" "all" {}

# Only the users whose username matches (users without a username are skipped).
data "alloy_users" "tenants" {
  username_regex = "^tenant-[0-9]+@example\\.com$"
}

output "tenant_ids" {
  value = { for u in data.alloy_users.tenants.users : u.username => u.id }
}
