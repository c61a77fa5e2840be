# In a file ending in .tfquery.hcl; run with `terraform query` (Terraform 1.14 and later).
# Every tenant that runs the workflow, as alloy_user_workflow results.
list "alloy_user_workflow" "slack_sync" {
  provider = alloy
  limit    = 1000

  config {
    workflow_id = "a1f7fad397c0ac5b8339697b"
    active      = true
  }
}
