//! The web pages `em-api` serves from its own binary: GraphiQL at `/` (its assets under
//! `/playground/`) and My Access at `/my-access/`. Nothing is loaded from another host: every
//! page answers with a Content-Security-Policy that allows only this origin (and `data:` URLs
//! for the fonts and images GraphiQL's stylesheet carries inline).
//!
//! The files are embedded at build time from `api/web/` (`build.rs`), each with an entity tag
//! and, when worth it, a gzip copy, so a page costs no compression at run time and a reload
//! costs `304`s. With `EM_WEB_DIR` set, they are read from that folder at each request instead,
//! for working on the pages without rebuilding.

mod media_types;

use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};

/// One embedded file.
pub struct Asset {
    /// The path it is served at, from `/`.
    pub path: &'static str,
    pub media_type: &'static str,
    pub etag: &'static str,
    pub body: &'static [u8],
    /// The body gzipped, when that saves a tenth or more.
    pub gzip: Option<&'static [u8]>,
}

/// Every embedded file, ordered by path.
pub static ASSETS: &[Asset] = include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// What every page is allowed to load: this origin only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; font-src 'self' data:; object-src 'none'; \
     base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// `GET /`, `/playground/…` and `/my-access/…`: the file the path names (`index.html` for a
/// folder, the playground's for `/`).
pub async fn page(uri: Uri, headers: HeaderMap) -> Response {
    let path = match uri.path() {
        "/" => "/playground/index.html".to_owned(),
        folder if folder.ends_with('/') => format!("{folder}index.html"),
        file => file.to_owned(),
    };
    if let Some(folder) = dev_folder() {
        return from_folder(folder, &path);
    }
    let Some(asset) = find(&path) else { return not_found() };
    if headers.get(header::IF_NONE_MATCH).is_some_and(|tags| matches_etag(tags, asset.etag)) {
        return secured(StatusCode::NOT_MODIFIED, asset.media_type, asset.etag, None, false);
    }
    match asset.gzip.filter(|_| accepts_gzip(&headers)) {
        Some(gzip) => {
            let mut response = secured(StatusCode::OK, asset.media_type, "", Some(gzip.into()), true);
            let tag = format!("{}-gzip\"", asset.etag.trim_end_matches('"'));
            if let Ok(tag) = HeaderValue::from_str(&tag) {
                response.headers_mut().insert(header::ETAG, tag);
            }
            response
        }
        None => secured(StatusCode::OK, asset.media_type, asset.etag, Some(asset.body.into()), false),
    }
}

/// `GET /my-access`: the pages' folder, whose relative links need the final slash.
pub async fn my_access_folder() -> Redirect {
    Redirect::permanent("/my-access/")
}

/// The embedded file at `path`.
#[must_use]
pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.binary_search_by(|a| a.path.cmp(path)).ok().map(|i| &ASSETS[i])
}

fn dev_folder() -> Option<&'static std::path::Path> {
    static FOLDER: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    FOLDER.get_or_init(|| std::env::var_os("EM_WEB_DIR").map(Into::into)).as_deref()
}

/// The file at `path` under the development folder, read now.
fn from_folder(folder: &std::path::Path, path: &str) -> Response {
    let relative = path.trim_start_matches('/');
    if relative.split('/').any(|part| part == ".." || part.is_empty()) {
        return not_found();
    }
    // A file not embedded yet gets its type as the build would give it.
    let media_type = media_types::media_type(relative).unwrap_or("application/octet-stream");
    match std::fs::read(folder.join(relative)) {
        Ok(body) => secured(StatusCode::OK, media_type, "", Some(body.into()), false),
        Err(_) => not_found(),
    }
}

/// A response with the headers every page carries; `etag` empty for none.
fn secured(
    status: StatusCode,
    media_type: &'static str,
    etag: &'static str,
    body: Option<axum::body::Body>,
    gzip: bool,
) -> Response {
    let mut response = match body {
        Some(body) => (status, body).into_response(),
        None => status.into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    if !etag.is_empty() {
        headers.insert(header::ETAG, HeaderValue::from_static(etag));
    }
    if gzip {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "not found")
        .into_response()
}

/// Whether `Accept-Encoding` takes gzip: `gzip` (or `x-gzip`) with a quality above 0, or else
/// `*` with one; an explicit `gzip;q=0` refuses it whatever `*` says.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut named = None;
    let mut any = None;
    for value in headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()) {
        for coding in value.split(',') {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default().to_ascii_lowercase();
            let quality = parts
                .find_map(|p| {
                    let (key, value) = p.split_once('=')?;
                    key.trim().eq_ignore_ascii_case("q").then(|| value.trim().parse::<f32>().unwrap_or(0.0))
                })
                .unwrap_or(1.0);
            match name.as_str() {
                "gzip" | "x-gzip" => named = Some(quality > 0.0),
                "*" => any = Some(quality > 0.0),
                _ => {}
            }
        }
    }
    named.or(any).unwrap_or(false)
}

/// Whether `If-None-Match` names `etag` (or `*`), compared weakly: the gzip body's tag is the
/// plain one's with `-gzip` (a strong tag differs per content coding), and either matches.
fn matches_etag(tags: &HeaderValue, etag: &str) -> bool {
    let bare = etag.trim_matches('"');
    tags.to_str().is_ok_and(|tags| {
        tags.split(',').map(str::trim).any(|tag| {
            let tag = tag.trim_start_matches("W/").trim_matches('"');
            tag == "*" || tag == bare || tag.strip_suffix("-gzip") == Some(bare)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_assets_are_ordered_for_lookup_and_hold_both_pages() {
        assert!(ASSETS.windows(2).all(|w| w[0].path < w[1].path));
        assert!(find("/playground/index.html").is_some());
        assert!(find("/playground/vendor/graphiql.min.js").is_some_and(|a| a.gzip.is_some()));
        assert!(find("/my-access/index.html").is_some());
    }

    #[test]
    fn gzip_is_sent_only_where_accepted() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(value));
            accepts_gzip(&headers)
        };
        assert!(with("gzip, deflate, br"));
        assert!(with("br;q=1.0, gzip;q=0.8"));
        assert!(with("gzip;q=0.001"));
        assert!(with("br, *"));
        assert!(!with("gzip;q=0"));
        assert!(!with("GZIP;Q=0.0"));
        assert!(!with("gzip;q=0, *"));
        assert!(!with("br"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn an_entity_tag_matches_its_plain_and_gzip_bodies_only() {
        let tags = |value: &'static str| HeaderValue::from_static(value);
        assert!(matches_etag(&tags("\"abc\""), "\"abc\""));
        assert!(matches_etag(&tags("W/\"abc-gzip\""), "\"abc\""));
        assert!(matches_etag(&tags("\"x\", \"abc\""), "\"abc\""));
        assert!(matches_etag(&tags("*"), "\"abc\""));
        assert!(!matches_etag(&tags("\"abd\""), "\"abc\""));
    }

    #[test]
    fn the_development_folder_serves_files_under_it_and_nothing_above() {
        let folder = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(folder.path().join("my-access")).unwrap();
        std::fs::write(folder.path().join("my-access/app.js"), "export {};").unwrap();
        std::fs::write(folder.path().join("secret.txt"), "no").unwrap();
        assert_eq!(from_folder(folder.path(), "/my-access/app.js").status(), StatusCode::OK);
        for path in
            ["/my-access/../secret.txt", "/my-access//app.js", "/my-access/missing.js", "/../secret.txt"]
        {
            assert_eq!(from_folder(folder.path(), path).status(), StatusCode::NOT_FOUND, "{path}");
        }
    }
}
