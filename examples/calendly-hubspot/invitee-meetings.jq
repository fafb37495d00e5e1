# Calendly invitee -> a meeting on the HubSpot contact's timeline (example flow 4, step 2 of 2).
# `$links.contact` is the contact step 1 wrote for this invitee (the flow's lookup on the
# invitee's URI); the meeting is associated with it (type 200: meeting to contact). The time
# and title come from the scheduled event Calendly's webhook embeds (`scheduled_event`); an
# invitee without it (a list read by a scheduled run) or without its contact yet is dropped
# (counted as filtered) and taken again by its next event. A cancellation updates the same
# meeting (the flow's link holds its id).
if $links.contact == null or .scheduled_event == null then empty
else
  {
    properties: {
      hs_timestamp: .scheduled_event.start_time,
      hs_meeting_title: .scheduled_event.name,
      hs_meeting_start_time: .scheduled_event.start_time,
      hs_meeting_end_time: .scheduled_event.end_time,
      hs_meeting_location: (.scheduled_event.location.location // ""),
      hs_meeting_outcome: (if .status == "canceled" then "CANCELED" else "SCHEDULED" end),
      hs_meeting_body: "Booked through Calendly by \(.name) (\(.email))."
    },
    associations: [
      {to: {id: $links.contact}, types: [{associationCategory: "HUBSPOT_DEFINED", associationTypeId: 200}]}
    ]
  }
end
