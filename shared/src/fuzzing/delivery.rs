//! The input format of the webhook targets: a readable, HTTP-like delivery.
//!
//! ```text
//! <one byte: scheme selector>
//! name: value            request headers, one a line, until an empty line
//! :secret: ...           pseudo-headers set the rest: :secret, :previous, :now,
//! :url: ... :method: ... :tolerance, :url, :method, :generic (a GenericHmac as JSON),
//!                        :hubspot (accepted versions, `v1,v3`)
//!
//! <the body, raw bytes>
//! ```
//!
//! Text makes the seeds (built from `events/`) and the kept regressions easy to read.

use crate::webhook::{GenericHmac, Headers, HubspotConfig, HubspotVersion, Scheme, VerifyOptions};

/// A delivery decoded from fuzz input.
pub(crate) struct Delivery<'a> {
    pub selector: u8,
    pub headers: Headers,
    pub secret: String,
    pub previous: Option<String>,
    pub url: String,
    pub method: String,
    pub options: VerifyOptions,
    pub generic: GenericHmac,
    pub hubspot: HubspotConfig,
    pub body: &'a [u8],
}

/// A fixed clock: 2023-11-14T22:13:20Z.
const NOW: i64 = 1_700_000_000;

impl<'a> Delivery<'a> {
    pub(crate) fn parse(data: &'a [u8]) -> Option<Delivery<'a>> {
        let (&selector, rest) = data.split_first()?;
        let (head, body) = match find(rest, b"\n\n") {
            Some(i) => (&rest[..i], &rest[i + 2..]),
            None => (rest, &[][..]),
        };
        let head = String::from_utf8_lossy(head);
        let mut delivery = Delivery {
            selector,
            headers: Headers::new(),
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned(),
            previous: None,
            url: "https://hooks.example.com/hooks/conn_1".to_owned(),
            method: "POST".to_owned(),
            options: VerifyOptions::at(NOW),
            generic: GenericHmac::new("X-Signature"),
            hubspot: HubspotConfig::default(),
            body,
        };
        for line in head.lines() {
            // `name: value`, one space after the colon dropped; the rest of the value is kept
            // as it is, surrounding whitespace included.
            let (pseudo, line) = match line.strip_prefix(':') {
                Some(rest) => (true, rest),
                None => (false, line),
            };
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.strip_prefix(' ').unwrap_or(value);
            if pseudo {
                delivery.pseudo(name, value);
            } else {
                delivery.headers.insert(name, value);
            }
        }
        Some(delivery)
    }

    fn pseudo(&mut self, name: &str, value: &str) {
        match name {
            "secret" => self.secret = value.to_owned(),
            "previous" => self.previous = Some(value.to_owned()),
            "url" => self.url = value.to_owned(),
            "method" => self.method = value.to_owned(),
            "now" => {
                if let Ok(now) = value.parse() {
                    self.options.now = now;
                }
            }
            "tolerance" => {
                if let Ok(tolerance) = value.parse() {
                    self.options.tolerance_secs = tolerance;
                }
            }
            "generic" => {
                if let Ok(config) = serde_json::from_str(value) {
                    self.generic = config;
                }
            }
            "hubspot" => {
                let versions: Vec<HubspotVersion> = value.split(',').filter_map(|v| v.parse().ok()).collect();
                self.hubspot = HubspotConfig::accepting(versions);
            }
            _ => {}
        }
    }

    /// The scheme the selector's low bits choose (19 schemes).
    pub(crate) fn scheme(&self) -> Scheme {
        match (self.selector & 0x7f) % 20 {
            0 => Scheme::Stripe,
            1 => Scheme::StandardWebhooks,
            2 => Scheme::Github,
            3 => Scheme::Slack,
            4 => Scheme::Shopify,
            5 => Scheme::Hubspot(self.hubspot.clone()),
            6 => Scheme::Intuit,
            7 => Scheme::Xero,
            8 => Scheme::Calendly,
            9 => Scheme::Twilio,
            11 => Scheme::Woocommerce,
            12 => Scheme::Linear,
            13 => Scheme::Zendesk,
            14 => Scheme::Asana,
            15 => Scheme::Dropbox,
            16 => Scheme::MicrosoftGraph,
            17 => Scheme::Mailchimp,
            18 => Scheme::BasicAuth(Default::default()),
            19 => Scheme::Paypal,
            _ => Scheme::Generic(self.generic.clone()),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_headers_pseudo_headers_and_body() {
        let data = b"\x02X-Hub-Signature-256: sha256=00\n:secret: s3cret\n:now: 42\n:hubspot: v1,v3\n\n{\"a\":1}\n\n";
        let delivery = Delivery::parse(data).unwrap();
        assert_eq!(delivery.scheme(), Scheme::Github);
        assert_eq!(delivery.headers.get("x-hub-signature-256"), Some("sha256=00"));
        assert_eq!(delivery.secret, "s3cret");
        assert_eq!(delivery.options.now, 42);
        assert_eq!(delivery.body, b"{\"a\":1}\n\n");
        assert!(delivery.hubspot.accepts(HubspotVersion::V1));
    }
}
