# Stripe charge -> a row of the Snowflake table RAW_CHARGES (ID TEXT NOT NULL, RECORD VARIANT):
# `id` goes to ID, the whole object to RECORD (an INSERT ... SELECT ?, PARSE_JSON(?) with
# bindings). Query it with RECORD:amount::NUMBER, RECORD:created::TIMESTAMP_NTZ, ...
{
  id: .id,
  amount: .amount,
  amount_refunded: .amount_refunded,
  currency: .currency,
  status: .status,
  paid: .paid,
  customer: .customer,
  payment_method: .payment_method,
  description: .description,
  metadata: (.metadata // {}),
  created: (.created | todate)
}
