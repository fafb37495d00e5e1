# Stripe subscription -> association of its deal with its customer's contact (example flow 2,
# step 3 of 3). `$links.deal` is the deal step 2 wrote for this subscription, `$links.contact`
# the contact step 1 wrote for its customer (the flow's lookups). Until both exist the
# subscription is dropped (counted as filtered) and taken again by its next event or run.
if $links.deal == null or $links.contact == null then empty
else {id: $links.deal, contact_id: $links.contact}
end
