//! Duplicate matching on create: before a flow of a two-way link creates a record on the other
//! side, it looks for one that is already there, by normalised email, then normalised phone,
//! then a fuzzy name + company match, and scores each candidate.
//!
//! - at or above the link's `link` threshold: the two are linked and nothing is created;
//! - below its `create` threshold: the record is created;
//! - in between: the pair is parked in the review queue for a person.
//!
//! Scores: the same email 1.0; the same phone 0.9 (digits only; a national and an
//! international form of one number agree on their last nine digits); a name and a company that
//! are nearly the same (Jaro-Winkler on normalised text, legal suffixes dropped) at most 0.8.
//! A candidate's score is its strongest evidence. Everything here is pure: the searches are the
//! caller's (`ConnectorClient::search_records`).

use serde_json::Value;

use crate::connector::definition::IdentitySpec;
use crate::store::flows::MatchThresholds;

/// Who a record is about, normalised.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// The full name, normalised (first and last joined, or the record's own full name).
    pub name: Option<String>,
    pub company: Option<String>,
}

fn text_at(record: &Value, pointer: &Option<String>) -> Option<String> {
    let value = record.pointer(pointer.as_deref()?)?;
    let text = match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

impl Identity {
    /// Reads a record's identity where `spec` says it is.
    pub fn read(spec: &IdentitySpec, record: &Value) -> Identity {
        let mut first_name = text_at(record, &spec.first_name);
        let mut last_name = text_at(record, &spec.last_name);
        // A full name only: its last word is the last name (what name searches look up).
        if first_name.is_none() && last_name.is_none() {
            if let Some(full) = text_at(record, &spec.name) {
                let mut words: Vec<&str> = full.split_whitespace().collect();
                last_name = words.pop().map(str::to_owned);
                first_name = Some(words.join(" ")).filter(|f| !f.is_empty());
            }
        }
        let joined = [first_name.as_deref(), last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let name = if joined.is_empty() {
            text_at(record, &spec.name)
        } else {
            Some(joined)
        };
        Identity {
            email: text_at(record, &spec.email).and_then(|e| normalise_email(&e)),
            phone: text_at(record, &spec.phone).and_then(|p| normalise_phone(&p)),
            first_name,
            last_name,
            name: name.map(|n| normalise_text(&n)).filter(|n| !n.is_empty()),
            company: text_at(record, &spec.company)
                .map(|c| normalise_company(&c))
                .filter(|c| !c.is_empty()),
        }
    }

    /// Whether there is anything to match on.
    pub fn is_empty(&self) -> bool {
        self.email.is_none() && self.phone.is_none() && self.name.is_none()
    }
}

/// An email trimmed and lower-cased; `None` unless it has a local part and a domain.
pub fn normalise_email(email: &str) -> Option<String> {
    let email = email.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    (!local.is_empty() && !domain.is_empty() && !domain.contains('@')).then_some(email)
}

/// A phone number's digits, without a leading international `00` or trunk `0`; `None` with
/// fewer than seven digits (an extension or a typo, not a number to match on).
pub fn normalise_phone(phone: &str) -> Option<String> {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_start_matches('0');
    (digits.len() >= 7).then(|| digits.to_owned())
}

/// Whether two normalised phones are one number: equal, or (both nine digits or more) equal
/// in their last nine digits, as `+61 400 111 222` and `0400 111 222` are.
pub fn phones_match(a: &str, b: &str) -> bool {
    const TAIL: usize = 9;
    a == b || (a.len() >= TAIL && b.len() >= TAIL && a[a.len() - TAIL..] == b[b.len() - TAIL..])
}

/// Lower-cased letters and digits, every other run of characters one space.
pub fn normalise_text(text: &str) -> String {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Legal-form words a company name may end with.
const LEGAL_SUFFIXES: &[&str] = &[
    "ab",
    "ag",
    "bv",
    "co",
    "company",
    "corp",
    "corporation",
    "gmbh",
    "inc",
    "incorporated",
    "limited",
    "llc",
    "llp",
    "ltd",
    "nv",
    "oy",
    "plc",
    "pty",
    "sa",
    "sarl",
    "srl",
];

/// A company name as [`normalise_text`], legal-form words at its end dropped
/// (`Acme Pty. Ltd.` is `acme`).
pub fn normalise_company(company: &str) -> String {
    let text = normalise_text(company);
    let mut words: Vec<&str> = text.split(' ').collect();
    while words.len() > 1 && words.last().is_some_and(|w| LEGAL_SUFFIXES.contains(w)) {
        words.pop();
    }
    words.join(" ")
}

/// What a candidate's score rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    Email,
    Phone,
    NameAndCompany,
}

impl Evidence {
    pub fn name(self) -> &'static str {
        match self {
            Evidence::Email => "email",
            Evidence::Phone => "phone",
            Evidence::NameAndCompany => "name and company",
        }
    }
}

/// A candidate's confidence (0 to 1) and what it rests on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    pub score: f64,
    pub evidence: Evidence,
}

/// The same email.
pub const EMAIL_SCORE: f64 = 1.0;
/// The same phone number.
pub const PHONE_SCORE: f64 = 0.9;
/// A name and a company that are exactly the same (nearly the same scores less).
pub const NAME_AND_COMPANY_SCORE: f64 = 0.8;
/// Below this similarity a name or a company is no evidence at all.
const MIN_SIMILARITY: f64 = 0.85;

/// How likely `theirs` is the record `ours` is about; `None`: no evidence.
pub fn score(ours: &Identity, theirs: &Identity) -> Option<Score> {
    if let (Some(a), Some(b)) = (&ours.email, &theirs.email) {
        if a == b {
            return Some(Score {
                score: EMAIL_SCORE,
                evidence: Evidence::Email,
            });
        }
    }
    if let (Some(a), Some(b)) = (&ours.phone, &theirs.phone) {
        if phones_match(a, b) {
            return Some(Score {
                score: PHONE_SCORE,
                evidence: Evidence::Phone,
            });
        }
    }
    if let (Some(an), Some(bn), Some(ac), Some(bc)) = (&ours.name, &theirs.name, &ours.company, &theirs.company) {
        let name = strsim::jaro_winkler(an, bn);
        let company = strsim::jaro_winkler(ac, bc);
        if name >= MIN_SIMILARITY && company >= MIN_SIMILARITY {
            return Some(Score {
                score: NAME_AND_COMPANY_SCORE * (0.6 * name + 0.4 * company),
                evidence: Evidence::NameAndCompany,
            });
        }
    }
    None
}

/// The best-scoring of `candidates` (with their ids), if any has evidence.
pub fn best<'a>(ours: &Identity, candidates: impl IntoIterator<Item = (&'a str, Identity)>) -> Option<(String, Score)> {
    candidates
        .into_iter()
        .filter_map(|(id, theirs)| score(ours, &theirs).map(|s| (id.to_owned(), s)))
        .fold(None, |best: Option<(String, Score)>, (id, s)| match best {
            Some((_, b)) if b.score >= s.score => best,
            _ => Some((id, s)),
        })
}

/// What to do with a record about to be created.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Link it to this existing record; create nothing.
    Link { id: String, score: Score },
    /// Create it.
    Create,
    /// Ask a person: the candidate scored between the thresholds.
    Review { id: String, score: Score },
}

/// The link's thresholds applied to the best candidate: at or above `link` links, below
/// `create` (or no candidate) creates, anything between goes to review.
pub fn decide(best: Option<(String, Score)>, thresholds: &MatchThresholds) -> Decision {
    match best {
        Some((id, score)) if score.score >= thresholds.link => Decision::Link { id, score },
        Some((id, score)) if score.score >= thresholds.create => Decision::Review { id, score },
        _ => Decision::Create,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec() -> IdentitySpec {
        IdentitySpec {
            email: Some("/properties/email".into()),
            phone: Some("/properties/phone".into()),
            first_name: Some("/properties/firstname".into()),
            last_name: Some("/properties/lastname".into()),
            name: None,
            company: Some("/properties/company".into()),
        }
    }

    fn contact(email: &str, phone: &str, first: &str, last: &str, company: &str) -> Identity {
        Identity::read(
            &spec(),
            &json!({"properties": {"email": email, "phone": phone, "firstname": first, "lastname": last,
                                   "company": company}}),
        )
    }

    const THRESHOLDS: MatchThresholds = MatchThresholds { link: 0.9, create: 0.6 };

    #[test]
    fn identities_are_read_where_the_spec_points_and_normalised() {
        let id = contact(
            "  Ann.Lee@Example.COM ",
            "+61 (0)400-111-222",
            "Ann",
            "Lee",
            "Acme Pty. Ltd.",
        );
        assert_eq!(id.email.as_deref(), Some("ann.lee@example.com"));
        assert_eq!(id.phone.as_deref(), Some("610400111222"));
        assert_eq!(id.name.as_deref(), Some("ann lee"));
        assert_eq!(id.company.as_deref(), Some("acme"));
        // A full name where first and last are not kept apart; blanks are absent.
        let full = IdentitySpec {
            name: Some("/full_name".into()),
            ..IdentitySpec::default()
        };
        let id = Identity::read(&full, &json!({"full_name": " Grace  Hopper ", "email": ""}));
        assert_eq!(id.name.as_deref(), Some("grace hopper"));
        assert_eq!(
            (id.first_name.as_deref(), id.last_name.as_deref()),
            (Some("Grace"), Some("Hopper")),
            "split for name searches"
        );
        assert!(Identity::read(&spec(), &json!({"properties": {"email": "  "}})).is_empty());
    }

    #[test]
    fn emails_and_phones_normalise_or_are_refused() {
        assert_eq!(normalise_email("Bob@X.io").as_deref(), Some("bob@x.io"));
        for bad in ["bob", "@x.io", "bob@", "a@b@c"] {
            assert_eq!(normalise_email(bad), None, "{bad}");
        }
        assert_eq!(normalise_phone("0400 111 222").as_deref(), Some("400111222"));
        assert_eq!(normalise_phone("0061 400 111 222").as_deref(), Some("61400111222"));
        assert_eq!(normalise_phone("ext. 42"), None, "too short to match on");
        assert!(
            phones_match("61400111222", "400111222"),
            "international and national forms"
        );
        assert!(!phones_match("61400111222", "400111223"));
        assert!(!phones_match("1234567", "91234567"), "short numbers must be equal");
    }

    #[test]
    fn the_same_email_scores_highest_then_phone_then_name_and_company() {
        let ours = contact("ann@work.io", "0400 111 222", "Ann", "Lee", "Acme Inc");
        let by_email = score(&ours, &contact("ANN@work.io", "", "", "", "")).unwrap();
        assert_eq!((by_email.score, by_email.evidence), (EMAIL_SCORE, Evidence::Email));
        let by_phone = score(&ours, &contact("ann@home.io", "+61 400 111 222", "A", "L", "")).unwrap();
        assert_eq!((by_phone.score, by_phone.evidence), (PHONE_SCORE, Evidence::Phone));
        let exact = score(&ours, &contact("a@b.io", "", "ann", "LEE", "ACME")).unwrap();
        assert_eq!(exact.evidence, Evidence::NameAndCompany);
        assert!((exact.score - NAME_AND_COMPANY_SCORE).abs() < 1e-9, "{exact:?}");
        let fuzzy = score(&ours, &contact("a@b.io", "", "Anne", "Lee", "Acme Corporation")).unwrap();
        assert!(fuzzy.score < exact.score && fuzzy.score > 0.7, "{fuzzy:?}");
        // A similar name at another company, or another name at the same company: no evidence.
        assert_eq!(score(&ours, &contact("a@b.io", "", "Ann", "Lee", "Globex")), None);
        assert_eq!(score(&ours, &contact("a@b.io", "", "Bob", "Stone", "Acme")), None);
        assert_eq!(score(&ours, &Identity::default()), None);
    }

    #[test]
    fn the_thresholds_decide_link_review_or_create() {
        let ours = contact("ann@work.io", "0400 111 222", "Ann", "Lee", "Acme");
        let found = [
            ("m1", contact("other@x.io", "", "Ann", "Lee", "Acme")),
            ("m2", contact("ann@home.io", "+61400111222", "", "", "")),
        ];
        let best_found = best(&ours, found.iter().map(|(id, i)| (*id, i.clone())));
        assert_eq!(
            best_found.as_ref().map(|(id, _)| id.as_str()),
            Some("m2"),
            "phone beats name"
        );
        assert!(matches!(decide(best_found, &THRESHOLDS), Decision::Link { id, .. } if id == "m2"));
        let by_name = best(&ours, [("m1", contact("other@x.io", "", "Ann", "Lee", "Acme"))]);
        assert!(matches!(decide(by_name.clone(), &THRESHOLDS), Decision::Review { id, .. } if id == "m1"));
        // A stricter link: name and company is no longer enough even for review.
        let strict = MatchThresholds {
            link: 0.95,
            create: 0.85,
        };
        assert_eq!(decide(by_name, &strict), Decision::Create);
        assert_eq!(decide(None, &THRESHOLDS), Decision::Create);
    }
}
