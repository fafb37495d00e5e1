# Calendly invitee -> HubSpot contact, keyed by email (example flow 4, step 1 of 2).
{
  properties: {
    email: .email,
    firstname: (.first_name // (.name | split(" ") | .[0])),
    lastname: (.last_name // (.name | split(" ") | .[1:] | join(" ")))
  }
}
