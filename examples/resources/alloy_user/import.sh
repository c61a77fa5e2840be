# An Alloy user can be imported by its userId or by its username.
terraform import alloy_user.acme 68c3229752345278627ae373
terraform import alloy_user.acme acme-corp@customers.example.com
