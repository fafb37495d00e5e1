# Stripe charge -> a row of the BigQuery table `charges` (tabledata.insertAll):
#   id STRING REQUIRED, amount INTEGER, currency STRING, status STRING, customer STRING,
#   description STRING, created TIMESTAMP.
# Every key must be a column of the table (BigQuery refuses a row with an unknown field);
# `id` is also the row's insertId, so a charge sent twice is kept once.
{
  id: .id,
  amount: .amount,
  currency: .currency,
  status: .status,
  customer: .customer,
  description: .description,
  created: (.created | todate)
}
