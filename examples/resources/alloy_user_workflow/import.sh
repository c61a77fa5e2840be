# An installed workflow of a tenant can be imported as <userId>/<workflowId> or <username>/<workflowId>.
terraform import 'alloy_user_workflow.acme' 68c3229752345278627ae373/66326849aa11bb22cc33dd44
terraform import 'alloy_user_workflow.acme' acme-corp@customers.example.com/66326849aa11bb22cc33dd44
