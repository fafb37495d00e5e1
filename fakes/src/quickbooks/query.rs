//! The part of the QuickBooks query language the fake answers ("Query operations and syntax"
//! in Intuit's docs): `select * from <Entity> [where <cond> [and <cond>]...] [orderby <field>
//! [asc|desc]] [startposition <n>] [maxresults <n>]`, keywords in any case. A condition is
//! `<field> <op> <value>` with `=`, `<`, `<=`, `>`, `>=` and a quoted (`'...'`, `\'` inside)
//! or bare value, or `<field> in (<value>, ...)`. As in QuickBooks, a query of a name-list
//! entity (customers, items) without a condition on `Active` returns active records only.

use std::cmp::Ordering;

use serde_json::Value;

use super::{time_ms, updated_ms};

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    pub entity: String,
    conditions: Vec<(String, Op, Vec<String>)>,
    order: Option<(String, bool)>,
    /// From 1.
    pub start: usize,
    max: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
    In,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Op(Op),
    Star,
    Open,
    Close,
    Comma,
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '*' | '(' | ')' | ',' => {
                chars.next();
                out.push(match c {
                    '*' => Token::Star,
                    '(' => Token::Open,
                    ')' => Token::Close,
                    _ => Token::Comma,
                });
            }
            '\'' => {
                chars.next();
                let mut value = String::new();
                loop {
                    match chars.next() {
                        None => return Err("a quoted value is never closed".into()),
                        Some('\\') => value.extend(chars.next()),
                        Some('\'') => break,
                        Some(c) => value.push(c),
                    }
                }
                out.push(Token::Quoted(value));
            }
            '=' => {
                chars.next();
                out.push(Token::Op(Op::Eq));
            }
            '<' | '>' => {
                chars.next();
                let eq = chars.peek() == Some(&'=');
                if eq {
                    chars.next();
                }
                out.push(Token::Op(match (c, eq) {
                    ('<', false) => Op::Lt,
                    ('<', true) => Op::Le,
                    ('>', false) => Op::Gt,
                    _ => Op::Ge,
                }));
            }
            c if c.is_alphanumeric() || c == '.' || c == '_' || c == '-' || c == ':' => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_alphanumeric() || c == '.' || c == '_' || c == '-' || c == ':' {
                        word.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(Token::Word(word));
            }
            other => return Err(format!("Encountered \"{other}\"")),
        }
    }
    Ok(out)
}

fn keyword(token: Option<&Token>, word: &str) -> bool {
    matches!(token, Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
}

fn number(token: Option<&Token>, what: &str) -> Result<usize, String> {
    match token {
        Some(Token::Word(w)) => w.parse().map_err(|_| format!("{what} must be a number, not {w}")),
        _ => Err(format!("{what} needs a number")),
    }
}

/// Parses a query.
pub fn parse(text: &str) -> Result<Select, String> {
    let tokens = tokens(text)?;
    let mut at = 0;
    let next = |at: &mut usize| {
        *at += 1;
        tokens.get(*at - 1)
    };
    if !keyword(next(&mut at), "select") || next(&mut at) != Some(&Token::Star) || !keyword(next(&mut at), "from") {
        return Err("a query starts with `select * from <Entity>`".into());
    }
    let entity = match next(&mut at) {
        Some(Token::Word(w)) => w.clone(),
        _ => return Err("a query names its entity after `from`".into()),
    };
    let mut select = Select {
        entity,
        conditions: Vec::new(),
        order: None,
        start: 1,
        max: 100,
    };
    if keyword(tokens.get(at), "where") {
        at += 1;
        loop {
            let field = match next(&mut at) {
                Some(Token::Word(w)) => w.clone(),
                other => return Err(format!("a condition starts with a field, not {other:?}")),
            };
            let op = match next(&mut at) {
                Some(Token::Op(op)) => *op,
                Some(Token::Word(w)) if w.eq_ignore_ascii_case("in") => Op::In,
                other => return Err(format!("Encountered {other:?} after {field}; expected an operator")),
            };
            let mut values = Vec::new();
            if op == Op::In {
                if next(&mut at) != Some(&Token::Open) {
                    return Err(format!("`{field} in` needs a list in parentheses"));
                }
                loop {
                    match next(&mut at) {
                        Some(Token::Quoted(v) | Token::Word(v)) => values.push(v.clone()),
                        _ => return Err(format!("the list of {field} has a gap")),
                    }
                    match next(&mut at) {
                        Some(Token::Comma) => {}
                        Some(Token::Close) => break,
                        _ => return Err(format!("the list of {field} is never closed")),
                    }
                }
            } else {
                match next(&mut at) {
                    Some(Token::Quoted(v) | Token::Word(v)) => values.push(v.clone()),
                    _ => return Err(format!("the condition on {field} has no value")),
                }
            }
            select.conditions.push((field, op, values));
            if keyword(tokens.get(at), "and") {
                at += 1;
            } else {
                break;
            }
        }
    }
    if keyword(tokens.get(at), "orderby") {
        at += 1;
        let field = match next(&mut at) {
            Some(Token::Word(w)) => w.clone(),
            _ => return Err("orderby needs a field".into()),
        };
        let descending = if keyword(tokens.get(at), "desc") {
            at += 1;
            true
        } else {
            if keyword(tokens.get(at), "asc") {
                at += 1;
            }
            false
        };
        select.order = Some((field, descending));
    }
    if keyword(tokens.get(at), "startposition") {
        at += 1;
        select.start = number(next(&mut at), "startposition")?.max(1);
    }
    if keyword(tokens.get(at), "maxresults") {
        at += 1;
        select.max = number(next(&mut at), "maxresults")?;
        if !(1..=1000).contains(&select.max) {
            return Err("maxresults must be 1 to 1000".into());
        }
    }
    if let Some(extra) = tokens.get(at) {
        return Err(format!("Encountered {extra:?} at the end of the query"));
    }
    Ok(select)
}

/// A record's value for a query field: `Metadata.LastUpdatedTime` reads `MetaData`.
fn field<'a>(record: &'a Value, name: &str) -> Option<&'a Value> {
    let mut value = record;
    for part in name.split('.') {
        let object = value.as_object()?;
        value = object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(part))
            .map(|(_, v)| v)?;
    }
    Some(value)
}

fn compare(name: &str, value: &Value, literal: &str) -> Result<Option<Ordering>, String> {
    if name.to_ascii_lowercase().ends_with("time") {
        let left = value.as_str().and_then(time_ms);
        let right = time_ms(literal).ok_or_else(|| format!("{literal:?} is not a date-time"))?;
        return Ok(left.map(|l| l.cmp(&right)));
    }
    Ok(match value {
        Value::String(s) => match (s.parse::<i64>(), literal.parse::<i64>()) {
            (Ok(l), Ok(r)) if name.eq_ignore_ascii_case("Id") => Some(l.cmp(&r)),
            _ => Some(s.to_ascii_lowercase().cmp(&literal.to_ascii_lowercase())),
        },
        Value::Bool(b) => literal.parse::<bool>().ok().map(|r| b.cmp(&r)),
        Value::Number(n) => match (n.as_f64(), literal.parse::<f64>()) {
            (Some(l), Ok(r)) => l.partial_cmp(&r),
            _ => None,
        },
        _ => None,
    })
}

fn id_number(record: &Value) -> i64 {
    record["Id"].as_str().and_then(|i| i.parse().ok()).unwrap_or(0)
}

impl Select {
    /// The page of `records` the query selects.
    pub fn run(&self, records: &[Value]) -> Result<Vec<Value>, String> {
        let mut matching = Vec::new();
        let active_only = matches!(self.entity.as_str(), "Customer" | "Item")
            && !self
                .conditions
                .iter()
                .any(|(name, _, _)| name.eq_ignore_ascii_case("Active"));
        for record in records {
            let mut keep = !active_only || record["Active"] == true;
            for (name, op, literals) in &self.conditions {
                let mut orderings = Vec::new();
                for literal in literals {
                    orderings.push(match field(record, name) {
                        Some(value) => compare(name, value, literal)?,
                        None => None,
                    });
                }
                keep &= match (orderings.first().copied().flatten(), op) {
                    (_, Op::In) => orderings.contains(&Some(Ordering::Equal)),
                    (None, _) => false,
                    (Some(o), Op::Eq) => o == Ordering::Equal,
                    (Some(o), Op::Lt) => o == Ordering::Less,
                    (Some(o), Op::Le) => o != Ordering::Greater,
                    (Some(o), Op::Gt) => o == Ordering::Greater,
                    (Some(o), Op::Ge) => o != Ordering::Less,
                };
            }
            if keep {
                matching.push(record);
            }
        }
        match &self.order {
            Some((name, descending)) if name.to_ascii_lowercase().ends_with("lastupdatedtime") => {
                matching.sort_by_key(|r| (updated_ms(r), id_number(r)));
                if *descending {
                    matching.reverse();
                }
            }
            Some((name, descending)) => {
                matching.sort_by(|a, b| {
                    let key = |r: &Value| field(r, name).map(Value::to_string).unwrap_or_default();
                    key(a).cmp(&key(b)).then(id_number(a).cmp(&id_number(b)))
                });
                if *descending {
                    matching.reverse();
                }
            }
            None => matching.sort_by_key(|r| id_number(r)),
        }
        Ok(matching
            .into_iter()
            .skip(self.start - 1)
            .take(self.max)
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_incremental_query_connectors_send() {
        let q = parse(
            "select * from Customer where Metadata.LastUpdatedTime >= '2026-01-01T00:00:00Z' \
             orderby Metadata.LastUpdatedTime startposition 101 maxresults 100",
        )
        .unwrap();
        assert_eq!(q.entity, "Customer");
        assert_eq!(q.start, 101);
        let records = vec![
            json!({"Id": "2", "Active": true, "MetaData": {"LastUpdatedTime": "2026-01-01T00:00:01-08:00"}}),
            json!({"Id": "1", "Active": true, "MetaData": {"LastUpdatedTime": "2025-12-31T15:59:59-08:00"}}),
        ];
        let q = parse("SELECT * FROM Customer WHERE Metadata.LastUpdatedTime >= '2026-01-01T00:00:00Z'").unwrap();
        assert_eq!(q.run(&records).unwrap(), vec![records[0].clone()]);
        let q = parse("select * from Payment where Id = '1'").unwrap();
        assert_eq!(q.run(&records).unwrap(), vec![records[1].clone()]);
    }

    #[test]
    fn name_lists_answer_active_records_unless_the_query_asks_about_active() {
        let records = vec![json!({"Id": "1", "Active": true}), json!({"Id": "2", "Active": false})];
        let q = parse("select * from Customer").unwrap();
        assert_eq!(q.run(&records).unwrap(), vec![records[0].clone()]);
        let q = parse("select * from Customer where Active in (true, false) orderby Id desc").unwrap();
        assert_eq!(q.run(&records).unwrap(), vec![records[1].clone(), records[0].clone()]);
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        assert!(parse("select Id from Customer").is_err());
        assert!(parse("select * from Customer where Id = '1").is_err());
        assert!(parse("select * from Customer maxresults 5000").is_err());
        assert!(parse("select * from Customer; drop").is_err());
    }
}
