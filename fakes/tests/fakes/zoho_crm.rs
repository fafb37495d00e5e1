//! The Zoho CRM fake: its accounts server issues tokens that name the API server, and the API
//! server's traffic is checked against Zoho's spec (a request the spec forbids is recorded).

use serde_json::json;
use switchyard_fakes::zoho_crm::{self, ZohoConfig, CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN};

use crate::{client, parts};

#[tokio::test]
async fn tokens_name_the_api_server_and_a_request_the_spec_forbids_is_recorded() {
    let zoho = zoho_crm::start(ZohoConfig {
        records: 3,
        ..ZohoConfig::default()
    });
    let http = client();
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("refresh_token", REFRESH_TOKEN),
    ];
    let (status, _, token) = parts(
        http.post(zoho.accounts.url("/oauth/v2/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(form)
                    .finish(),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(token["api_domain"], json!(zoho.api.base_url));
    let auth = format!("Zoho-oauthtoken {}", token["access_token"].as_str().unwrap());

    let (status, _, body) = parts(
        http.get(zoho.api.url("/crm/v2.1/Leads?per_page=2&fields=Email"))
            .header("authorization", &auth)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["info"]["more_records"], json!(true));
    assert!(zoho.api.violations.all().is_empty(), "{:#?}", zoho.api.violations.all());

    // per_page above Zoho's 200 breaks the (patched) spec: recorded as a violation.
    let _ = http
        .get(zoho.api.url("/crm/v2.1/Leads?per_page=500"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    let violations = zoho.api.violations.all();
    assert!(
        violations.iter().any(|v| format!("{v:?}").contains("per_page")),
        "{violations:#?}"
    );

    // A wrong token is Zoho's INVALID_TOKEN.
    let (status, _, body) = parts(
        http.get(zoho.api.url("/crm/v2.1/Leads"))
            .header("authorization", "Zoho-oauthtoken nope")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (401, Some("INVALID_TOKEN")));
}
