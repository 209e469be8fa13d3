//! Markdown tables, the one way the harness writes them: the header line of column
//! names, the alignment line (`:--` left, `--:` right), then one line per row, each
//! cell between `| ` and ` |`. Cells are written as given: a caller escapes what a
//! cell must not hold (`|`). Every row has as many cells as the header has columns.

use std::fmt::Display;

/// How a column's cells line up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    /// `:--`: text.
    Left,
    /// `--:`: figures.
    Right,
}

/// A Markdown table being written.
#[derive(Clone, Debug)]
pub struct Table {
    text: String,
    columns: usize,
}

impl Table {
    /// A table with `columns`, each a name and its alignment; an empty name leaves
    /// its header cell blank (`| |`).
    pub fn new(columns: &[(&str, Align)]) -> Table {
        let mut text = String::from("|");
        for (name, _) in columns {
            if name.is_empty() {
                text.push_str(" |");
            } else {
                text.push_str(&format!(" {name} |"));
            }
        }
        text.push_str("\n|");
        for (_, align) in columns {
            text.push_str(match align {
                Align::Left => ":--|",
                Align::Right => "--:|",
            });
        }
        text.push('\n');
        Table { text, columns: columns.len() }
    }

    /// Adds a row of `cells`, one per column.
    pub fn row(&mut self, cells: &[&dyn Display]) {
        debug_assert_eq!(cells.len(), self.columns, "a row has one cell per column");
        self.text.push('|');
        for cell in cells {
            self.text.push_str(&format!(" {cell} |"));
        }
        self.text.push('\n');
    }

    /// The table's text: one line per line of the table, each ending in `\n`.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Appends the table to `md`.
    pub fn write_into(&self, md: &mut String) {
        md.push_str(&self.text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Header, alignment and rows, byte for byte; a blank header cell stays one space.
    #[test]
    fn writes_markdown() {
        let mut t = Table::new(&[("", Align::Left), ("msgs/s", Align::Right)]);
        t.row(&[&"echod", &format!("{}/s", 12)]);
        t.row(&[&"", &3.5]);
        assert_eq!(t.text(), "| | msgs/s |\n|:--|--:|\n| echod | 12/s |\n|  | 3.5 |\n");
    }
}
