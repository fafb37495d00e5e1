//! Query-string parameters as HubSpot reads them: `properties` may repeat or be comma-separated.

/// Decoded query parameters in order.
#[derive(Debug, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        Self(
            raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default(),
        )
    }

    /// The first value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, split on commas, without empty items.
    pub(crate) fn list(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// `true` only for `name=true`.
    pub(crate) fn flag(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_repeat_or_split_on_commas() {
        let params = Params::parse(Some(
            "properties=email,firstname&properties=lastname&limit=5&archived=true",
        ));
        assert_eq!(params.list("properties"), ["email", "firstname", "lastname"]);
        assert_eq!(params.get("limit"), Some("5"));
        assert!(params.flag("archived"));
        assert!(Params::parse(None).list("properties").is_empty());
    }
}
