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

/// Left-aligned columns separated by two spaces, with a header row.
pub fn table<S: AsRef<str>>(header: &[&str], rows: &[Vec<S>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.as_ref().chars().count());
        }
    }
    let line_len = widths.iter().sum::<usize>() + 2 * widths.len();
    let mut out = String::with_capacity(line_len * (rows.len() + 1));
    // Pushed cell by cell, not through `format!`: a plan prints 100k rows.
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let start = out.len();
        for (i, cell) in cells.enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            out.push_str(cell);
            let pad = widths[i].saturating_sub(cell.chars().count());
            out.extend(std::iter::repeat_n(' ', pad));
        }
        let kept = out[start..].trim_end().len();
        out.truncate(start + kept);
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(AsRef::as_ref));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let rows =
            vec![vec!["default".to_owned(), "web".to_owned()], vec!["x".to_owned(), "database".to_owned()]];
        assert_eq!(
            table(&["NAMESPACE", "NAME"], &rows),
            "NAMESPACE  NAME\ndefault    web\nx          database\n"
        );
    }
}
