//! Tableau (`shared/connectors/tableau.yaml`).
//!
//! Against the hand-written fake (`switchyard_fakes::tableau`). Tableau publishes no
//! description of its REST API: the fake follows the REST API reference and checks the shapes
//! itself (its header names the pages). Signs in with a personal access token (`type:
//! session`), sends `X-Tableau-Auth`; refreshes two extracts and a live data source (refused:
//! no extract). The connection names only the site's content URL: the site id in every path is
//! the one the sign-in answered (`capture`; the fake refuses any other site in a URL). After the
//! server revokes the session, the next refresh signs in again.

use serde_json::{json, Value};
use switchyard_fakes::tableau::{self, TableauConfig, EXTRACTS, LIVE, SITE, TOKEN_NAME, TOKEN_SECRET};

use super::{client, prove_check, prove_write, WriteCase};

#[tokio::test]
async fn tableau() {
    let fake = tableau::start(TableauConfig::default());
    let c = client(
        "tableau",
        &fake.base_url,
        &[("token_name", TOKEN_NAME), ("token_secret", TOKEN_SECRET)],
        json!({"site": SITE}),
    );
    prove_check(&c).await;
    let f = &fake;
    prove_write(
        &c,
        WriteCase {
            operation: "datasources.refresh",
            records: vec![
                json!({"datasource_id": EXTRACTS[0]}),
                json!({"datasource_id": LIVE}),
                json!({"datasource_id": EXTRACTS[1]}),
            ],
            refused: &[1],
            verify: Box::new(move |record: &Value, job: Option<&str>| {
                let job = job.expect("the job id is the destination id");
                assert_eq!(f.jobs().get(job).map(String::as_str), record["datasource_id"].as_str());
            }),
        },
    )
    .await;
    assert_eq!(fake.sign_ins(), 1, "one session for every call");
    fake.expire_sessions();
    let results = c
        .write_batch("datasources.refresh", &[json!({"datasource_id": EXTRACTS[0]})])
        .await
        .expect("the refresh signs in again");
    assert!(
        matches!(results[0], switchyard::connector::WriteResult::Ok { .. }),
        "{results:?}"
    );
    assert_eq!(fake.sign_ins(), 2);
    assert_eq!(fake.jobs().len(), 3);
}
