//! Embeds the web pages of `web/` (the playground and My Access) in the binary: each file with
//! its media type, an entity tag, and a gzip copy made here when it is worth serving
//! (`$OUT_DIR/assets.rs`, included by `src/web.rs`). Nothing is fetched: the playground's
//! third-party files are committed under `web/playground/vendor/` (see `web/vendor.mjs`).

use std::io::Write;
use std::path::{Path, PathBuf};

// The one table of media types, shared with `src/web.rs` (which serves files not embedded yet
// from a development folder).
#[path = "src/web/media_types.rs"]
mod media_types;
use media_types::media_type;

fn main() -> std::io::Result<()> {
    // Read when the script runs, not when it was compiled: a target folder shared by two
    // checkouts reuses one compiled script for both.
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .ok_or_else(|| std::io::Error::other("no CARGO_MANIFEST_DIR"))?;
    let web = Path::new(&manifest).join("web");
    println!("cargo:rerun-if-changed={}", web.display());
    println!("cargo:rerun-if-changed=src/web/media_types.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or_else(|| std::io::Error::other("no OUT_DIR"))?);
    let mut files = Vec::new();
    collect(&web, &web, &mut files)?;
    files.sort();
    let mut code = String::from("&[\n");
    for file in files {
        let relative =
            file.strip_prefix(&web).map_err(std::io::Error::other)?.to_string_lossy().replace('\\', "/");
        let Some(media_type) = media_type(&relative) else { continue };
        let body = std::fs::read(&file)?;
        let etag = etag(&body);
        let mut gzip = None;
        if compressible(media_type) && body.len() > 1024 {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            encoder.write_all(&body)?;
            let compressed = encoder.finish()?;
            if compressed.len() * 10 < body.len() * 9 {
                let name = out.join(format!("{}.gz", relative.replace('/', "__")));
                std::fs::write(&name, compressed)?;
                gzip = Some(name);
            }
        }
        let gzip = match gzip {
            Some(name) => format!("Some(include_bytes!({:?}))", name.display().to_string()),
            None => "None".to_owned(),
        };
        code.push_str(&format!(
            "    Asset {{ path: {:?}, media_type: {media_type:?}, etag: {etag:?}, body: include_bytes!({:?}), gzip: {gzip} }},\n",
            format!("/{relative}"),
            file.display().to_string(),
        ));
    }
    code.push(']');
    std::fs::write(out.join("assets.rs"), code)
}

/// Every file under `folder`, but the tools beside the pages (`*.mjs` at the top, in `web`).
fn collect(web: &Path, folder: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(folder)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(web, &path, files)?;
        } else if path.parent() != Some(web) || path.extension().is_none_or(|e| e != "mjs") {
            files.push(path);
        }
    }
    Ok(())
}

fn compressible(media_type: &str) -> bool {
    media_type.starts_with("text/") || media_type.contains("json") || media_type.contains("svg")
}

/// A strong entity tag: the first 16 bytes of the body's SHA-256, in hex.
fn etag(body: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(body);
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}
