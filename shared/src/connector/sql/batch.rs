//! How a batch of prepared rows becomes statements: consecutive rows that write the same
//! columns share one `INSERT ... VALUES (...), (...)` (with its `ON CONFLICT` / `ON DUPLICATE
//! KEY UPDATE`, or SQL Server's `MERGE`), bounded by the write's `rows_per_statement`, the
//! database's parameter limit and its row limit; the rest are written one by one. Pure: rows in, steps out.
//!
//! A shared statement either writes all its rows or none: when the database refuses it for
//! one row (a constraint, a value), the writer rolls it back and writes those rows one by one,
//! so each row still gets its own result and reason.

use super::dialect::{Column, Dialect};
use super::values::BindValue;

/// One prepared row write: its own statement and parameters, and what a shared statement
/// needs to take it in.
#[derive(Debug, Clone)]
pub(crate) struct RowWrite {
    /// The record's place in the caller's batch.
    pub index: usize,
    pub sql: String,
    pub params: Vec<BindValue>,
    /// The destination id when the record carries it.
    pub id: Option<String>,
    /// MySQL upserts: an update on the key first; the insert runs when it matched no row.
    pub update: Option<(String, Vec<BindValue>)>,
    /// The columns written, in parameter order.
    pub columns: Vec<Column>,
    /// The key's values as text (upserts): two rows with one key never share a statement.
    pub key: Option<String>,
    /// Whether the row can share a statement: its result needs nothing back from the database
    /// (no generated id), and it is written by one insert.
    pub shareable: bool,
}

/// What the writer runs, in the batch's order.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// One statement for all `rows` (two or more).
    Many {
        sql: String,
        params: Vec<BindValue>,
        rows: Vec<RowWrite>,
    },
    /// A row on its own.
    One(RowWrite),
}

/// The steps writing `rows` into `table` (quoted), upserting on `key` when it is not empty.
pub(crate) fn plan(
    dialect: Dialect,
    table: &str,
    key: &[String],
    rows: Vec<RowWrite>,
    rows_per_statement: usize,
) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut group: Vec<RowWrite> = Vec::new();
    let flush = |group: &mut Vec<RowWrite>, steps: &mut Vec<Step>| match group.len() {
        0 => {}
        1 => steps.push(Step::One(group.pop().expect("one row"))),
        n => {
            let columns: Vec<&Column> = group[0].columns.iter().collect();
            let sql = dialect.insert_rows(table, &columns, key, n, None);
            let params = group.iter().flat_map(|r| r.params.iter().cloned()).collect();
            steps.push(Step::Many {
                sql,
                params,
                rows: std::mem::take(group),
            });
        }
    };
    for row in rows {
        if !row.shareable {
            flush(&mut group, &mut steps);
            steps.push(Step::One(row));
            continue;
        }
        let cap = rows_per_statement
            .min(dialect.max_params() / row.columns.len().max(1))
            .min(dialect.max_rows())
            .max(1);
        let fits = group.first().is_some_and(|first| {
            first.columns == row.columns
                && group.len() < cap
                && (row.key.is_none() || group.iter().all(|g| g.key != row.key))
        });
        if !fits {
            flush(&mut group, &mut steps);
        }
        group.push(row);
    }
    flush(&mut group, &mut steps);
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(index: usize, columns: &[&str], key: Option<&str>, shareable: bool) -> RowWrite {
        let columns: Vec<Column> = columns
            .iter()
            .map(|c| Column::new(Dialect::Postgres, *c, "TEXT"))
            .collect();
        RowWrite {
            index,
            sql: format!("single {index}"),
            params: columns
                .iter()
                .map(|c| BindValue::Text(format!("{}{index}", c.name)))
                .collect(),
            id: key.map(str::to_owned),
            update: None,
            columns,
            key: key.map(str::to_owned),
            shareable,
        }
    }

    fn shape(steps: &[Step]) -> Vec<Vec<usize>> {
        steps
            .iter()
            .map(|s| match s {
                Step::Many { rows, .. } => rows.iter().map(|r| r.index).collect(),
                Step::One(r) => vec![r.index],
            })
            .collect()
    }

    #[test]
    fn a_batch_of_like_rows_is_one_statement_with_its_parameters_in_row_order() {
        let rows: Vec<RowWrite> = (0..100)
            .map(|i| row(i, &["id", "email"], Some(&i.to_string()), true))
            .collect();
        let steps = plan(Dialect::Postgres, "\"contacts\"", &["id".into()], rows, 500);
        assert_eq!(steps.len(), 1);
        let Step::Many { sql, params, rows } = &steps[0] else {
            panic!("one shared statement: {steps:?}")
        };
        assert_eq!(rows.len(), 100);
        assert!(sql.starts_with(
            "INSERT INTO \"contacts\" (\"id\", \"email\") VALUES (CAST($1 AS TEXT), CAST($2 AS TEXT)), (CAST($3 AS TEXT)"
        ), "{sql}");
        assert!(
            sql.contains("CAST($200 AS TEXT)) ON CONFLICT (\"id\") DO UPDATE SET \"email\" = excluded.\"email\""),
            "{sql}"
        );
        assert_eq!(sql.matches("INSERT").count(), 1);
        assert_eq!(params.len(), 200);
        assert_eq!(
            params[2],
            BindValue::Text("id1".into()),
            "row 1's values follow row 0's"
        );
    }

    #[test]
    fn rows_split_where_columns_differ_a_key_repeats_or_an_id_comes_back() {
        let rows = vec![
            row(0, &["id", "email"], Some("a"), true),
            row(1, &["id", "email"], Some("b"), true),
            row(2, &["id", "email"], Some("a"), true), // the same key again
            row(3, &["id", "email"], Some("c"), true),
            row(4, &["id", "name"], Some("d"), true), // other columns
            row(5, &["id", "name"], Some("e"), true),
            row(6, &["id", "name"], None, false), // its id is generated
            row(7, &["id", "name"], Some("f"), true),
        ];
        let steps = plan(Dialect::Postgres, "t", &["id".into()], rows, 500);
        assert_eq!(
            shape(&steps),
            vec![vec![0, 1], vec![2, 3], vec![4, 5], vec![6], vec![7]]
        );
        assert!(matches!(steps[4], Step::One(_)), "a lone row keeps its own statement");
    }

    #[test]
    fn statements_stay_within_rows_per_statement_and_the_parameter_limit() {
        let rows: Vec<RowWrite> = (0..10).map(|i| row(i, &["a", "b"], None, true)).collect();
        let steps = plan(Dialect::Mysql, "t", &[], rows, 4);
        assert_eq!(shape(&steps), vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]);
        // 20,000 rows of two columns: 40,000 parameters, over SQLite's 32,766.
        let rows: Vec<RowWrite> = (0..20_000).map(|i| row(i, &["a", "b"], None, true)).collect();
        let steps = plan(Dialect::Sqlite, "t", &[], rows, 100_000);
        let sizes: Vec<usize> = shape(&steps).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![16_383, 3_617]);
        // SQL Server: 2,098 parameters a statement (2,100 less sp_executesql's two).
        let rows: Vec<RowWrite> = (0..2_000)
            .map(|i| row(i, &["id", "email", "name"], Some(&i.to_string()), true))
            .collect();
        let steps = plan(Dialect::Sqlserver, "[t]", &["id".into()], rows, 10_000);
        let sizes: Vec<usize> = shape(&steps).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![699, 699, 602]);
        for step in &steps {
            let Step::Many { sql, params, .. } = step else {
                panic!("shared: {step:?}")
            };
            assert!(params.len() <= 2_098, "{}", params.len());
            assert!(sql.starts_with("MERGE INTO [t] WITH (HOLDLOCK)"), "{sql}");
            assert!(sql.contains(&format!("@P{}", params.len())) && !sql.contains(&format!("@P{}", params.len() + 1)));
        }
        // And 1,000 rows at most in one VALUES list, however few the columns.
        let rows: Vec<RowWrite> = (0..2_500).map(|i| row(i, &["a"], None, true)).collect();
        let steps = plan(Dialect::Sqlserver, "[t]", &[], rows, 10_000);
        let sizes: Vec<usize> = shape(&steps).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![1_000, 1_000, 500]);
        let rows: Vec<RowWrite> = (0..3).map(|i| row(i, &["a"], None, true)).collect();
        let steps = plan(Dialect::Sqlite, "t", &[], rows, 1);
        assert_eq!(shape(&steps), vec![vec![0], vec![1], vec![2]], "1: a statement per row");
    }
}
