//! HTML building blocks: escaping, tables, figures and the page shell.

use base64::Engine;

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A share in 0..=1 as a percentage; `—` when absent.
pub fn pct(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{}%", unsigned_zero(format!("{:.1}", v * 100.0))),
        _ => "—".into(),
    }
}

pub fn num(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(v) if v.is_finite() => unsigned_zero(format!("{v:.digits$}")),
        _ => "—".into(),
    }
}

/// `-0.0` (an empty sum of f64 is negative zero, and so rounds a tiny negative) as `0.0`.
fn unsigned_zero(s: String) -> String {
    match s.strip_prefix('-') {
        Some(rest) if rest.bytes().all(|b| b == b'0' || b == b'.') => rest.to_string(),
        _ => s,
    }
}

/// A table; cells are escaped text, and a header cell starting with `#`
/// marks its column numeric (right-aligned, the `#` is dropped).
pub struct Table {
    head: Vec<String>,
    rows: Vec<Vec<String>>,
    class: &'static str,
}

impl Table {
    pub fn new(head: impl IntoIterator<Item = impl Into<String>>) -> Table {
        Table {
            head: head.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
            class: "",
        }
    }

    pub fn class(mut self, class: &'static str) -> Table {
        self.class = class;
        self
    }

    pub fn row(&mut self, cells: impl IntoIterator<Item = impl Into<String>>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn html(&self) -> String {
        let numeric: Vec<bool> = self.head.iter().map(|h| h.starts_with('#')).collect();
        let mut s = format!(
            "<div class=\"tw\"><table class=\"{}\"><thead><tr>",
            self.class
        );
        for (h, n) in self.head.iter().zip(&numeric) {
            let h = h.strip_prefix('#').unwrap_or(h);
            let cls = if *n { " class=\"n\"" } else { "" };
            s.push_str(&format!("<th{cls}>{}</th>", escape(h)));
        }
        s.push_str("</tr></thead><tbody>\n");
        for row in &self.rows {
            s.push_str("<tr>");
            for (i, cell) in row.iter().enumerate() {
                let cls = if numeric.get(i).copied().unwrap_or(false) {
                    " class=\"n\""
                } else {
                    ""
                };
                s.push_str(&format!("<td{cls}>{}</td>", escape(cell)));
            }
            s.push_str("</tr>\n");
        }
        s.push_str("</tbody></table></div>\n");
        s
    }
}

/// A chart embedded as a base64 PNG, so the page needs no other file.
pub fn figure(png: &[u8], alt: &str, file_name: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(png);
    format!(
        "<figure><img alt=\"{}\" src=\"data:image/png;base64,{b64}\"><figcaption>{} \
         <span class=\"file\">report/{}</span></figcaption></figure>\n",
        escape(alt),
        escape(alt),
        escape(file_name)
    )
}

pub fn not_run(what: &str) -> String {
    format!("<p class=\"notrun\">{}: not run</p>\n", escape(what))
}

pub fn note(text: &str) -> String {
    format!("<p class=\"note\">{}</p>\n", escape(text))
}

const CSS: &str = r#"
:root { --fg:#1d2430; --muted:#5c6777; --line:#dfe3ea; --bg:#f6f7f9; --accent:#1f77b4; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.45 "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; color:var(--fg); background:var(--bg); }
header { background:#1d2430; color:#fff; padding:22px 32px; }
header h1 { margin:0 0 4px; font-size:24px; font-weight:600; }
header p { margin:0; color:#c5ccd8; }
main { max-width:1120px; margin:0 auto; padding:18px 24px 48px; }
section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:16px 22px; margin:18px 0; }
h2 { font-size:19px; margin:0 0 10px; color:var(--accent); }
h3 { font-size:15px; margin:14px 0 6px; color:var(--muted); text-transform:uppercase; letter-spacing:.04em; }
.tw { max-width:100%; overflow-x:auto; }
table { border-collapse:collapse; margin:6px 0 12px; font-size:14px; }
th, td { padding:5px 9px; border-bottom:1px solid var(--line); text-align:left; white-space:nowrap; }
th { background:#eef1f5; font-weight:600; }
td.n, th.n { text-align:right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) td { background:#fafbfc; }
.arms { display:flex; gap:24px; flex-wrap:wrap; align-items:flex-start; }
.arms > div { min-width:0; max-width:100%; }
figure { margin:10px 0; }
figure img { max-width:100%; height:auto; border:1px solid var(--line); border-radius:4px; }
figcaption { color:var(--muted); font-size:13px; }
figcaption .file { font-family: "DejaVu Sans Mono", monospace; color:#8a93a2; margin-left:8px; }
.notrun { color:var(--muted); font-style:italic; }
.note { color:#8a5a00; font-size:13px; }
.kpis { display:flex; gap:14px; flex-wrap:wrap; margin:4px 0 6px; }
.kpi { background:var(--bg); border:1px solid var(--line); border-radius:6px; padding:8px 14px; min-width:150px; }
.kpi b { display:block; font-size:22px; }
.kpi span { color:var(--muted); font-size:13px; }
td.w { white-space:normal; min-width:280px; }
table.kv th { text-align:left; background:none; color:var(--muted); font-weight:600; padding-right:18px; }
table.kv td { white-space:normal; }
details summary { cursor:pointer; }
pre { white-space:pre-wrap; word-break:break-word; font:12px/1.4 "DejaVu Sans Mono", monospace; background:#f3f4f6; border:1px solid var(--line); border-radius:4px; padding:6px 8px; margin:6px 0; max-height:320px; overflow:auto; }
pre.stderr { background:#fbf3f2; }
p.file { font:12px "DejaVu Sans Mono", monospace; color:#8a93a2; margin:4px 0; }
footer { color:var(--muted); font-size:12px; text-align:center; margin-top:20px; }
"#;

/// Wraps the sections into a complete page with inline CSS and no external references.
pub fn page(title: &str, subtitle: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>{CSS}</style></head>\n<body><header><h1>{t}</h1><p>{s}</p></header>\n\
         <main>\n{body}</main><footer>rendered by ouro report</footer></body></html>\n",
        t = escape(title),
        s = escape(subtitle),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_zero_prints_as_zero() {
        let empty: f64 = std::iter::empty::<f64>().sum();
        assert_eq!(num(Some(empty), 1), "0.0");
        assert_eq!(num(Some(-0.04), 1), "0.0");
        assert_eq!(num(Some(-0.06), 1), "-0.1");
        assert_eq!(pct(Some(-0.0001)), "0.0%");
    }

    #[test]
    fn cells_are_escaped_and_numeric_columns_marked() {
        let mut t = Table::new(["name", "#pass@1"]);
        t.row(["<script>", "12.0%"]);
        let h = t.html();
        assert!(
            h.contains("<td>&lt;script&gt;</td><td class=\"n\">12.0%</td>"),
            "{h}"
        );
        assert!(h.contains("<th class=\"n\">pass@1</th>"));
    }
}
