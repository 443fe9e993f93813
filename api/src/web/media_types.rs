//! The media type each file of `api/web/` is served with, for `build.rs` (which embeds them)
//! and [`super`] (which serves a development folder).

/// The media type a file is served with; `None` leaves it out (a file the pages do not load).
pub fn media_type(path: &str) -> Option<&'static str> {
    if path.rsplit('/').next().is_some_and(|name| name.starts_with("LICENSE")) {
        return Some("text/plain; charset=utf-8");
    }
    let extension = path.rsplit_once('.').map(|(_, e)| e)?;
    Some(match extension {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "webmanifest" => "application/json",
        _ => return None,
    })
}
