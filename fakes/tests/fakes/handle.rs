use std::net::TcpListener;

use switchyard_fakes::paged_source::{self, SourceConfig};

#[tokio::test]
async fn fakes_listen_on_loopback_and_dropping_the_handle_frees_the_port() {
    let source = paged_source::start(SourceConfig::default());
    let addr = source.addr();
    assert!(addr.ip().is_loopback());
    assert_eq!(source.base_url, format!("http://{addr}"));
    let response = crate::client().get(source.url("/records")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    drop(source);
    assert!(
        TcpListener::bind(addr).is_ok(),
        "the port is free once the handle is dropped"
    );
}

#[test]
fn a_fake_serves_callers_without_a_runtime_of_their_own() {
    let source = paged_source::start(SourceConfig::default());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = runtime.block_on(async {
        crate::client()
            .get(source.url("/records"))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200);
    assert_eq!(source.requests.len(), 1);
}
