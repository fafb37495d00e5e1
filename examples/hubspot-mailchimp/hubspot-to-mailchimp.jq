# HubSpot contact -> Mailchimp audience member (example flow 1, one direction of two).
# HubSpot owns a contact's names and lifecycle stage: this direction writes only those, and the
# email that keys the member. A new member is `pending` (Mailchimp sends the double opt-in
# email); an existing member's status is Mailchimp's, and is never written from here.
# `LIFECYCLE` is a text merge field the audience must have (Audience > Settings > Audience
# fields and *|MERGE|* tags).
if (.properties.email // "") == "" then error("contact \(.id) has no email") else . end
| {
    email_address: .properties.email,
    status_if_new: "pending",
    merge_fields: {
      FNAME: (.properties.firstname // ""),
      LNAME: (.properties.lastname // ""),
      LIFECYCLE: (.properties.lifecyclestage // "")
    }
  }
