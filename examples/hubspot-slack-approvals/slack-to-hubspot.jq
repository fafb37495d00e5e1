# Slack click -> HubSpot deal stage (example flow 6, the way back).
# A click on a button of deal-to-slack.jq's message (`block_actions`, the `deal_approval`
# block) moves the deal its `value` names to the approved or rejected stage. Clicks on other
# apps' buttons are dropped by `select`. The last click on a message wins: Reject after
# Approve moves the deal again; the same choice twice writes nothing the second time.
# Change the two definitions to your pipeline's stage ids.
def approved: "approved";
def rejected: "rejected";

.actions[0] as $click
| select($click.block_id == "deal_approval" and ($click.action_id == "approve" or $click.action_id == "reject"))
| {
    id: $click.value,
    properties: {dealstage: (if $click.action_id == "approve" then approved else rejected end)}
  }
