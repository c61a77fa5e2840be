# A stored credential can be imported as <userId>/<credentialId> (data.alloy_user_credentials lists
# the ids). Terraform cannot read the secret back: keep `data` in the configuration as it is, and
# either set `data_version` (recording it replaces nothing) or bump it later to replace the
# credential with the configured `data`.
terraform import 'alloy_credential.acme_api' 68c3229752345278627ae373/63252d8f1a2b3c4d5e6f7a8b
