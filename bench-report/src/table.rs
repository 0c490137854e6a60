//! Markdown tables whose columns line up, so the same text reads well in a
//! terminal and renders on GitHub.

/// A Markdown table under construction.
#[derive(Debug, Clone)]
pub struct Table {
    header: Vec<String>,
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Columns whose name starts with `>` are right-aligned (numbers); the
    /// `>` is not printed.
    pub fn new(header: &[&str]) -> Table {
        Table {
            right: header.iter().map(|h| h.starts_with('>')).collect(),
            header: header
                .iter()
                .map(|h| h.trim_start_matches('>').to_string())
                .collect(),
            rows: Vec::new(),
        }
    }

    /// Add a row; missing cells are left empty, `|` in a cell is escaped.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        let mut row: Vec<String> = cells
            .into_iter()
            .map(|c| c.into().replace('|', "\\|"))
            .collect();
        row.resize(self.header.len(), String::new());
        self.rows.push(row);
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self) -> String {
        let width = |i: usize| {
            self.rows
                .iter()
                .map(|r| r[i].chars().count())
                .chain([self.header[i].chars().count(), 3])
                .max()
                .unwrap_or(3)
        };
        let widths: Vec<usize> = (0..self.header.len()).map(width).collect();
        let line = |cells: &[String]| {
            let mut out = String::from("|");
            for (i, c) in cells.iter().enumerate() {
                let pad = widths[i] - c.chars().count();
                if self.right[i] {
                    out.push_str(&format!(" {}{c} |", " ".repeat(pad)));
                } else {
                    out.push_str(&format!(" {c}{} |", " ".repeat(pad)));
                }
            }
            out.push('\n');
            out
        };
        let mut out = line(&self.header);
        out.push('|');
        for (i, w) in widths.iter().enumerate() {
            let dashes = "-".repeat(w - 1);
            if self.right[i] {
                out.push_str(&format!(" {dashes}: |"));
            } else {
                out.push_str(&format!(" {dashes}- |"));
            }
        }
        out.push('\n');
        for r in &self.rows {
            out.push_str(&line(r));
        }
        out
    }
}

/// The cells of the rows of the first Markdown table in `text` whose header
/// starts with the cells `header` (the separator line is skipped). For tests
/// and tools that read the reports back.
pub fn parse(text: &str, header: &[&str]) -> Vec<Vec<String>> {
    let cells = |l: &str| -> Vec<String> {
        let inner = l.trim().trim_start_matches('|').trim_end_matches('|');
        let mut out = Vec::new();
        let mut cell = String::new();
        let mut chars = inner.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&'|') => {
                    cell.push('|');
                    chars.next();
                }
                '|' => out.push(std::mem::take(&mut cell).trim().to_string()),
                c => cell.push(c),
            }
        }
        out.push(cell.trim().to_string());
        out
    };
    let mut lines = text.lines().skip_while(|l| {
        let c = cells(l);
        !(l.trim_start().starts_with('|')
            && c.len() >= header.len()
            && c.iter().zip(header).all(|(a, b)| a == b))
    });
    if lines.next().is_none() {
        return Vec::new();
    }
    lines
        .skip(1)
        .take_while(|l| l.trim_start().starts_with('|'))
        .map(cells)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_and_read_back() {
        let mut t = Table::new(&["lesson", ">ms"]);
        t.row(["sync_blocking", "1002"]);
        t.row(["a|b", "9.5"]);
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines.iter().all(|l| l.len() == lines[0].len()), "{text}");
        assert!(lines[1].ends_with(": |"), "{text}");
        let rows = parse(&format!("intro\n\n{text}\nafter"), &["lesson"]);
        assert_eq!(
            rows,
            vec![vec!["sync_blocking", "1002"], vec!["a|b", "9.5"]]
        );
        assert_eq!(parse(&text, &["lesson", "ms"]).len(), 2);
        assert!(parse(&text, &["lesson", "N"]).is_empty());
        assert!(parse(&text, &["nope"]).is_empty());
    }
}
