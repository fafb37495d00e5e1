# Stripe customer -> HubSpot contact, keyed by email (example flow 2, step 1 of 3).
# The contact keeps the customer's id in `stripe_customer_id` (a contact property the portal
# must have: Settings > Properties > Contact properties).
if (.email // "") == "" then error("customer \(.id) has no email") else . end
| {
    properties: {
      email: .email,
      firstname: ((.name // "") | split(" ") | .[0] // ""),
      lastname: ((.name // "") | split(" ") | .[1:] | join(" ")),
      stripe_customer_id: .id
    }
  }
