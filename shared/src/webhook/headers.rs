//! Request headers with case-insensitive lookup.

use std::fmt;

/// Request headers, looked up by name case-insensitively (ASCII), as every provider SDK does.
///
/// Repeated headers are kept in arrival order: [`Headers::get`] returns the first value and
/// [`Headers::get_all`] every value. Names keep the casing they arrived with.
///
/// `Debug` prints header names only: values can carry signatures or credentials.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<(String, String)>,
}

impl Headers {
    /// An empty header set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds headers from any iterator of `(name, value)` pairs, keeping repeats.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut headers = Self::new();
        for (name, value) in pairs {
            headers.insert(name.as_ref(), value.as_ref());
        }
        headers
    }

    /// Adds a header. An existing header of the same name is kept, not replaced.
    pub fn insert(&mut self, name: &str, value: &str) {
        self.entries.push((name.to_owned(), value.to_owned()));
    }

    /// The first value of `name` (case-insensitive), if any.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name` (case-insensitive), in arrival order.
    pub fn get_all<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> {
        let name: Box<str> = name.into();
        self.entries
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(&name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether a header called `name` is present (case-insensitive).
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// All `(name, value)` pairs in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Number of header lines (repeats counted).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for Headers {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        Self::from_pairs(iter)
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Headers")
            .field("names", &self.entries.iter().map(|(n, _)| n).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_ignores_name_case() {
        let headers = Headers::from_pairs([("Stripe-Signature", "t=1,v1=ab")]);
        assert_eq!(headers.get("stripe-signature"), Some("t=1,v1=ab"));
        assert_eq!(headers.get("STRIPE-SIGNATURE"), Some("t=1,v1=ab"));
        assert_eq!(headers.get("stripe-signatures"), None);
    }

    #[test]
    fn repeated_headers_are_kept_in_order() {
        let mut headers = Headers::new();
        headers.insert("X-A", "1");
        headers.insert("x-a", "2");
        headers.insert("X-B", "3");
        assert_eq!(headers.get("x-a"), Some("1"));
        assert_eq!(headers.get_all("X-A").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(headers.len(), 3);
        assert_eq!(
            headers.iter().collect::<Vec<_>>(),
            [("X-A", "1"), ("x-a", "2"), ("X-B", "3")]
        );
    }

    #[test]
    fn debug_output_hides_header_values() {
        let headers = Headers::from_pairs([("Authorization", "Bearer top-secret")]);
        let printed = format!("{headers:?}");
        assert!(printed.contains("Authorization"));
        assert!(!printed.contains("top-secret"));
    }

    #[test]
    fn collects_from_an_iterator_of_pairs() {
        let headers: Headers = vec![("a".to_string(), "1".to_string())].into_iter().collect();
        assert!(headers.contains("A"));
        assert!(!headers.is_empty());
    }
}
