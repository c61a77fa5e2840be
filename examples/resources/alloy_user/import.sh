# An Alloy user can be imported by its userId or by its username. Alloy does not know the
# provider's state-only settings, so an imported user starts with `deletion_protection`,
# `purge_logs_on_destroy` and `delete_credentials_on_destroy` all false: set them in the
# configuration and apply (no API call) before relying on them for offboarding.
terraform import alloy_user.acme 68c3229752345278627ae373
terraform import alloy_user.acme acme-corp@customers.example.com
