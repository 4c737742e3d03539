//! What commands print: aligned tables for people, one JSON object per line for scripts.

use std::io::{self, Write};

use serde::Serialize;

use crate::error::{CliError, CliResult};

/// The form of what commands print (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Aligned tables, for people.
    Table,
    /// One JSON object per line.
    Json,
    /// Tables as comma-separated values, a header line first (RFC 4180 quoting).
    Csv,
}

/// Standard output, in the form the user asked for.
pub(crate) struct Out {
    json: bool,
    /// Tables as CSV.
    csv: bool,
    /// `--quiet`: the notes after a table are left out.
    quiet: bool,
    stdout: io::StdoutLock<'static>,
    /// The width table lines are cut to: the terminal's, or `COLUMNS` when set; `None` when
    /// the output goes to a file or a pipe, whole.
    width: Option<usize>,
}

impl Out {
    /// Standard output in `format`; without the notes after tables when `quiet`.
    pub(crate) fn new(format: Format, quiet: bool) -> Self {
        let columns = std::env::var("COLUMNS")
            .ok()
            .and_then(|columns| columns.parse::<usize>().ok())
            .filter(|columns| *columns > 0);
        let terminal = || {
            console::Term::stdout()
                .size_checked()
                .map(|(_, columns)| usize::from(columns))
                .filter(|columns| *columns > 0)
        };
        Out {
            json: format == Format::Json,
            csv: format == Format::Csv,
            quiet,
            stdout: io::stdout().lock(),
            width: columns.or_else(terminal),
        }
    }

    /// Prints a note for people after a table (that it was cut short, that some days are
    /// archived): never in JSON, nor under `--quiet`.
    pub(crate) fn note(&mut self, text: impl std::fmt::Display) -> CliResult<()> {
        if self.json || self.csv || self.quiet {
            return Ok(());
        }
        self.line(text)
    }

    /// Prints one line of a table, cut to the terminal's width ([`fit`]): a table never
    /// wraps.
    fn row_line(&mut self, text: &str) -> CliResult<()> {
        match self.width {
            Some(width) => self.line(fit(text, width)),
            None => self.line(text),
        }
    }

    /// Prints the header of `table`, its columns `widths` wide (or as CSV).
    pub(crate) fn header(&mut self, table: &Table, widths: &[usize]) -> CliResult<()> {
        if self.csv {
            return self.line(csv_line(&table.headers));
        }
        self.row_line(&table.format_header(widths))
    }

    /// Prints one `row` of `table`, its columns `widths` wide (or as CSV).
    pub(crate) fn row(&mut self, table: &Table, row: &[String], widths: &[usize]) -> CliResult<()> {
        if self.csv {
            return self.line(csv_line(row));
        }
        self.row_line(&table.format_row(row, widths))
    }

    /// Whether the user asked for JSON.
    pub(crate) fn json(&self) -> bool {
        self.json
    }

    /// Whether the user asked for JSON or CSV: a command's one report then goes through
    /// [`Out::report`], not lines for people.
    pub(crate) fn structured(&self) -> bool {
        self.json || self.csv
    }

    /// A size in a table: `30.0 KiB` for people, the bytes themselves in CSV.
    pub(crate) fn bytes(&self, bytes: u64) -> String {
        if self.csv {
            bytes.to_string()
        } else {
            human_bytes(bytes)
        }
    }

    /// Prints a command's one report in the form asked for: one JSON line, or in CSV a
    /// header of its fields and one record of their values (raw: numbers as digits, text as
    /// it is, `null` empty, a nested list or object as its JSON).
    pub(crate) fn report(&mut self, value: &impl Serialize) -> CliResult<()> {
        if !self.csv {
            return self.object(value);
        }
        let fields = match serde_json::to_value(value) {
            Ok(serde_json::Value::Object(fields)) => fields,
            Ok(other) => [("value".to_owned(), other)].into_iter().collect(),
            Err(err) => {
                return Err(CliError::refused(
                    format!("cannot print a value as CSV: {err}"),
                    "report this as a bug",
                ));
            }
        };
        let (names, values): (Vec<String>, Vec<String>) = fields
            .into_iter()
            .map(|(name, value)| {
                let cell = match value {
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::String(text) => text,
                    other => other.to_string(),
                };
                (name, cell)
            })
            .unzip();
        self.line(csv_line(&names))?;
        self.line(csv_line(&values))
    }

    /// Prints `value` as one JSON line.
    pub(crate) fn object(&mut self, value: &impl Serialize) -> CliResult<()> {
        serde_json::to_writer(&mut self.stdout, value).map_err(|err| {
            if err.is_io() {
                CliError::Io {
                    context: "writing to standard output".into(),
                    source: err.into(),
                }
            } else {
                CliError::refused(
                    format!("cannot print a value as JSON: {err}"),
                    "report this as a bug",
                )
            }
        })?;
        self.line("")
    }

    /// Prints one line of text.
    pub(crate) fn line(&mut self, text: impl std::fmt::Display) -> CliResult<()> {
        writeln!(self.stdout, "{text}").map_err(CliError::io("writing to standard output"))
    }

    /// Prints `table`, its columns aligned.
    pub(crate) fn table(&mut self, table: &Table) -> CliResult<()> {
        let widths = table.widths();
        self.header(table, &widths)?;
        for row in &table.rows {
            self.row(table, row, &widths)?;
        }
        Ok(())
    }

    /// Sends what was printed on its way (for output that follows a store).
    pub(crate) fn flush(&mut self) -> CliResult<()> {
        self.stdout
            .flush()
            .map_err(CliError::io("writing to standard output"))
    }
}

/// Rows under headers. The last column is not padded, so that a long payload runs on
/// rather than pushing every line wide.
pub(crate) struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    min_widths: Vec<usize>,
}

impl Table {
    /// An empty table with these column headers.
    pub(crate) fn new(headers: &[&str]) -> Self {
        Table {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
            min_widths: Vec::new(),
        }
    }

    /// Columns at least this wide, for rows printed one at a time (a followed log).
    pub(crate) fn with_min_widths(mut self, widths: &[usize]) -> Self {
        self.min_widths = widths.to_vec();
        self
    }

    /// Adds a row; cells are made printable on one line.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows
            .push(cells.into_iter().map(|c| one_line(&c)).collect());
    }

    /// Whether no row was added.
    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The widths of the columns: the widest cell, header, or minimum.
    pub(crate) fn widths(&self) -> Vec<usize> {
        (0..self.headers.len())
            .map(|column| {
                let cells = self.rows.iter().filter_map(|row| row.get(column));
                cells
                    .map(|cell| console::measure_text_width(cell))
                    .chain([
                        console::measure_text_width(&self.headers[column]),
                        self.min_widths.get(column).copied().unwrap_or(0),
                    ])
                    .max()
                    .unwrap_or(0)
            })
            .collect()
    }

    /// One row, padded to `widths`, two spaces between columns.
    pub(crate) fn format_row(&self, row: &[String], widths: &[usize]) -> String {
        let last = row.len().saturating_sub(1);
        let mut line = String::new();
        for (column, cell) in row.iter().enumerate() {
            if column == last {
                line.push_str(cell);
            } else {
                let width = widths.get(column).copied().unwrap_or(0);
                line.push_str(&console::pad_str(
                    cell,
                    width,
                    console::Alignment::Left,
                    None,
                ));
                line.push_str("  ");
            }
        }
        line.trim_end().to_owned()
    }

    /// The header row, padded to `widths`.
    pub(crate) fn format_header(&self, widths: &[usize]) -> String {
        self.format_row(&self.headers, widths)
    }

    /// Takes the rows added so far, leaving the table empty.
    pub(crate) fn take_rows(&mut self) -> Vec<Vec<String>> {
        std::mem::take(&mut self.rows)
    }
}

/// `cells` as one CSV line, by the `csv` crate: a cell with a comma, a quote or a line
/// break in quotes, its quotes doubled (RFC 4180).
fn csv_line(cells: &[String]) -> String {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing into memory cannot fail; an empty line would be the answer if it did.
    let bytes = writer
        .write_record(cells)
        .ok()
        .and_then(|()| writer.into_inner().ok())
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes)
        .trim_end_matches('\n')
        .to_owned()
}

/// `line` cut to `width` terminal columns, its last one `…` where it was cut: by display
/// width (a CJK character or an emoji takes two columns), colour codes kept whole, as
/// `console` measures it.
pub(crate) fn fit(line: &str, width: usize) -> std::borrow::Cow<'_, str> {
    console::truncate_str(line, width, "…")
}

/// `text` with its line breaks and other control characters escaped.
fn one_line(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `duration` as people write it: `850 ms`, `12.3 s`, `27 min 57 s`, `2 h 05 min`. Our own
/// rather than indicatif's `HumanDuration`, which rounds to one unit (`28 minutes`): a
/// timing is read to the second.
pub(crate) fn human_duration(duration: std::time::Duration) -> String {
    let seconds = duration.as_secs_f64();
    let whole = duration.as_secs();
    match whole {
        0 => format!("{} ms", duration.as_millis()),
        1..60 => format!("{seconds:.1} s"),
        60..3600 => format!("{} min {:02} s", whole / 60, whole % 60),
        _ => format!("{} h {:02} min", whole / 3600, whole % 3600 / 60),
    }
}

/// `bytes` as people read sizes: `512 B`, `1.5 KiB`, `3.2 MiB`, `1.1 GiB`. Our own rather
/// than indicatif's `HumanBytes`, which prints two decimals (`337.03 KiB`): one is what
/// `ls -h` and `du -h` users read, and it keeps size columns narrow.
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `n` with thousands separated by commas (indicatif's `HumanCount`).
pub(crate) fn thousands(n: u64) -> String {
    indicatif::HumanCount(n).to_string()
}

/// `n` and the noun that goes with it: `1 blob`, `2,000 blobs`.
pub(crate) fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_would_break_a_line_or_a_cell() {
        let cells = |cells: &[&str]| cells.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>();
        assert_eq!(csv_line(&cells(&["a", "b c", ""])), "a,b c,");
        assert_eq!(
            csv_line(&cells(&[r#"{"k":"v","n":1}"#, "x"])),
            r#""{""k"":""v"",""n"":1}",x"#
        );
        assert_eq!(csv_line(&cells(&["two\nlines"])), "\"two\nlines\"");
    }

    #[test]
    fn durations_read_as_people_write_them() {
        use std::time::Duration;
        assert_eq!(human_duration(Duration::from_millis(850)), "850 ms");
        assert_eq!(human_duration(Duration::from_millis(12_340)), "12.3 s");
        assert_eq!(
            human_duration(Duration::from_secs(27 * 60 + 57)),
            "27 min 57 s"
        );
        assert_eq!(
            human_duration(Duration::from_secs(2 * 3600 + 5 * 60 + 9)),
            "2 h 05 min"
        );
    }

    #[test]
    fn a_line_wider_than_the_terminal_is_cut_with_an_ellipsis() {
        assert_eq!(fit("short", 10), "short");
        assert_eq!(fit("exactly10!", 10), "exactly10!");
        assert_eq!(fit("one that is too long", 10), "one that …");
        assert_eq!(fit("ünïcödé wide", 5), "ünïc…");
    }

    #[test]
    fn columns_align_to_the_widest_cell_and_the_last_runs_on() {
        let mut table = Table::new(&["ID", "STATUS", "PAYLOAD"]);
        table.row(vec!["7".into(), "completed".into(), "{}".into()]);
        table.row(vec!["1234".into(), "queued".into(), "a\nb".into()]);
        let widths = table.widths();
        let lines: Vec<String> = std::iter::once(&table.headers)
            .chain(&table.rows)
            .map(|row| table.format_row(row, &widths))
            .collect();
        assert_eq!(
            lines,
            [
                "ID    STATUS     PAYLOAD",
                "7     completed  {}",
                "1234  queued     a\\nb",
            ]
        );
    }

    #[test]
    fn sizes_and_counts_read_as_people_write_them() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 20), "3.0 MiB");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(counted(1, "entry", "entries"), "1 entry");
        assert_eq!(counted(0, "entry", "entries"), "0 entries");
        assert_eq!(counted(2_000, "blob", "blobs"), "2,000 blobs");
    }

    #[test]
    fn lines_are_cut_and_padded_by_terminal_columns_not_characters() {
        let wide = "日本語のテキストと🙂";
        let cut = fit(wide, 9);
        assert_eq!(console::measure_text_width(&cut), 9, "{cut}");
        assert!(cut.ends_with('…'), "{cut}");
        assert_eq!(fit("short", 9), "short");
        let mut table = Table::new(&["A", "B"]);
        table.row(vec!["日本".to_owned(), "x".to_owned()]);
        table.row(vec!["ab".to_owned(), "y".to_owned()]);
        let widths = table.widths();
        assert_eq!(widths[0], 4, "two wide characters take four columns");
        let rows = table.take_rows();
        let first = table.format_row(&rows[0], &widths);
        let second = table.format_row(&rows[1], &widths);
        assert_eq!(
            console::measure_text_width(&first),
            console::measure_text_width(&second),
            "{first:?} {second:?}"
        );
    }
}
