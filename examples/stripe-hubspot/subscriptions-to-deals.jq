# Stripe subscription -> HubSpot deal (example flow 2, step 2 of 3).
# One deal per subscription, in the default pipeline: won while the subscription is live,
# lost once it ends. The amount is a year of the plan (its amount is in cents). Later changes to
# the subscription update the same deal (the flow's record link holds the deal's id).
def stage:
  if .status == "active" or .status == "trialing" or .status == "past_due" then "closedwon"
  elif .status == "incomplete" then "contractsent"
  else "closedlost" end;
(.plan // .items.data[0].plan) as $plan
| ((.quantity // 1) * ($plan.amount // 0)) as $cents
| (if $plan.interval == "year" then 1 elif $plan.interval == "week" then 52 else 12 end) as $per_year
| {
    properties: {
      dealname: "\($plan.nickname // $plan.name // $plan.id) subscription \(.id)",
      amount: (($cents * $per_year) as $year
               | if $year % 100 == 0 then ($year / 100 | floor | tostring) else ($year / 100 | tostring) end),
      dealstage: stage,
      pipeline: "default",
      closedate: (.start_date // .created | todate)
    }
  }
