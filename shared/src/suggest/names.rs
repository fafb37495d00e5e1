//! Field names compared by meaning: tokens, abbreviations and the concepts CRMs, accounting
//! and commerce APIs share (`first_name` ~ `firstname` ~ `FirstName` ~ `givenName`).

/// A field path's words, lower-cased: `PrimaryEmailAddr` -> `primary email address`,
/// `billing_address.zip` -> `billing address zip`. Abbreviations are spelled out.
pub fn tokens(segment: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = segment.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            flush(&mut current, &mut words);
            continue;
        }
        let boundary = i > 0
            && ((c.is_uppercase() && chars[i - 1].is_lowercase())
                || (c.is_uppercase()
                    && chars[i - 1].is_uppercase()
                    && chars.get(i + 1).is_some_and(|n| n.is_lowercase())));
        if boundary {
            flush(&mut current, &mut words);
        }
        current.extend(c.to_lowercase());
    }
    flush(&mut current, &mut words);
    words
}

fn flush(current: &mut String, words: &mut Vec<String>) {
    if current.is_empty() {
        return;
    }
    let word = std::mem::take(current);
    let spelled: &[&str] = match word.as_str() {
        "amt" => &["amount"],
        "addr" | "adr" => &["address"],
        "num" | "no" | "nbr" => &["number"],
        "txn" => &["transaction"],
        "qty" => &["quantity"],
        "desc" => &["description"],
        "tel" => &["telephone"],
        "org" => &["organization"],
        "organisation" => &["organization"],
        "fname" | "firstname" | "forename" => &["first", "name"],
        "lname" | "lastname" | "surname" | "familyname" => &["last", "name"],
        "givenname" => &["given", "name"],
        "displayname" => &["display", "name"],
        "fullname" => &["full", "name"],
        "emailaddress" | "mail" => &["email"],
        "zipcode" | "zip" | "postcode" | "postalcode" => &["postal", "code"],
        "companyname" => &["company", "name"],
        "phonenumber" | "telephone" | "phone" => &["phone"],
        "mobilephone" => &["mobile", "phone"],
        "createdate" | "createdat" => &["created"],
        "dob" => &["birth", "date"],
        "homepage" => &["website"],
        "address1" | "addr1" => &["line1"],
        "address2" | "addr2" => &["line2"],
        _ => {
            words.push(word);
            return;
        }
    };
    words.extend(spelled.iter().map(|w| w.to_string()));
}

/// What a field means, where names differ between systems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Concept {
    Email,
    Phone,
    GivenName,
    FamilyName,
    FullName,
    Company,
    JobTitle,
    Website,
    Line1,
    Line2,
    City,
    Region,
    PostalCode,
    Country,
    Currency,
    Total,
    Subtotal,
    Tax,
    DocNumber,
    TxnDate,
    DueDate,
    Created,
    Updated,
    Note,
    Id,
}

impl Concept {
    pub fn describe(self) -> &'static str {
        match self {
            Concept::Email => "an email address",
            Concept::Phone => "a phone number",
            Concept::GivenName => "a first name",
            Concept::FamilyName => "a last name",
            Concept::FullName => "a full name",
            Concept::Company => "a company name",
            Concept::JobTitle => "a job title",
            Concept::Website => "a website",
            Concept::Line1 => "an address's first line",
            Concept::Line2 => "an address's second line",
            Concept::City => "a city",
            Concept::Region => "a state or region",
            Concept::PostalCode => "a postal code",
            Concept::Country => "a country",
            Concept::Currency => "a currency",
            Concept::Total => "a total amount",
            Concept::Subtotal => "a subtotal",
            Concept::Tax => "a tax amount",
            Concept::DocNumber => "a document number",
            Concept::TxnDate => "a transaction date",
            Concept::DueDate => "a due date",
            Concept::Created => "a creation time",
            Concept::Updated => "a modification time",
            Concept::Note => "a note",
            Concept::Id => "an id",
        }
    }
}

/// Words that make an email- or phone-named field something else (a flag, a status).
pub const QUALIFIERS: &[&str] = &[
    "status",
    "verified",
    "opt",
    "optin",
    "consent",
    "bounce",
    "bounced",
    "marketing",
    "type",
    "count",
    "sent",
    "delivery",
    "preference",
    "preferences",
    "enabled",
    "is",
    "has",
    "template",
    "cc",
    "bcc",
];

/// The concept of a leaf, from its own words and, for generic leaves (`Address`, `value`),
/// its parent's (`PrimaryEmailAddr.Address` is an email).
pub fn concept(path: &[String]) -> Option<Concept> {
    let leaf = path.last().map(|s| tokens(s)).unwrap_or_default();
    if is_reference(path) {
        // `CurrencyRef.value` is a currency (its code); the reference's display `name` and a
        // `ClassRef.value` are the destination's own: no meaning to map.
        if leaf == ["name"] {
            return None;
        }
        return concept_of(&tokens(&path[path.len() - 2]));
    }
    if path.len() >= 2 && is_generic(&leaf) {
        let mut both = tokens(&path[path.len() - 2]);
        both.extend(leaf.iter().cloned());
        if let Some(c) = concept_of(&both) {
            return Some(c);
        }
    }
    let parent = if path.len() >= 2 {
        tokens(&path[path.len() - 2])
    } else {
        Vec::new()
    };
    if leaf == ["address"] && !parent.iter().any(|w| w == "email" || QUALIFIERS.contains(&w.as_str())) {
        // HubSpot's `address`: the street address (not `BillEmailBcc.Address`).
        return Some(Concept::Line1);
    }
    concept_of(&leaf)
}

/// Meanings that often fill each other (an invoice's transaction date from an order's
/// creation time), with the score such a pair starts from.
pub fn related(a: Concept, b: Concept) -> Option<f64> {
    use Concept::*;
    match (a, b) {
        (TxnDate, Created) | (Created, TxnDate) => Some(0.55),
        _ => None,
    }
}

/// A field of a reference to another record (`CustomerRef.value`, `ClassRef.name`): its
/// values are the destination's own ids and names.
pub fn is_reference(path: &[String]) -> bool {
    let leaf = path.last().map(|s| tokens(s)).unwrap_or_default();
    path.len() >= 2
        && matches!(leaf.as_slice(), [w] if w == "value" || w == "name" || w == "id")
        && tokens(&path[path.len() - 2])
            .last()
            .is_some_and(|w| w == "ref" || w == "reference")
}

fn is_generic(leaf: &[String]) -> bool {
    matches!(
        leaf.iter().map(String::as_str).collect::<Vec<_>>().as_slice(),
        ["address"] | ["value"] | ["free", "form", "number"] | ["amount"] | ["text"] | ["code"]
    )
}

fn concept_of(words: &[String]) -> Option<Concept> {
    let has = |w: &str| words.iter().any(|x| x == w);
    if words.iter().any(|w| QUALIFIERS.contains(&w.as_str())) {
        return None;
    }
    let only = |ws: &[&str]| words.len() == ws.len() && ws.iter().all(|w| has(w));
    if has("email") {
        return Some(Concept::Email);
    }
    if has("phone") || has("mobile") || has("telephone") {
        return Some(Concept::Phone);
    }
    if ((has("first") || has("given")) && has("name")) || only(&["first"]) {
        return Some(Concept::GivenName);
    }
    if ((has("last") || has("family")) && has("name")) || only(&["last"]) {
        return Some(Concept::FamilyName);
    }
    if has("job") && has("title") {
        return Some(Concept::JobTitle);
    }
    if has("company") || has("organization") || has("employer") {
        return Some(Concept::Company);
    }
    if has("website") || has("domain") {
        return Some(Concept::Website);
    }
    if has("line1") || has("street") || (has("line") && has("1")) {
        return Some(Concept::Line1);
    }
    if has("line2") || (has("line") && has("2")) {
        return Some(Concept::Line2);
    }
    if has("city") || has("locality") || has("town") || has("suburb") {
        return Some(Concept::City);
    }
    if has("postal") || (has("post") && has("code")) {
        return Some(Concept::PostalCode);
    }
    if has("state") || has("province") || has("region") || has("subdivision") || (has("sub") && has("division")) {
        return Some(Concept::Region);
    }
    if has("country") {
        return Some(Concept::Country);
    }
    if has("currency") {
        return Some(Concept::Currency);
    }
    if has("subtotal") || (has("sub") && has("total")) {
        return Some(Concept::Subtotal);
    }
    const NOT_AN_AMOUNT: &[&str] = &[
        "exempt",
        "exemption",
        "id",
        "calculation",
        "code",
        "rate",
        "ref",
        "status",
        "type",
        "included",
    ];
    if has("tax") && !words.iter().any(|w| NOT_AN_AMOUNT.contains(&w.as_str())) {
        return Some(Concept::Tax);
    }
    const TOTAL_WORDS: &[&str] = &[
        "total", "amount", "price", "grand", "gross", "order", "invoice", "value",
    ];
    if (has("total") && words.iter().all(|w| TOTAL_WORDS.contains(&w.as_str()))) || only(&["amount", "due"]) {
        return Some(Concept::Total);
    }
    if has("due") && (has("date") || has("at")) {
        return Some(Concept::DueDate);
    }
    if (has("transaction") || has("txn") || has("invoice") || has("order")) && has("date") {
        return Some(Concept::TxnDate);
    }
    if has("number") && (has("doc") || has("document") || has("order") || has("invoice") || only(&["number"])) {
        return Some(Concept::DocNumber);
    }
    if has("created") || (has("create") && (has("time") || has("date"))) {
        return Some(Concept::Created);
    }
    if has("updated") || has("modified") || has("lastmodifieddate") {
        return Some(Concept::Updated);
    }
    if has("note") || has("notes") || has("memo") || has("description") || has("comment") {
        return Some(Concept::Note);
    }
    if only(&["name"]) || ((has("display") || has("full")) && has("name")) {
        return Some(Concept::FullName);
    }
    if only(&["id"]) {
        return Some(Concept::Id);
    }
    None
}

/// The words two fields' parents share, 0 to 1 (`billing_address` and `BillAddr` share both:
/// a word matches another that starts with it, `bill` ~ `billing`).
pub fn context_overlap(a: &[String], b: &[String]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let matches = |x: &String, y: &String| {
        x == y || (x.len() >= 4 && y.starts_with(x.as_str())) || (y.len() >= 4 && x.starts_with(y.as_str()))
    };
    let shared = a.iter().filter(|x| b.iter().any(|y| matches(x, y))).count();
    shared as f64 / a.len().max(b.len()) as f64
}

/// How alike two leaf names are once spelled the same way, 0 to 1.
pub fn name_similarity(a: &[String], b: &[String]) -> f64 {
    let (a, b) = (a.concat(), b.concat());
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    strsim::jaro_winkler(&a, &b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Vec<String> {
        p.split('.').map(str::to_string).collect()
    }

    #[test]
    fn tokens_split_case_separators_and_abbreviations() {
        assert_eq!(tokens("PrimaryEmailAddr"), ["primary", "email", "address"]);
        assert_eq!(tokens("first_name"), ["first", "name"]);
        assert_eq!(tokens("givenName"), ["given", "name"]);
        assert_eq!(tokens("TotalAmt"), ["total", "amount"]);
        assert_eq!(tokens("HTTPStatus"), ["http", "status"]);
        assert_eq!(tokens("line1"), ["line1"]);
        assert_eq!(tokens("Line1"), ["line1"]);
        assert_eq!(tokens("address1"), ["line1"]);
        assert_eq!(tokens("zip"), ["postal", "code"]);
    }

    #[test]
    fn the_usual_spellings_of_a_first_name_are_one_concept() {
        for name in [
            "first_name",
            "firstname",
            "FirstName",
            "givenName",
            "GivenName",
            "fname",
        ] {
            assert_eq!(concept(&path(name)), Some(Concept::GivenName), "{name}");
        }
        for name in ["last_name", "lastname", "FamilyName", "surname"] {
            assert_eq!(concept(&path(name)), Some(Concept::FamilyName), "{name}");
        }
    }

    #[test]
    fn generic_leaves_take_their_parents_meaning() {
        assert_eq!(concept(&path("PrimaryEmailAddr.Address")), Some(Concept::Email));
        assert_eq!(concept(&path("PrimaryPhone.FreeFormNumber")), Some(Concept::Phone));
        assert_eq!(concept(&path("BillAddr.City")), Some(Concept::City));
        assert_eq!(concept(&path("CurrencyRef.value")), Some(Concept::Currency));
        assert_eq!(concept(&path("BillAddr.CountrySubDivisionCode")), Some(Concept::Region));
        assert_eq!(concept(&path("properties.address")), Some(Concept::Line1));
        assert_eq!(concept(&path("TotalAmt")), Some(Concept::Total));
        assert_eq!(concept(&path("total_price_usd")), None);
        assert_eq!(concept(&path("ClassRef.name")), None);
        assert_eq!(concept(&path("GlobalTaxCalculation")), None);
        assert!(is_reference(&path("CustomerRef.value")) && !is_reference(&path("BillAddr.City")));
    }

    #[test]
    fn flags_about_an_email_are_not_an_email() {
        assert_eq!(concept(&path("email_verified")), None);
        assert_eq!(concept(&path("EmailStatus")), None);
        assert_eq!(concept(&path("buyer_accepts_marketing")), None);
    }

    #[test]
    fn context_overlap_matches_prefixes() {
        let a = tokens("billing_address");
        let b = tokens("BillAddr");
        assert_eq!(context_overlap(&a, &b), 1.0);
        assert!(context_overlap(&tokens("shipping_address"), &b) < 1.0);
    }
}
