//! `report.html`, beside `report.md`: the same content as one self-contained page,
//! readable offline in a browser. The Markdown is rendered with pulldown-cmark
//! (tables included); every SVG the report shows is inlined where its image was,
//! and every SVG it links (the per-second charts) is inlined in a collapsed
//! `<details>` under its link text, so the page needs no file beside it.

use std::path::Path;

use anyhow::Context as _;
use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag, TagEnd};

const STYLE: &str = "body{font-family:sans-serif;max-width:1100px;margin:2em auto;\
    padding:0 1em;line-height:1.45;color:#222}table{border-collapse:collapse;margin:1em 0}\
    td,th{border:1px solid #ccc;padding:.25em .6em}th{background:#f3f3f3}\
    code{background:#f3f3f3;padding:0 .2em}pre{background:#f6f6f6;padding:.6em;overflow:auto}\
    svg{max-width:100%;height:auto;display:block;margin:.5em 0}details{margin:.3em 0}";

/// Renders `markdown` (the report of the folder `out`) into `out/report.html`.
pub fn write(out: &Path, markdown: &str) -> anyhow::Result<()> {
    let body = render(out, markdown);
    let title = markdown.lines().next().unwrap_or("report").trim_start_matches("# ");
    let page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{}</title><style>{STYLE}</style></head>\n<body>\n{body}</body></html>\n",
        escape(title)
    );
    let path = out.join("report.html");
    std::fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))
}

/// The HTML body: Markdown rendered, SVG images and links inlined from `out`.
pub fn render(out: &Path, markdown: &str) -> String {
    let mut events = Vec::new();
    // Inside an image or a link to an SVG: what to put out once it ends.
    let mut pending: Option<(bool, String, String)> = None;
    for event in Parser::new_ext(markdown, Options::ENABLE_TABLES) {
        match (&mut pending, event) {
            (None, Event::Start(Tag::Image { dest_url, .. })) if is_svg(&dest_url) => {
                pending = Some((true, dest_url.to_string(), String::new()));
            }
            (None, Event::Start(Tag::Link { dest_url, .. })) if is_svg(&dest_url) => {
                pending = Some((false, dest_url.to_string(), String::new()));
            }
            (Some((_, _, text)), Event::Text(t) | Event::Code(t)) => text.push_str(&t),
            (Some(_), Event::End(TagEnd::Image | TagEnd::Link)) => {
                let Some((image, file, text)) = pending.take() else { continue };
                let svg = inline_svg(out, &file, &text);
                let html = if image {
                    svg
                } else {
                    format!("<details><summary>{}</summary>{svg}</details>", escape(&text))
                };
                events.push(Event::InlineHtml(CowStr::from(html)));
            }
            (Some(_), _) => {}
            (None, e) => events.push(e),
        }
    }
    let mut body = String::new();
    html::push_html(&mut body, events.into_iter());
    body
}

fn is_svg(url: &str) -> bool {
    url.ends_with(".svg")
}

/// The SVG file's markup (its XML declaration dropped), or a note that it is missing.
fn inline_svg(out: &Path, file: &str, alt: &str) -> String {
    match std::fs::read_to_string(out.join(file)) {
        Ok(svg) => {
            let start = svg.find("<svg").unwrap_or(0);
            format!("<figure data-file=\"{}\">{}</figure>", escape(file), &svg[start..])
        }
        Err(_) => format!("<p><em>{} ({}: not found)</em></p>", escape(alt), escape(file)),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tables render; an SVG image and an SVG link are inlined; a missing one is said.
    #[test]
    fn inlines_svgs() {
        let dir = std::env::temp_dir().join(format!("html-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("a.svg"), "<?xml version=\"1.0\"?>\n<svg id=\"a\"></svg>")
            .expect("write");
        let md = "# T\n\n| x | y |\n|--|--|\n| 1 | 2 |\n\n![plot a](a.svg)\n\n- [run b](b.svg)\n- [run a](a.svg)\n";
        let html = render(&dir, md);
        assert!(html.contains("<table>") && html.contains("<td>2</td>"), "{html}");
        assert!(
            html.contains("<figure data-file=\"a.svg\"><svg id=\"a\"></svg></figure>"),
            "{html}"
        );
        assert!(!html.contains("<?xml"), "{html}");
        assert!(html.contains("<details><summary>run a</summary><figure"), "{html}");
        assert!(html.contains("run b (b.svg: not found)"), "{html}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
