//! SAP S/4HANA (`shared/connectors/sap-s4hana.yaml`): business partners through the OData v2
//! service API_BUSINESS_PARTNER.
//!
//! Against the OData fake (`switchyard_fakes::odata` with `fakes/profiles/sap-s4hana.yaml`),
//! built from SAP's own service metadata (`sap-s4hana/API_BUSINESS_PARTNER.edmx`): every request
//! (entity set, key literal, `$filter` property and literal types, body properties and their
//! creatable/updatable flags) and every response (verbose JSON, each entity's Edm types) is
//! checked against the EDMX, and the fake must record no violation. 250 partners in pages of
//! 100 linked by `__next`; incremental reads filter on LastChangeDate; writes go through SAP
//! Gateway's CSRF check, including a token that expires between writes.

use serde_json::{json, Value};
use switchyard::connector::{ErrorClass, StreamState, WriteResult};
use switchyard_fakes::odata::{self, ODataConfig};

use super::{client, prove_check, prove_stream, prove_write, StreamCase, WriteCase};

pub const USER: &str = "SWITCHYARD_COMM";
pub const PASSWORD: &str = "fake-sap-password";
const CLIENT_ID: &str = "SWITCHYARD_OAUTH_CLIENT";
const CLIENT_SECRET: &str = "fake-sap-client-secret";
pub const SERVICE: &str = "/sap/opu/odata/sap/API_BUSINESS_PARTNER";
const SET: &str = "A_BusinessPartner";

#[tokio::test]
async fn sap_s4hana() {
    let fake = odata::start("sap-s4hana", ODataConfig::default());
    let c = client(
        "sap-s4hana",
        &fake.url(SERVICE),
        &[("username", USER), ("password", PASSWORD)],
        json!({}),
    );
    prove_check(&c).await;
    prove_stream(
        &c,
        StreamCase {
            stream: "business_partners",
            expected: fake.count(SET),
            change: Box::new(|full: &[Value]| {
                let mut ids: Vec<String> = full
                    .iter()
                    .take(2)
                    .map(|r| {
                        let id = r["BusinessPartner"].as_str().expect("string keys").to_owned();
                        fake.update(SET, &id, json!({"LastName": format!("Changed {id}")}))
                            .expect("the partner exists");
                        id
                    })
                    .collect();
                let created = fake
                    .insert(
                        SET,
                        json!({"BusinessPartnerCategory": "2", "OrganizationBPName1": "New Org"}),
                    )
                    .expect("a served set");
                ids.push(created["BusinessPartner"].as_str().expect("string keys").to_owned());
                ids
            }),
            object: Box::new(|id| fake.entity(SET, id)),
            compare: &[
                "/BusinessPartner",
                "/LastName",
                "/BusinessPartnerFullName",
                "/LastChangeDate",
                "/LastChangeTime",
            ],
            missing_id: "9999999999",
        },
    )
    .await;

    // Creates: a partner of an undefined category is refused by SAP's checks, the others are
    // written and read back.
    let verify_created = |record: &Value, id: Option<&str>| {
        let id = id.expect("the created partner's number is returned");
        let stored = fake
            .entity(SET, id)
            .unwrap_or_else(|| panic!("partner {id} was created"));
        for field in [
            "BusinessPartnerCategory",
            "FirstName",
            "LastName",
            "OrganizationBPName1",
        ] {
            if let Some(sent) = record.get(field) {
                assert_eq!(&stored[field], sent, "{field} of {id}");
            }
        }
    };
    let before = fake.fetches_and_refusals();
    prove_write(
        &c,
        WriteCase {
            operation: "business_partners.create",
            records: vec![
                json!({"BusinessPartnerCategory": "1", "FirstName": "Ada", "LastName": "Lovelace"}),
                json!({"BusinessPartnerCategory": "9", "FirstName": "No", "LastName": "Category"}),
                json!({"BusinessPartnerCategory": "2", "OrganizationBPName1": "Analytical Engines Ltd"}),
            ],
            refused: &[1],
            verify: Box::new(verify_created),
        },
    )
    .await;
    assert_eq!(
        fake.fetches_and_refusals(),
        (before.0 + 1, before.1),
        "one CSRF token fetch serves every write of the client"
    );

    // Updates, after the session's token expired: the first write is refused with
    // `x-csrf-token: Required`, the token is fetched again once, and the writes go through.
    fake.expire_csrf_tokens();
    let first = fake.entities(SET)[0]["BusinessPartner"]
        .as_str()
        .expect("a key")
        .to_owned();
    let second = fake.entities(SET)[1]["BusinessPartner"]
        .as_str()
        .expect("a key")
        .to_owned();
    prove_write(
        &c,
        WriteCase {
            operation: "business_partners.update",
            records: vec![
                json!({"BusinessPartner": first, "LastName": "Byron"}),
                json!({"BusinessPartner": second, "BusinessPartnerCategory": "7"}),
                json!({"BusinessPartner": "9999999999", "LastName": "Nobody"}),
                json!({"LastName": "No key"}),
            ],
            refused: &[1, 2, 3],
            verify: Box::new(|record, _| {
                let id = record["BusinessPartner"].as_str().expect("a key");
                let stored = fake.entity(SET, id).expect("the partner exists");
                assert_eq!(stored["LastName"], record["LastName"], "LastName of {id}");
                assert_eq!(
                    stored["BusinessPartnerFullName"],
                    json!(format!("First1 {}", record["LastName"].as_str().unwrap_or_default()))
                );
            }),
        },
    )
    .await;
    let after = fake.fetches_and_refusals();
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (2, 1),
        "the expired token is refused once and fetched again once"
    );
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}

/// The same service through OAuth 2.0 client credentials (the definition's second auth
/// alternative): a token from the system's token endpoint, then bearer reads and a write with
/// the CSRF pre-flight. A wrong client secret is a re-auth, not a retry.
#[tokio::test]
async fn sap_s4hana_with_oauth_client_credentials() {
    let fake = odata::start("sap-s4hana", ODataConfig::default());
    switchyard_tests::log_capture::known_secret(CLIENT_SECRET);
    let token_url = fake.url("/sap/bc/sec/oauth2/token");
    let c = client(
        "sap-s4hana",
        &fake.url(SERVICE),
        &[("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)],
        json!({"token_url": token_url}),
    );
    prove_check(&c).await;
    let page = c
        .read_page("business_partners", &StreamState::full_refresh())
        .await
        .expect("a bearer read");
    assert!(!page.records.is_empty());
    let results = c
        .write_batch(
            "business_partners.create",
            &[json!({"BusinessPartnerCategory": "2", "OrganizationBPName1": "Bearer Token Ltd"})],
        )
        .await
        .expect("the write goes through");
    let WriteResult::Ok {
        destination_id: Some(id),
    } = &results[0]
    else {
        panic!("created: {results:?}");
    };
    assert_eq!(
        fake.entity(SET, id).expect("stored")["OrganizationBPName1"],
        "Bearer Token Ltd"
    );

    let refused = client(
        "sap-s4hana",
        &fake.url(SERVICE),
        &[("client_id", CLIENT_ID), ("client_secret", "not-the-secret")],
        json!({"token_url": token_url}),
    );
    let e = refused
        .read_page("business_partners", &StreamState::full_refresh())
        .await
        .expect_err("the token endpoint refuses the client");
    assert_eq!(e.class, ErrorClass::ReAuth, "{e}");
    assert!(!e.message.contains("not-the-secret"), "{e}");
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}
