//! Mapping suggestions on pairs with a known right answer, from the providers' own record
//! descriptions (`../shared/specs`) and the definitions' schemas. Each test prints how many
//! fields it gets right: `cargo test -p switchyard-tests --test integration suggest -- --nocapture`.

use switchyard::connector::Registry;
use switchyard::suggest::{load_schema, suggest, RecordShape, Source, Suggestion};
use switchyard_fakes::spec::{load_value, specs_dir};

/// The right source of each destination field (any of the names given), and how many the
/// suggestion got right; a suggestion naming another source for one of them is wrong.
fn grade(pair: &str, s: &Suggestion, expected: &[(&str, &[&str])]) -> (usize, Vec<String>) {
    let mut right = 0;
    let mut wrong = Vec::new();
    for (dest, sources) in expected {
        let got = s.field(dest).map(|f| match &f.source {
            Source::Field { path, .. } => path.clone(),
            Source::NamePart { path, part } => format!("{path} ({part:?})"),
        });
        match got {
            Some(g) if sources.contains(&g.as_str()) => right += 1,
            Some(g) => wrong.push(format!("{dest} <- {g}")),
            None => wrong.push(format!("{dest} <- (nothing)")),
        }
    }
    let others: Vec<String> = s
        .fields
        .iter()
        .filter(|f| !expected.iter().any(|(d, _)| *d == f.destination))
        .map(|f| format!("{} <- {:?} ({:.2})", f.destination, f.source, f.confidence))
        .collect();
    println!(
        "{pair}: {right} of {} fields right; missed or wrong: {wrong:?}; {} further suggestions: {others:?}; \
         required and unmatched: {:?}",
        expected.len(),
        others.len(),
        s.unmatched_required
    );
    (right, wrong)
}

fn stream_shape(registry: &Registry, connector: &str, stream: &str) -> RecordShape {
    let def = registry.get(connector).unwrap();
    let schema = def.streams[stream]
        .schema
        .as_ref()
        .expect("the stream names its schema");
    load_schema(schema, Some(&specs_dir())).unwrap()
}

fn write_shape(registry: &Registry, connector: &str, write: &str) -> RecordShape {
    let def = registry.get(connector).unwrap();
    let schema = def.writes[write].schema.as_ref().expect("the write names its schema");
    load_schema(schema, Some(&specs_dir())).unwrap()
}

fn spec_shape(file: &str, pointer: &str) -> RecordShape {
    let (_, doc) = load_value(file).unwrap();
    RecordShape::from_json_schema(&doc, pointer).unwrap()
}

#[test]
fn stripe_customer_to_hubspot_contact() {
    let registry = Registry::embedded().unwrap();
    let source = stream_shape(&registry, "stripe", "customers");
    let dest = write_shape(&registry, "hubspot", "contacts.upsert_by_email");
    let s = suggest(&source, &dest).unwrap();
    let expected: &[(&str, &[&str])] = &[
        ("properties.email", &["email"]),
        ("properties.firstname", &["name (First)"]),
        ("properties.lastname", &["name (Rest)"]),
        ("properties.phone", &["phone"]),
        ("properties.address", &["address.line1"]),
        ("properties.city", &["address.city"]),
        ("properties.state", &["address.state"]),
        ("properties.zip", &["address.postal_code"]),
        ("properties.country", &["address.country"]),
    ];
    let (right, wrong) = grade("stripe customer -> hubspot contact", &s, expected);
    assert_eq!(right, expected.len(), "{wrong:?}\n{}", s.mapping);
    assert!(s.unmatched_required.is_empty(), "{:?}", s.unmatched_required);
    // The contact's email comes with its reasons and a confidence.
    let email = s.field("properties.email").unwrap();
    assert!(email.confidence >= 0.8 && !email.reasons.is_empty(), "{email:?}");
}

#[test]
fn shopify_order_to_quickbooks_invoice() {
    // Shopify's REST order as its published description gives it (the connector reads the
    // GraphQL API, whose records are shaped differently), and the QuickBooks write's schema.
    let source = spec_shape("shopify/openapi.yml", "/components/schemas/Order");
    let registry = Registry::embedded().unwrap();
    let dest = write_shape(&registry, "quickbooks", "invoices.create_or_update");
    let s = suggest(&source, &dest).unwrap();
    let expected: &[(&str, &[&str])] = &[
        ("DocNumber", &["order_number", "number", "name"]),
        ("TxnDate", &["created_at", "processed_at"]),
        ("TotalAmt", &["total_price"]),
        ("CurrencyRef.value", &["currency"]),
        ("BillEmail.Address", &["email"]),
        ("BillAddr.Line1", &["billing_address.address1"]),
        ("BillAddr.City", &["billing_address.city"]),
        (
            "BillAddr.CountrySubDivisionCode",
            &["billing_address.province_code", "billing_address.province"],
        ),
        ("BillAddr.PostalCode", &["billing_address.zip"]),
        (
            "BillAddr.Country",
            &["billing_address.country", "billing_address.country_code"],
        ),
        ("ShipAddr.Line1", &["shipping_address.address1"]),
        ("ShipAddr.City", &["shipping_address.city"]),
        ("ShipAddr.PostalCode", &["shipping_address.zip"]),
    ];
    let (right, wrong) = grade("shopify order -> quickbooks invoice", &s, expected);
    assert_eq!(right, expected.len(), "{wrong:?}\n{}", s.mapping);
    // References to QuickBooks' own records are not guessed from Shopify's fields.
    assert!(s.field("CustomerRef.value").is_none() && s.field("ClassRef.name").is_none());
    // The amount is text in Shopify and a number in QuickBooks: converted.
    let total = s.field("TotalAmt").unwrap();
    assert!(total.expression.contains("tonumber"), "{total:?}");
    // A date-time cut to the invoice's date.
    assert!(s.field("TxnDate").unwrap().expression.contains("[0:10]"));
}

/// Every schema a definition names resolves to fields: the file exists under the specs folder
/// and the pointer finds a schema in it.
#[test]
fn every_record_schema_a_definition_names_resolves() {
    let registry = Registry::embedded().unwrap();
    let mut docs: std::collections::BTreeMap<String, serde_json::Value> = Default::default();
    let mut checked = 0;
    for id in registry.ids() {
        let def = registry.get(id).unwrap();
        let schemas = def
            .streams
            .iter()
            .filter_map(|(n, s)| Some((format!("streams.{n}"), s.schema.as_ref()?)))
            .chain(
                def.writes
                    .iter()
                    .filter_map(|(n, w)| Some((format!("writes.{n}"), w.schema.as_ref()?))),
            );
        for (at, schema) in schemas {
            let shape = match (&schema.spec, &schema.pointer, &schema.inline) {
                (Some(file), Some(pointer), None) => {
                    let doc = docs.entry(file.clone()).or_insert_with(|| load_value(file).unwrap().1);
                    RecordShape::from_json_schema(doc, pointer)
                }
                _ => load_schema(schema, None),
            };
            let shape = shape.unwrap_or_else(|e| panic!("{id} {at}: {e}"));
            assert!(!shape.fields.is_empty(), "{id} {at}");
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} schemas are named");
}

#[test]
fn hubspot_contact_to_mailchimp_member() {
    // HubSpot's contact as the stream reads it (default properties), and the member Mailchimp's
    // "Add or update list member" takes, with the default merge fields of a new audience.
    let registry = Registry::embedded().unwrap();
    let source = stream_shape(&registry, "hubspot", "contacts");
    let dest = write_shape(&registry, "mailchimp", "members.upsert");
    let s = suggest(&source, &dest).unwrap();
    let expected: &[(&str, &[&str])] = &[
        ("email_address", &["properties.email"]),
        ("merge_fields.FNAME", &["properties.firstname"]),
        ("merge_fields.LNAME", &["properties.lastname"]),
        ("merge_fields.PHONE", &["properties.phone", "properties.mobilephone"]),
        ("merge_fields.ADDRESS.addr1", &["properties.address"]),
        ("merge_fields.ADDRESS.city", &["properties.city"]),
        ("merge_fields.ADDRESS.state", &["properties.state"]),
        ("merge_fields.ADDRESS.zip", &["properties.zip"]),
        ("merge_fields.ADDRESS.country", &["properties.country"]),
    ];
    let (right, wrong) = grade("hubspot contact -> mailchimp member", &s, expected);
    assert_eq!(right, expected.len(), "{wrong:?}\n{}", s.mapping);
    // Nothing in a contact says whether a new member is subscribed: that is the user's call.
    assert_eq!(s.unmatched_required, vec!["status_if_new".to_string()]);
    // A member's status is not guessed from the contact's lifecycle stage or anything else.
    assert!(
        s.field("status").is_none() && s.field("status_if_new").is_none(),
        "{}",
        s.mapping
    );
}
