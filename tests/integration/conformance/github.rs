//! GitHub (`shared/connectors/github.yaml`).
//!
//! Against the hand-written fake (`switchyard_fakes::github`), whose traffic is checked
//! against `github/api.github.com.yaml` from the specs folder. 250 issues and 250 pull
//! requests interleaved in one repository, and 250 repositories: a full read of each stream is
//! at least three pages of 100 (the issues list holds both, so issues take five pages with
//! the pull requests dropped); an incremental read after five items changed returns exactly
//! those (seeded items are two minutes apart, past the 60 s lookback); pull requests come back
//! through the issues list read as a change feed. Each write sends a batch with one record
//! GitHub refuses (a blank title, an unknown milestone).

use serde_json::{json, Value};
use switchyard_fakes::github::{self, GithubConfig, OWNER, REPO, TOKEN};

use super::{client, prove_check, prove_stream, prove_write, StreamCase, WriteCase};

const SEEDED: usize = 250;

#[tokio::test]
async fn github() {
    let gh = github::start(GithubConfig {
        issues: SEEDED,
        pulls: SEEDED,
        repos: SEEDED - 1,
        ..GithubConfig::default()
    });
    let c = client(
        "github",
        &gh.base_url,
        &[("token", TOKEN)],
        json!({"owner": OWNER, "repo": REPO}),
    );
    let number = |r: &Value| r["number"].as_u64().expect("numbered items");

    // The newest five of each stream change (the full read is sorted by update, oldest first).
    let gh_ref = &gh;
    prove_stream(
        &c,
        StreamCase {
            stream: "issues",
            expected: gh.issue_count(),
            change: Box::new(move |records: &[Value]| {
                records
                    .iter()
                    .rev()
                    .take(5)
                    .map(|r| {
                        let n = number(r);
                        gh_ref
                            .touch(n, &format!("Changed issue {n}"))
                            .expect("the issue exists");
                        n.to_string()
                    })
                    .collect()
            }),
            object: Box::new(move |id| gh_ref.issue_json(id.parse().ok()?)),
            compare: &["/number", "/title", "/state", "/updated_at"],
            missing_id: "999999",
        },
    )
    .await;
    prove_stream(
        &c,
        StreamCase {
            stream: "pull_requests",
            expected: gh.pull_count(),
            change: Box::new(move |records: &[Value]| {
                records
                    .iter()
                    .rev()
                    .take(5)
                    .map(|r| {
                        let n = number(r);
                        gh_ref
                            .touch(n, &format!("Changed pull {n}"))
                            .expect("the pull request exists");
                        n.to_string()
                    })
                    .collect()
            }),
            object: Box::new(move |id| gh_ref.pull_json(id.parse().ok()?)),
            compare: &["/number", "/title", "/state", "/updated_at"],
            missing_id: "999999",
        },
    )
    .await;
    prove_stream(
        &c,
        StreamCase {
            stream: "repositories",
            expected: gh.repo_count(),
            change: Box::new(move |records: &[Value]| {
                records
                    .iter()
                    .rev()
                    .skip(1) // hello-world stays as it is
                    .take(5)
                    .map(|r| {
                        let name = r["name"].as_str().expect("named repositories").to_owned();
                        gh_ref.touch_repo(&name, "Changed").expect("the repository exists");
                        name
                    })
                    .collect()
            }),
            object: Box::new(move |id| gh_ref.repo_json(id)),
            compare: &["/name", "/full_name", "/description", "/updated_at"],
            missing_id: "no-such-repository",
        },
    )
    .await;
    prove_check(&c).await;

    // Every written issue holds the record's values under the returned number.
    let holds = Box::new(move |record: &Value, id: Option<&str>| {
        let n: u64 = id.expect("the issue number is returned").parse().expect("a number");
        let issue = gh_ref.issue_json(n).unwrap_or_else(|| panic!("issue {n} was written"));
        for field in ["title", "body", "state"] {
            if let Some(value) = record.get(field) {
                assert_eq!(&issue[field], value, "issue {n}: {field}");
            }
        }
        if let Some(labels) = record.get("labels").and_then(Value::as_array) {
            let held: Vec<&Value> = issue["labels"].as_array().unwrap().iter().map(|l| &l["name"]).collect();
            assert_eq!(held, labels.iter().collect::<Vec<_>>(), "issue {n}: labels");
        }
        if let Some(milestone) = record.get("milestone") {
            assert_eq!(&issue["milestone"]["number"], milestone, "issue {n}: milestone");
        }
    }) as super::Verify<'_>;
    let before = gh.issue_count();
    prove_write(
        &c,
        WriteCase {
            operation: "issues.create",
            records: vec![
                json!({"title": "Found a bug", "body": "It crashes", "labels": ["bug"], "milestone": 1}),
                json!({"title": "   ", "body": "A blank title is refused"}),
                json!({"title": "Plan v2", "milestone": 7}),
                json!({"title": "Write the docs"}),
            ],
            refused: &[1, 2],
            verify: holds,
        },
    )
    .await;
    assert_eq!(gh.issue_count(), before + 2, "two issues opened, two refused");

    let holds = Box::new(move |record: &Value, id: Option<&str>| {
        let n: u64 = id.expect("the issue number is returned").parse().expect("a number");
        assert_eq!(record["number"].as_u64(), Some(n), "updated in place");
        let issue = gh_ref.issue_json(n).unwrap();
        for field in ["title", "state"] {
            if let Some(value) = record.get(field) {
                assert_eq!(&issue[field], value, "issue {n}: {field}");
            }
        }
    }) as super::Verify<'_>;
    prove_write(
        &c,
        WriteCase {
            operation: "issues.update",
            records: vec![
                json!({"number": 1, "state": "closed", "state_reason": "completed"}),
                json!({"number": 3, "milestone": 99}),
                json!({"number": 5, "title": "Renamed"}),
            ],
            refused: &[1],
            verify: holds,
        },
    )
    .await;

    let violations = gh.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}

/// A fresh 2048-bit RSA key pair as PEM (private PKCS#8, public SPKI), generated at test time
/// so no key is ever committed.
fn generated_rsa_pem() -> (String, String) {
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("an RSA key");
    let private = key.to_pkcs8_pem(LineEnding::LF).expect("PEM").to_string();
    let public = key.to_public_key().to_public_key_pem(LineEnding::LF).expect("PEM");
    (private, public)
}

/// GitHub App auth: the connector signs the app's JWT with its private key, mints an
/// installation token at the fake (which verifies the JWT with the public key), and reads and
/// writes with it; one token serves every call.
#[tokio::test]
async fn github_app() {
    const APP: &str = "Iv23liFakeAppClientId";
    const INSTALLATION: u64 = 52_710_000;
    let (private, public) = generated_rsa_pem();
    let gh = github::start(GithubConfig {
        issues: 3,
        repos: 120,
        app: Some(github::GithubApp {
            client_id: APP.into(),
            public_key_pem: public,
            installation_id: INSTALLATION,
        }),
        ..GithubConfig::default()
    });
    let c = client(
        "github",
        &gh.base_url,
        &[("client_id", APP), ("private_key", &private)],
        json!({"owner": OWNER, "repo": REPO, "installation_id": INSTALLATION, "app_api_url": gh.base_url}),
    );
    prove_check(&c).await;
    let repos = super::read_all(&c, "repositories", switchyard::connector::StreamState::full_refresh()).await;
    assert_eq!(
        repos.records.len(),
        gh.repo_count(),
        "every repository read with the installation token"
    );
    assert!(
        repos.pages >= 2,
        "Link-header pages followed with the installation token"
    );
    let results = c
        .write_batch("issues.create", &[json!({"title": "Opened by the app"})])
        .await
        .expect("the write runs");
    assert!(
        matches!(&results[0], switchyard::connector::WriteResult::Ok { .. }),
        "{results:?}"
    );
    assert_eq!(
        gh.installation_tokens_minted(),
        1,
        "one installation token serves every call"
    );

    // An installation the app does not have is refused at the token endpoint, with an error
    // that quotes neither the key nor the JWT.
    let wrong = client(
        "github",
        &gh.base_url,
        &[("client_id", APP), ("private_key", &private)],
        json!({"owner": OWNER, "repo": REPO, "installation_id": 1, "app_api_url": gh.base_url}),
    );
    let err = wrong.check().await.expect_err("an unknown installation mints no token");
    assert!(!err.to_string().contains("PRIVATE KEY"), "{err}");
    let violations = gh.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}
