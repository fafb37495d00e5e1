//! GitHub issues -> HubSpot deals end to end: every issue of a repository becomes a deal (a
//! product team's feature requests tracked as pipeline opportunities). The GitHub fake (its
//! traffic checked against GitHub's spec) is read through connector-sync's job path with
//! Link-header paging; a second run reads only the issues opened since the checkpointed cursor.

use serde_json::json;
use switchyard::store::flows::Flow;
use switchyard::store::jobs::JobStatus;
use switchyard_fakes::github::{self, GithubConfig, OWNER, REPO, TOKEN};
use switchyard_fakes::hubspot::ObjectType;

use crate::sync::Rig;

#[tokio::test]
async fn github_issues_become_hubspot_deals_and_a_second_run_reads_only_new_issues() {
    switchyard_tests::log_capture::known_secret(TOKEN);
    let rig = Rig::new().await;
    // 120 issues among 150 items: the issues list takes two pages of 100.
    let gh = github::start(GithubConfig {
        issues: 120,
        pulls: 30,
        ..GithubConfig::default()
    });
    rig.connect_with_config(
        "conn_github",
        "github",
        json!({"base_url": gh.base_url, "owner": OWNER, "repo": REPO}),
        json!({"token": TOKEN}),
    )
    .await;
    let flow = Flow {
        id: "flow_github_deals".into(),
        name: "GitHub issues to HubSpot deals".into(),
        source_connection: "conn_github".into(),
        source_stream: "issues".into(),
        destination_connection: "conn_hubspot".into(),
        destination_operation: "deals.create".into(),
        mapping: r#"{properties: {dealname: "GitHub #\(.number): \(.title)", pipeline: "default",
                     dealstage: (if .state == "closed" then "closedwon" else "appointmentscheduled" end)}}"#
            .into(),
        ..rig.flow.clone()
    };
    rig.deps.flows.create(&flow).await.unwrap();

    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!((job.counts.read, job.counts.written), (120, 120), "{job:?}");
    assert_eq!(rig.hubspot.count(ObjectType::Deals), 120);
    let first_issue = gh.issue_json(1).expect("issue 1 is an issue");
    let deal = rig
        .hubspot
        .find(
            ObjectType::Deals,
            "dealname",
            &format!("GitHub #1: {}", first_issue["title"].as_str().unwrap()),
        )
        .expect("issue 1 became a deal");
    assert_eq!(deal.properties.get("pipeline").map(String::as_str), Some("default"));
    let pages = gh.requests.all().iter().filter(|r| r.path.ends_with("/issues")).count();
    assert_eq!(pages, 2, "two pages through the Link header");

    // Two issues are opened on GitHub: the next run reads them, and the newest issue of the
    // first run again (it sits inside the 60 s lookback window), which is skipped as unchanged.
    let a = gh.open_issue("Export to CSV");
    let b = gh.open_issue("Dark mode");
    let flow = rig.deps.flows.get(&flow.id).await.unwrap().expect("the flow is stored");
    assert!(flow.cursor.is_some(), "the first run checkpointed its cursor");
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!(
        (job.counts.read, job.counts.written, job.counts.unchanged),
        (3, 2, 1),
        "only the new issues and the lookback window: {job:?}"
    );
    assert_eq!(rig.hubspot.count(ObjectType::Deals), 122);
    for (n, title) in [(a, "Export to CSV"), (b, "Dark mode")] {
        assert!(
            rig.hubspot
                .find(ObjectType::Deals, "dealname", &format!("GitHub #{n}: {title}"))
                .is_some(),
            "issue {n} became a deal"
        );
    }
    assert!(gh.violations.all().is_empty(), "{:#?}", gh.violations.all());
}
