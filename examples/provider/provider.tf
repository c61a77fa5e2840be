terraform {
  required_providers {
    alloy = {
      source  = "alloy-automation/alloy"
      version = "~> 0.1"
    }
  }
}

# Credentials come from the environment; nothing secret lives in the configuration. Alloy's
# dashboard shows one key per environment under Settings → API Keys:
#   ALLOY_ENVIRONMENT=production
#   ALLOY_PRODUCTION_API_KEY=...   (the environment's own variable; in CI prefer it to ALLOY_API_KEY)
provider "alloy" {}

# Or pin the environment in code, so this workspace can only ever manage production users.
provider "alloy" {
  alias       = "production"
  environment = "production"
}
