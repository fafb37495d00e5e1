# Mailchimp audience member -> HubSpot contact (example flow 1, the other direction).
# Mailchimp owns the subscription status: this direction writes only that (as the contact
# property `mailchimp_status`, which the portal must have), and the email that keys the
# contact.
{
  properties: {
    email: .email_address,
    mailchimp_status: .status
  }
}
