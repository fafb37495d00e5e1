//! A keep-alive front for the emulator, for benches that measure what a function pays per AWS
//! call.
//!
//! moto answers every request with `Connection: close`, so a function talking to it straight
//! opens a TCP connection (and resolves the host) for every call. Against AWS the SDK keeps its
//! connections and reuses them. This proxy accepts keep-alive HTTP/1.1 connections and forwards
//! each request to the emulator unchanged (`Host` included, so what moto builds from it, queue
//! URLs say, is what it would build without the proxy), so the function's own CPU is the CPU it
//! would spend against AWS less TLS. The proxy's work happens in the bench's process, not in the
//! function's.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;

/// Headers that describe one hop, not the request (RFC 9110 section 7.6.1), plus the length,
/// which each side sets for its own body.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

#[derive(Clone)]
struct Upstream {
    base: String,
    client: reqwest::Client,
    /// Held across each forwarded request when the proxy serialises (see [`start_serialized`]).
    one_at_a_time: Option<std::sync::Arc<tokio::sync::Mutex<()>>>,
}

/// A running proxy; it stops when its runtime does.
pub struct KeepAliveProxy {
    pub endpoint: String,
}

/// Starts a proxy on a free loopback port in front of `upstream` (`http://host:port`).
pub async fn start(upstream: &str) -> std::io::Result<KeepAliveProxy> {
    start_with(upstream, false).await
}

/// Like [`start`], but forwards one request at a time. moto serves each request on a thread of
/// its own and checks a DynamoDB condition and applies the write without a lock, so two
/// conditional writes racing on one item can both succeed, which DynamoDB never allows. A test
/// that proves a claim protocol under contention sends its conditional writes through this.
pub async fn start_serialized(upstream: &str) -> std::io::Result<KeepAliveProxy> {
    start_with(upstream, true).await
}

async fn start_with(upstream: &str, serialized: bool) -> std::io::Result<KeepAliveProxy> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let state = Upstream {
        base: upstream.trim_end_matches('/').to_string(),
        client: reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(std::io::Error::other)?,
        one_at_a_time: serialized.then(Default::default),
    };
    let app = Router::new().fallback(forward).with_state(state);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(KeepAliveProxy { endpoint })
}

async fn forward(State(up): State<Upstream>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let _turn = match &up.one_at_a_time {
        Some(lock) => Some(lock.clone().lock_owned().await),
        None => None,
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = up.client.request(method, format!("{}{path}", up.base)).body(body);
    for (name, value) in &headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            request = request.header(name, value);
        }
    }
    let answer = match request.send().await {
        Ok(a) => a,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("keep-alive proxy: {e}")).into_response(),
    };
    let status = answer.status();
    let mut out = HeaderMap::new();
    for (name, value) in answer.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            out.append(name, value.clone());
        }
    }
    match answer.bytes().await {
        Ok(bytes) => (status, out, bytes).into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, format!("keep-alive proxy: {e}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

    use super::*;

    /// The point of the proxy: several requests on one TCP connection (moto would close it after
    /// the first), each answered by the emulator.
    #[tokio::test]
    async fn requests_share_one_connection_and_reach_the_emulator() {
        let upstream = crate::emulator().endpoint.clone();
        let proxy = start(&upstream).await.unwrap();
        let address = proxy.endpoint.trim_start_matches("http://").to_string();
        let stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        let mut stream = BufReader::new(stream);
        for i in 0..3 {
            let body = "{}";
            let request = format!(
                "POST / HTTP/1.1\r\nHost: {address}\r\ncontent-type: application/x-amz-json-1.0\r\n\
                 x-amz-target: DynamoDB_20120810.ListTables\r\n\
                 authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0\r\n\
                 content-length: {}\r\n\r\n{body}",
                body.len()
            );
            stream.get_mut().write_all(request.as_bytes()).await.unwrap();
            let mut status = String::new();
            stream.read_line(&mut status).await.unwrap();
            assert!(status.starts_with("HTTP/1.1 200"), "request {i}: {status:?}");
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                stream.read_line(&mut line).await.unwrap();
                let line = line.trim_end().to_ascii_lowercase();
                if line.is_empty() {
                    break;
                }
                assert_ne!(line, "connection: close", "request {i}");
                if let Some(n) = line.strip_prefix("content-length:") {
                    length = n.trim().parse().unwrap();
                }
            }
            let mut answer = vec![0; length];
            stream.read_exact(&mut answer).await.unwrap();
            let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
            assert!(answer["TableNames"].is_array(), "request {i}: {answer}");
        }
    }
}
