//! `report.html`, beside `report.md`: the same content as one self-contained page,
//! readable offline in a browser. The Markdown is rendered with pulldown-cmark
//! (tables included); every SVG the report shows is embedded where its image was,
//! and every SVG it links (the per-second charts) is embedded in a collapsed
//! `<details>` under its link text, so the page needs no file beside it.
//!
//! A suite folder may be someone else's, so nothing in it becomes markup: the
//! report writes no HTML of its own into the Markdown, so any HTML there came from
//! the data (a scenario or server name) and is shown as text; a link or image
//! whose address is not a relative path or http(s) is shown without it; an SVG is
//! embedded as an image (`<img src="data:image/svg+xml;base64,...">`), where a
//! browser runs none of its scripts and loads nothing it references.

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
            // Raw HTML in the Markdown came from the data: shown as text.
            (None, Event::Html(t) | Event::InlineHtml(t)) => events.push(Event::Text(t)),
            (None, Event::Start(Tag::Link { link_type, dest_url, title, id })) => {
                let dest_url = safe_url(dest_url);
                events.push(Event::Start(Tag::Link { link_type, dest_url, title, id }));
            }
            (None, Event::Start(Tag::Image { link_type, dest_url, title, id })) => {
                let dest_url = safe_url(dest_url);
                events.push(Event::Start(Tag::Image { link_type, dest_url, title, id }));
            }
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

/// `url` when it is a relative path (no scheme) or http(s); else `#`.
fn safe_url(url: CowStr<'_>) -> CowStr<'_> {
    let scheme = url.split(['/', '?', '#']).next().unwrap_or("");
    let lower = url.to_ascii_lowercase();
    if !scheme.contains(':') || lower.starts_with("http://") || lower.starts_with("https://") {
        url
    } else {
        CowStr::from("#")
    }
}

/// The largest SVG file embedded (the report's own are tens of kB).
const MAX_SVG_BYTES: u64 = 8 << 20;

/// The SVG file `file` (a plain relative path inside `out`) as an image, or a
/// note that it is missing or not embedded.
fn inline_svg(out: &Path, file: &str, alt: &str) -> String {
    use base64::Engine as _;
    use std::io::Read as _;
    let inside = Path::new(file)
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir));
    let mut svg = Vec::new();
    let read = inside
        .then(|| std::fs::File::open(out.join(file)).ok())
        .flatten()
        .and_then(|f| f.take(MAX_SVG_BYTES + 1).read_to_end(&mut svg).ok());
    if read.is_none() || svg.len() as u64 > MAX_SVG_BYTES {
        return format!("<p><em>{} ({}: not found)</em></p>", escape(alt), escape(file));
    }
    format!(
        "<figure data-file=\"{}\"><img alt=\"{}\" src=\"data:image/svg+xml;base64,{}\"></figure>",
        escape(file),
        escape(alt),
        base64::engine::general_purpose::STANDARD.encode(&svg)
    )
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
        let a = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "<?xml version=\"1.0\"?>\n<svg id=\"a\"></svg>",
        );
        assert!(
            html.contains(&format!(
                "<figure data-file=\"a.svg\"><img alt=\"plot a\" src=\"data:image/svg+xml;base64,{a}\"></figure>"
            )),
            "{html}"
        );
        assert!(html.contains("<details><summary>run a</summary><figure"), "{html}");
        assert!(html.contains("run b (b.svg: not found)"), "{html}");
        let _ = std::fs::remove_dir_all(dir);
    }

    /// HTML from the data is text, a script address is dropped, an SVG holding a
    /// script is an image (its markup never in the page), a path out of the folder
    /// is not read.
    #[test]
    fn data_never_becomes_markup() {
        let dir = std::env::temp_dir().join(format!("html-hostile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("x.svg"), "<svg><script>alert(1)</script></svg>").expect("write");
        let md = "# <script>alert(2)</script>\n\n| scenario |\n|--|\n| <img src=x onerror=alert(3)> |\n\n\
                  <script>alert(4)</script>\n\n[go](javascript:alert(5)) ![x](x.svg) [up](../../etc/passwd.svg)\n";
        let html = render(&dir, md);
        assert!(!html.contains("<script") && !html.contains("<img src=x"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(4)&lt;/script&gt;"), "{html}");
        assert!(html.contains("&lt;img src=x onerror=alert(3)&gt;"), "{html}");
        assert!(!html.contains("javascript:") && html.contains("<a href=\"#\">go</a>"), "{html}");
        assert!(html.contains("src=\"data:image/svg+xml;base64,"), "{html}");
        assert!(html.contains("../../etc/passwd.svg: not found"), "{html}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
