# Mailchimp email activity -> a note on the HubSpot contact's timeline (example flow 5).
# A record is one recipient of one campaign with every open and click so far; its note says
# how often they opened, what they clicked, and when they last did. `$links.contact` is the
# contact the members flow (example flow 1's Mailchimp -> HubSpot direction) wrote for the
# member (the lookup's key is `email_id`, the member's subscriber hash); a recipient without
# a contact yet is dropped (counted as filtered) and taken again by the next run. New activity
# updates the same note (the flow's link holds its id): one note per campaign and contact.
if $links.contact == null then empty
else
  ([.activity[] | select(.action == "open")] | length) as $opens
  | ([.activity[] | select(.action == "click") | .url] | unique) as $clicked
  | {
      properties: {
        hs_timestamp: .last_activity,
        hs_note_body: (
          "Mailchimp campaign \(.campaign_id): opened \($opens) time\(if $opens == 1 then "" else "s" end)"
          + (if $clicked == [] then ", no clicks" else ", clicked \($clicked | join(", "))" end)
          + "; last activity \(.last_activity)."
        )
      },
      associations: [
        {to: {id: $links.contact}, types: [{associationCategory: "HUBSPOT_DEFINED", associationTypeId: 202}]}
      ]
    }
end
