//! Tables for people: columns padded to their widest cell, headers in bold on a terminal
//! only, and, on a terminal narrower than the table, the widest columns cut (with `…`) until
//! it fits. Piped output is never cut and carries no escape codes.

use std::io::{IsTerminal, Write};

/// A table of text cells.
pub(crate) struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

/// Cut no column below this many characters.
const MIN_WIDTH: usize = 6;

impl Table {
    pub(crate) fn new(headers: Vec<&'static str>) -> Self {
        Self {
            headers,
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Writes the table to stdout, fitted to the terminal when stdout is one.
    pub(crate) fn print(&self) -> std::io::Result<()> {
        let stdout = std::io::stdout();
        let terminal = stdout.is_terminal();
        let width = terminal.then(|| console::Term::stdout().size().1 as usize);
        self.write(&mut stdout.lock(), width, terminal)
    }

    fn write(&self, out: &mut impl Write, width: Option<usize>, bold: bool) -> std::io::Result<()> {
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        if let Some(limit) = width {
            fit(&mut widths, limit);
        }
        let line = |cells: Vec<String>| -> String {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(cell, &w)| format!("{:<w$}", cut(cell, w)))
                .collect();
            padded.join("  ").trim_end().to_string()
        };
        let header = line(self.headers.iter().map(|h| h.to_string()).collect());
        if bold {
            writeln!(out, "{}", console::style(header).bold())?;
        } else {
            writeln!(out, "{header}")?;
        }
        for row in &self.rows {
            writeln!(out, "{}", line(row.clone()))?;
        }
        Ok(())
    }
}

/// Shrinks the widest columns until the table (two spaces between columns) fits `limit`.
fn fit(widths: &mut [usize], limit: usize) {
    let total = |w: &[usize]| w.iter().sum::<usize>() + 2 * w.len().saturating_sub(1);
    while total(widths) > limit {
        let Some((i, &widest)) = widths.iter().enumerate().max_by_key(|(_, w)| **w) else {
            return;
        };
        if widest <= MIN_WIDTH {
            return;
        }
        widths[i] = widest - 1;
    }
}

fn cut(cell: &str, width: usize) -> String {
    if cell.chars().count() <= width {
        return cell.to_string();
    }
    let mut out: String = cell.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(table: &Table, width: Option<usize>) -> String {
        let mut out = Vec::new();
        table.write(&mut out, width, false).unwrap_or_default();
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn columns_align_and_narrow_terminals_cut_the_widest() {
        let mut table = Table::new(vec!["TOPIC", "MEMBER"]);
        table.row(vec!["t".into(), "consumer-0123456789abcdef".into()]);
        assert_eq!(
            render(&table, None),
            "TOPIC  MEMBER\nt      consumer-0123456789abcdef\n"
        );
        let narrow = render(&table, Some(20));
        assert!(narrow.lines().all(|l| l.chars().count() <= 20), "{narrow}");
        assert!(narrow.contains('…'), "{narrow}");
    }
}
