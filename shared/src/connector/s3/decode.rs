//! Records out of an object's body as it arrives: CSV rows (through `csv-async`) or JSON
//! Lines, one at a time, with the line each starts on and the byte offset after it (where a
//! later page resumes with a ranged GET). A line that cannot be read (a CSV row with the
//! wrong number of fields, text that is not UTF-8, a JSON line that is not an object) is
//! reported with its line number and reading goes on.

use serde_json::{Map, Value};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead};

use super::spec::FileFormat;

/// One item read from an object.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A record, and the line it starts on.
    Record { line: u64, fields: Map<String, Value> },
    /// An unreadable line and why.
    Rejected { line: u64, reason: String },
}

/// Where to start reading: at byte `byte` of the object, which starts line `line`; a CSV
/// object's `header` when it was read already (a resumed read).
#[derive(Debug, Clone, Default)]
pub struct Start {
    pub byte: u64,
    pub line: u64,
    pub header: Option<Vec<String>>,
}

enum Inner<R: AsyncRead + Unpin + Send> {
    Csv(csv_async::AsyncReader<R>),
    Lines(R),
}

/// Reads items from a body.
pub struct RecordReader<R: AsyncRead + AsyncBufRead + Unpin + Send> {
    inner: Inner<R>,
    base_byte: u64,
    base_line: u64,
    /// JSON Lines: the next line's number and byte offset.
    line: u64,
    byte: u64,
    header: Option<Vec<String>>,
    buf: Vec<u8>,
}

impl<R: AsyncRead + AsyncBufRead + Unpin + Send> RecordReader<R> {
    pub fn new(body: R, format: FileFormat, delimiter: char, start: Start) -> Self {
        let line = start.line.max(1);
        let inner = match format {
            FileFormat::Csv => Inner::Csv(
                csv_async::AsyncReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .delimiter(delimiter as u8)
                    .create_reader(body),
            ),
            FileFormat::Jsonl => Inner::Lines(body),
        };
        Self {
            inner,
            base_byte: start.byte,
            base_line: line,
            line,
            byte: start.byte,
            header: start.header,
            buf: Vec::new(),
        }
    }

    /// The CSV header, once read.
    pub fn header(&self) -> Option<&Vec<String>> {
        self.header.as_ref()
    }

    /// Where the next item starts: (byte offset in the object, line number).
    pub fn position(&self) -> (u64, u64) {
        match &self.inner {
            Inner::Csv(r) => {
                let p = r.position();
                (self.base_byte + p.byte(), self.base_line + p.line() - 1)
            }
            Inner::Lines(_) => (self.byte, self.line),
        }
    }

    /// The next item; `None` at the end of the body. An error is the body failing to arrive.
    pub async fn next(&mut self) -> Result<Option<Item>, std::io::Error> {
        match &mut self.inner {
            Inner::Csv(_) => self.next_csv().await,
            Inner::Lines(_) => self.next_line().await,
        }
    }

    async fn next_csv(&mut self) -> Result<Option<Item>, std::io::Error> {
        let Inner::Csv(reader) = &mut self.inner else {
            unreachable!("a CSV reader")
        };
        loop {
            let mut row = csv_async::ByteRecord::new();
            let more = reader.read_byte_record(&mut row).await.map_err(csv_io_error)?;
            if !more {
                return Ok(None);
            }
            let line = self.base_line + row.position().map(|p| p.line()).unwrap_or(1) - 1;
            let mut cells = Vec::with_capacity(row.len());
            for (i, cell) in row.iter().enumerate() {
                match std::str::from_utf8(cell) {
                    Ok(text) => cells.push(text.to_owned()),
                    Err(_) => {
                        return Ok(Some(Item::Rejected {
                            line,
                            reason: format!("field {} is not UTF-8 text", i + 1),
                        }))
                    }
                }
            }
            let Some(header) = &self.header else {
                if let Some(first) = cells.first_mut() {
                    *first = first.trim_start_matches('\u{feff}').to_owned();
                }
                let mut seen = std::collections::BTreeSet::new();
                if let Some(bad) = cells.iter().find(|c| c.is_empty() || !seen.insert(c.as_str())) {
                    // Without a usable header no row can be read: the caller skips the object.
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "the CSV header names column `{}` twice or not at all",
                            bad.escape_debug()
                        ),
                    ));
                }
                self.header = Some(cells);
                continue;
            };
            if cells.len() != header.len() {
                return Ok(Some(Item::Rejected {
                    line,
                    reason: format!("{} fields where the header has {}", cells.len(), header.len()),
                }));
            }
            let fields = header
                .iter()
                .cloned()
                .zip(cells.into_iter().map(Value::String))
                .collect();
            return Ok(Some(Item::Record { line, fields }));
        }
    }

    async fn next_line(&mut self) -> Result<Option<Item>, std::io::Error> {
        let Inner::Lines(reader) = &mut self.inner else {
            unreachable!("a lines reader")
        };
        loop {
            self.buf.clear();
            let read = reader.read_until(b'\n', &mut self.buf).await?;
            if read == 0 {
                return Ok(None);
            }
            let line = self.line;
            self.line += 1;
            self.byte += read as u64;
            let text = self.buf.trim_ascii();
            if text.is_empty() {
                continue;
            }
            return Ok(Some(match crate::json::from_bytes::<Value>(text) {
                Ok(Value::Object(fields)) => Item::Record { line, fields },
                Ok(_) => Item::Rejected {
                    line,
                    reason: "the line is JSON but not an object".into(),
                },
                Err(e) => Item::Rejected {
                    line,
                    reason: format!("the line is not JSON ({e})"),
                },
            }));
        }
    }
}

fn csv_io_error(e: csv_async::Error) -> std::io::Error {
    match e.into_kind() {
        csv_async::ErrorKind::Io(e) => e,
        other => std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn all(body: &'static [u8], format: FileFormat, start: Start) -> (Vec<Item>, (u64, u64)) {
        let mut r = RecordReader::new(body, format, ',', start);
        let mut out = Vec::new();
        while let Some(item) = r.next().await.expect("in memory") {
            out.push(item);
        }
        (out, r.position())
    }

    fn line_of(item: &Item) -> u64 {
        match item {
            Item::Record { line, .. } | Item::Rejected { line, .. } => *line,
        }
    }

    #[tokio::test]
    async fn csv_rows_carry_their_line_and_a_malformed_row_is_reported_alone() {
        let body = b"\xef\xbb\xbfemail,name\na@x.io,Ada\nb@x.io,\"Grace\nHopper\"\nbroken\nc@x.io,Edsger\n";
        let (items, _) = all(body, FileFormat::Csv, Start::default()).await;
        assert_eq!(items.len(), 4, "{items:?}");
        let Item::Record { line, fields } = &items[0] else {
            panic!("{items:?}")
        };
        assert_eq!((*line, fields["email"].as_str()), (2, Some("a@x.io")));
        let Item::Record { line, fields } = &items[1] else {
            panic!("{items:?}")
        };
        assert_eq!((*line, fields["name"].as_str()), (3, Some("Grace\nHopper")));
        assert_eq!(
            items[2],
            Item::Rejected {
                line: 5,
                reason: "1 fields where the header has 2".into()
            }
        );
        assert_eq!(line_of(&items[3]), 6);
    }

    #[tokio::test]
    async fn a_csv_read_resumes_at_a_byte_offset_with_the_header_it_already_has() {
        let body: &'static [u8] = b"email,name\na@x.io,Ada\nb@x.io,Grace\nc@x.io,Edsger\n";
        let mut r = RecordReader::new(body, FileFormat::Csv, ',', Start::default());
        r.next().await.expect("read").expect("a row");
        let (byte, line) = r.position();
        assert_eq!((byte, line), (22, 3));
        let header = r.header().cloned();
        let (rest, end) = all(&body[byte as usize..], FileFormat::Csv, Start { byte, line, header }).await;
        assert_eq!(rest.iter().map(line_of).collect::<Vec<_>>(), [3, 4]);
        assert_eq!(end.0, body.len() as u64);
    }

    #[tokio::test]
    async fn json_lines_skip_blank_lines_and_report_what_is_not_an_object() {
        let body = b"{\"email\":\"a@x.io\"}\n\n[1,2]\n{oops\n{\"email\":\"b@x.io\"}";
        let (items, end) = all(body, FileFormat::Jsonl, Start::default()).await;
        assert_eq!(items.iter().map(line_of).collect::<Vec<_>>(), [1, 3, 4, 5]);
        assert!(matches!(&items[1], Item::Rejected { reason, .. } if reason.contains("not an object")));
        assert!(matches!(&items[2], Item::Rejected { reason, .. } if reason.contains("not JSON")));
        assert_eq!(end, (body.len() as u64, 6));
        let (resumed, _) = all(
            &body[20..],
            FileFormat::Jsonl,
            Start {
                byte: 20,
                line: 3,
                header: None,
            },
        )
        .await;
        assert_eq!(resumed.iter().map(line_of).collect::<Vec<_>>(), [3, 4, 5]);
    }
}
