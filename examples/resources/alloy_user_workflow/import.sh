# An installed workflow of a tenant can be imported as <userId>/<workflowId> or <username>/<workflowId>.
terraform import 'alloy_user_workflow.acme' 68c3229752345278627ae373/a1f7fad397c0ac5b8339697b
terraform import 'alloy_user_workflow.acme' acme-corp@customers.example.com/a1f7fad397c0ac5b8339697b
