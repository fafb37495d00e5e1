//! Who may call the fake and how often: the profile's credentials, an OAuth refresh-token
//! endpoint, and the rolling rate limit.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::profile::{Auth, Profile};
use crate::rate_limit::{Admission, RateLimit, RollingWindow};

/// Credentials and budgets.
pub(crate) struct Access {
    auth: Auth,
    /// Issued OAuth access tokens and their expiry.
    issued: HashMap<String, Instant>,
    refresh: HashSet<String>,
    counter: u64,
    limit: Option<RateLimit>,
    windows: HashMap<String, RollingWindow>,
}

/// The outcome of the rate limiter.
pub(crate) enum Budget {
    Unlimited,
    Allowed { limit: RateLimit, remaining: u32 },
    Limited { limit: RateLimit, retry_after: Duration },
}

impl Access {
    pub(crate) fn new(profile: &Profile, limit: Option<RateLimit>) -> Self {
        let limit = limit.or_else(|| {
            profile
                .rate_limit
                .as_ref()
                .map(|r| RateLimit::new(r.requests, Duration::from_millis(r.window_ms)))
        });
        Self {
            auth: profile.auth.clone(),
            issued: HashMap::new(),
            refresh: profile
                .auth
                .oauth
                .as_ref()
                .map(|o| o.refresh_tokens.iter().cloned().collect())
                .unwrap_or_default(),
            counter: 0,
            limit,
            windows: HashMap::new(),
        }
    }

    pub(crate) fn set_limit(&mut self, limit: Option<RateLimit>) {
        self.limit = limit;
    }

    /// The caller's identity (for its rate budget) when its credentials are accepted.
    pub(crate) fn authenticate(&self, headers: &[(String, String)]) -> Option<String> {
        if self.auth.is_open() {
            return Some("anonymous".into());
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        if let Some(authorization) = header("authorization") {
            if let Some((scheme, credential)) = authorization.split_once(' ') {
                let credential = credential.trim();
                if scheme.eq_ignore_ascii_case("bearer") {
                    let now = Instant::now();
                    let issued = self.issued.get(credential).is_some_and(|expiry| *expiry > now);
                    if issued || self.auth.bearer.iter().any(|t| t == credential) {
                        return Some(credential.to_owned());
                    }
                }
                if scheme.eq_ignore_ascii_case("basic") {
                    let decoded = STANDARD.decode(credential).ok().and_then(|b| String::from_utf8(b).ok());
                    if let Some((user, _)) = decoded.as_deref().and_then(|d| d.split_once(':')) {
                        if self.auth.basic_users.iter().any(|u| u == user) {
                            return Some(user.to_owned());
                        }
                    }
                }
            }
        }
        for (name, accepted) in &self.auth.headers {
            if let Some(value) = header(name) {
                if accepted.iter().any(|a| a == value) {
                    return Some(value.to_owned());
                }
            }
        }
        None
    }

    /// Exchanges a refresh token (form fields) for an access token: `Err` is the OAuth
    /// error code.
    pub(crate) fn refresh(&mut self, form: &HashMap<String, String>) -> Result<(String, String, u64), &'static str> {
        let Some(oauth) = self.auth.oauth.clone() else {
            return Err("unsupported_grant_type");
        };
        let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
        if field("grant_type") != "refresh_token" {
            return Err("unsupported_grant_type");
        }
        if field("client_id") != oauth.client_id || field("client_secret") != oauth.client_secret {
            return Err("invalid_client");
        }
        let refresh = field("refresh_token");
        if !self.refresh.contains(refresh) {
            return Err("invalid_grant");
        }
        self.counter += 1;
        let token = format!("fake-access-{}-{:016x}", self.counter, rand::random::<u64>());
        let ttl = Duration::from_secs(oauth.access_token_ttl_secs);
        self.issued.insert(token.clone(), Instant::now() + ttl);
        Ok((token, refresh.to_owned(), oauth.access_token_ttl_secs))
    }

    /// Counts a request against `who`'s budget.
    pub(crate) fn admit(&mut self, who: &str) -> Budget {
        let Some(limit) = self.limit else {
            return Budget::Unlimited;
        };
        match self
            .windows
            .entry(who.to_owned())
            .or_default()
            .admit(&limit, Instant::now())
        {
            Admission::Allowed { remaining } => Budget::Allowed { limit, remaining },
            Admission::Limited { retry_after } => Budget::Limited { limit, retry_after },
        }
    }
}
