//! GitHub issues -> Notion pages end to end: a repository's issues become pages of a Notion
//! task database (title, status from the issue's state, the issue number as a number). Both
//! fakes check their traffic against their provider's spec; moto holds the state; the job runs
//! through connector-sync's path, Notion writes paced at three requests a second.

use serde_json::json;
use switchyard::store::flows::Flow;
use switchyard::store::jobs::JobStatus;
use switchyard_fakes::github::{self, GithubConfig, OWNER, REPO};
use switchyard_fakes::notion::{self, NotionConfig, DATABASE};

use crate::sync::Rig;

#[tokio::test]
async fn github_issues_become_notion_pages_with_their_state() {
    switchyard_tests::log_capture::known_secret(github::TOKEN);
    switchyard_tests::log_capture::known_secret(notion::TOKEN);
    let rig = Rig::new().await;
    let gh = github::start(GithubConfig {
        issues: 6,
        pulls: 2,
        ..GithubConfig::default()
    });
    let fake = notion::start(NotionConfig::default());
    rig.connect_with_config(
        "conn_github",
        "github",
        json!({"base_url": gh.base_url, "owner": OWNER, "repo": REPO}),
        json!({"token": github::TOKEN}),
    )
    .await;
    rig.connect_with_config(
        "conn_notion",
        "notion",
        json!({"base_url": fake.base_url, "database_id": DATABASE}),
        json!({"token": notion::TOKEN}),
    )
    .await;
    let flow = Flow {
        id: "flow_github_notion".into(),
        name: "GitHub issues to Notion tasks".into(),
        source_connection: "conn_github".into(),
        source_stream: "issues".into(),
        destination_connection: "conn_notion".into(),
        destination_operation: "pages.create".into(),
        mapping: r#"{properties: {
            Name: {title: [{text: {content: .title}}]},
            Status: {select: {name: (if .state == "closed" then "Done" else "Open" end)}},
            Score: {number: .number}}}"#
            .into(),
        ..rig.flow.clone()
    };
    rig.deps.flows.create(&flow).await.unwrap();

    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!(job.counts.written, 6, "six issues, the pull requests left out: {job:?}");
    assert_eq!(fake.count(), 6);
    for n in 1..=8u64 {
        let Some(issue) = gh.issue_json(n) else { continue };
        let title = issue["title"].as_str().unwrap();
        let page = fake.find(title);
        if issue.get("pull_request").is_some() {
            assert!(page.is_none(), "pull request #{n} is not an issue page");
            continue;
        }
        let page = page.unwrap_or_else(|| panic!("issue #{n} became a page"));
        let status = if issue["state"] == "closed" { "Done" } else { "Open" };
        assert_eq!(
            (page.status.as_str(), page.score),
            (status, Some(n as f64)),
            "issue #{n}"
        );
    }
    assert!(gh.violations.all().is_empty(), "{:#?}", gh.violations.all());
    assert_eq!(fake.rate_limited_count(), 0, "writes paced under Notion's limit");
    assert!(fake.violations.all().is_empty(), "{:#?}", fake.violations.all());
}
