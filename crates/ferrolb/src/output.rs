//! Output formats shared by subcommands: a readable table, JSON or YAML.

use serde::Serialize;

/// How a subcommand prints its result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    #[default]
    Table,
    /// JSON for programs.
    Json,
    /// YAML for programs and people.
    Yaml,
}

/// Serializes `value` as JSON or YAML (the table is each command's own).
pub fn render<T: Serialize>(value: &T, format: Format) -> anyhow::Result<String> {
    Ok(match format {
        Format::Json => serde_json::to_string_pretty(value)? + "\n",
        Format::Yaml => serde_saphyr::to_string(value)?,
        Format::Table => unreachable!("tables are rendered by each command"),
    })
}

/// Left-aligned columns separated by two spaces, with a header row, built
/// cell by cell into one buffer: a plan of 100k Services prints tables of
/// 100k rows, and a string (and a vector) per row and cell took more time
/// than the rest of printing them.
pub struct Table<'h> {
    header: &'h [&'h str],
    /// Every cell's text, one after the other.
    text: String,
    /// Where each cell ends in `text`; every `header.len()` cells are a row.
    ends: Vec<usize>,
}

impl<'h> Table<'h> {
    /// An empty table with room for `rows` rows.
    pub fn with_capacity(header: &'h [&'h str], rows: usize) -> Self {
        // 16 bytes a cell on average is about what plan's tables hold.
        let cells = rows * header.len();
        Table { header, text: String::with_capacity(cells * 16), ends: Vec::with_capacity(cells) }
    }

    /// Adds `text` as the next cell.
    pub fn cell(&mut self, text: &str) {
        self.text.push_str(text);
        self.ends.push(self.text.len());
    }

    /// Adds the next cell, written by `write` (which may write nothing).
    pub fn cell_with(&mut self, write: impl FnOnce(&mut String)) {
        write(&mut self.text);
        self.ends.push(self.text.len());
    }

    /// The table as text: a line per row, each cell padded to its column's
    /// width (in characters), trailing blanks cut.
    pub fn render(&self) -> String {
        let columns = self.header.len();
        let rows = self.ends.len() / columns;
        debug_assert_eq!(rows * columns, self.ends.len(), "a row was left unfinished");
        // One check of the whole text instead of counting characters per cell.
        let ascii = self.text.is_ascii() && self.header.iter().all(|h| h.is_ascii());
        let width = |cell: &str| if ascii { cell.len() } else { cell.chars().count() };
        let mut widths: Vec<usize> = self.header.iter().map(|h| width(h)).collect();
        for (i, cell) in self.cells().enumerate() {
            let w = &mut widths[i % columns];
            *w = (*w).max(width(cell));
        }
        let line_len = widths.iter().sum::<usize>() + 2 * columns;
        let mut out = String::with_capacity(line_len * (rows + 1));
        let mut line = |cells: &mut dyn Iterator<Item = &str>| {
            let start = out.len();
            for (i, cell) in cells.enumerate() {
                if i > 0 {
                    out.push_str("  ");
                }
                out.push_str(cell);
                pad(&mut out, widths[i] - width(cell));
            }
            let kept = out[start..].trim_end().len();
            out.truncate(start + kept);
            out.push('\n');
        };
        line(&mut self.header.iter().copied());
        let mut cells = self.cells();
        for _ in 0..rows {
            line(&mut cells.by_ref().take(columns));
        }
        out
    }

    fn cells(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(&self.ends).map(|(start, &end)| &self.text[start..end])
    }
}

/// Appends `n` spaces.
fn pad(out: &mut String, mut n: usize) {
    const SPACES: &str = "                                                                ";
    while n > 0 {
        let chunk = n.min(SPACES.len());
        out.push_str(&SPACES[..chunk]);
        n -= chunk;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let mut table = Table::with_capacity(&["NAMESPACE", "NAME"], 2);
        for cell in ["default", "web", "x", "database"] {
            table.cell(cell);
        }
        assert_eq!(table.render(), "NAMESPACE  NAME\ndefault    web\nx          database\n");
    }

    #[test]
    fn table_pads_by_characters_and_cuts_trailing_blanks() {
        let mut table = Table::with_capacity(&["A", "B", "C"], 2);
        for cell in ["été", "x", "", "a", "", ""] {
            table.cell(cell);
        }
        assert_eq!(table.render(), "A    B  C\nété  x\na\n");
        let mut wide = Table::with_capacity(&["A", "B"], 1);
        wide.cell(&"x".repeat(100));
        wide.cell_with(|out| out.push('y'));
        assert_eq!(wide.render(), format!("A{}B\n{}  y\n", " ".repeat(101), "x".repeat(100)));
    }
}
