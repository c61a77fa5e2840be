# In a file ending in .tfquery.hcl, beside a .tf file that requires the provider; run with
# `terraform query` (Terraform 1.14 and later). `limit` defaults to 100.
list "alloy_user" "customers" {
  provider = alloy
  limit    = 1000

  config {
    username_regex = "@customers\\.example\\.com$"
  }
}

# Only the users of one workflow.
list "alloy_user" "slack_sync" {
  provider = alloy

  config {
    workflow_id = "a1f7fad397c0ac5b8339697b"
  }
}
