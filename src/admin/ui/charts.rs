//! Small bar charts drawn server-side as inline SVG (no script, no chart library, no CDN).

use std::fmt::Write;

/// Which colour class the bars get.
#[derive(Debug, Clone, Copy)]
pub enum Tone {
    Requests,
    Errors,
    Attempts,
}

impl Tone {
    fn class(self) -> &'static str {
        match self {
            Tone::Requests => "b",
            Tone::Errors => "b e",
            Tone::Attempts => "b a",
        }
    }
}

const W: f64 = 300.0;
const H: f64 = 90.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 14.0;

/// A bar chart of `values` with the first and last labels under it and the maximum on top; each
/// bar has a `<title>` (its label and value) for hover.
pub fn bars(values: &[u64], labels: &[String], tone: Tone, title: &str) -> String {
    let n = values.len().max(1);
    let max = values.iter().copied().max().unwrap_or(0);
    let step = W / n as f64;
    let gap = if step > 4.0 { 1.0 } else { 0.0 };
    let plot = H - TOP - BOTTOM;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{}">"#,
        escape(title)
    );
    let _ = write!(
        s,
        r#"<line x1="0" y1="{y}" x2="{W}" y2="{y}"/><text x="0" y="9">max {max}</text>"#,
        y = H - BOTTOM
    );
    for (i, v) in values.iter().enumerate() {
        let h = if max == 0 {
            0.0
        } else {
            plot * (*v as f64) / (max as f64)
        };
        let label = labels.get(i).map_or("", String::as_str);
        let _ = write!(
            s,
            r#"<rect class="{}" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}"><title>{}: {v}</title></rect>"#,
            tone.class(),
            i as f64 * step,
            H - BOTTOM - h,
            (step - gap).max(0.5),
            h.max(if *v > 0 { 1.0 } else { 0.0 }),
            escape(label)
        );
    }
    if let (Some(first), Some(last)) = (labels.first(), labels.last()) {
        let _ = write!(
            s,
            r#"<text x="0" y="{H}">{}</text><text x="{W}" y="{H}" text-anchor="end">{}</text>"#,
            escape(first),
            escape(last)
        );
    }
    s.push_str("</svg>");
    s
}

/// HTML/XML text escaping.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_maximum_and_escape_labels() {
        let svg = bars(
            &[0, 5, 10],
            &["<a>".into(), "b".into(), "c".into()],
            Tone::Errors,
            "t",
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains("max 10"));
        assert!(svg.contains("&lt;a&gt;") && !svg.contains("<a>"));
        assert!(svg.contains(r#"class="b e""#));
        // the tallest bar fills the plot
        assert!(svg.contains(&format!(r#"height="{:.1}""#, H - TOP - BOTTOM)));
        assert!(bars(&[], &[], Tone::Requests, "empty").contains("max 0"));
    }
}
