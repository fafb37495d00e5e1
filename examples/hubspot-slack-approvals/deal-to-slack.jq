# HubSpot deal -> Slack approval request (example flow 6, the way out).
# A deal that reaches the stage awaiting approval is posted to the approvals channel with
# Approve / Reject buttons (Block Kit); every other deal is dropped by `select` (the flow counts
# it as filtered and writes nothing). Each button's `value` is the deal's id, which the click
# brings back (slack-to-hubspot.jq).
# Change the two definitions to your channel and your pipeline's stage id (Settings > Objects >
# Deals > Pipelines: each stage's internal id).
def channel: "#deal-approvals";
def awaiting_approval: "contractsent";

select(.properties.dealstage == awaiting_approval)
| (.properties.dealname // "Deal \(.id)") as $name
| (if (.properties.amount // "") == "" then "" else " (\(.properties.amount))" end) as $amount
| {
    channel: channel,
    text: "Approval needed: \($name)\($amount)",
    blocks: [
      {type: "section", text: {type: "mrkdwn", text: "*Approval needed:* \($name)\($amount)"}},
      {
        type: "actions",
        block_id: "deal_approval",
        elements: [
          {type: "button", action_id: "approve", style: "primary",
           text: {type: "plain_text", text: "Approve"}, value: .id},
          {type: "button", action_id: "reject", style: "danger",
           text: {type: "plain_text", text: "Reject"}, value: .id}
        ]
      }
    ]
  }
