//! A fresh S3 bucket in the shared emulator (moto), for the `kind: s3` connector's tests,
//! with a real `aws-sdk-s3` client to put and read objects beside the connector.

use aws_sdk_s3::primitives::ByteStream;
use serde_json::{json, Value};

/// A bucket of its own for one test.
pub struct TestBucket {
    pub client: aws_sdk_s3::Client,
    pub name: String,
}

impl TestBucket {
    pub async fn new() -> Self {
        let config = crate::sdk_config().await;
        let client = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        );
        let ulid = ulid::Ulid::new().to_string().to_lowercase();
        let name = format!("sy-{}", &ulid[ulid.len() - 16..]);
        client
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .expect("the emulator creates a bucket");
        Self { client, name }
    }

    /// The connection config of a `kind: s3` connection to this bucket under `prefix`.
    pub fn config(&self, prefix: &str) -> Value {
        json!({
            "bucket": self.name,
            "prefix": prefix,
            "region": "us-east-1",
            "endpoint_url": crate::emulator().endpoint,
        })
    }

    /// The connection secret: the emulator's dummy keys.
    pub fn secret() -> Value {
        json!({"access_key_id": "test", "secret_access_key": "test"})
    }

    pub async fn put(&self, key: &str, body: &[u8]) {
        self.client
            .put_object()
            .bucket(&self.name)
            .key(key)
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
    }

    pub async fn get(&self, key: &str) -> Vec<u8> {
        let out = self
            .client
            .get_object()
            .bucket(&self.name)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("get {key}: {e:?}"));
        out.body.collect().await.expect("the body arrives").to_vec()
    }

    /// Every key under `prefix`, sorted.
    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.name)
            .prefix(prefix)
            .send()
            .await
            .expect("list");
        let mut keys: Vec<String> = out
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect();
        keys.sort();
        keys
    }
}

/// Sleeps until just after the next whole second: objects put before are then past their
/// last-modified second (a `kind: s3` stream with `settle_secs: 0` reads them).
pub async fn wait_for_the_next_second() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    let left = std::time::Duration::from_secs(1) - std::time::Duration::from_nanos(u64::from(now.subsec_nanos()));
    tokio::time::sleep(left + std::time::Duration::from_millis(20)).await;
}
