//! The operator's web console: static files under `/console/`, embedded in the binary (`crates/server/console/`,
//! docs/console.md), and `/` redirecting there (302). The files are open (no admin token): the page asks for the token
//! and sends it with its own API calls.
//!
//! The console's own files are served with `Cache-Control: no-cache`; the vendored libraries (`vendor/`, pinned
//! in `vendor/MANIFEST`) with a year's cache, which is safe because the pages load them as `...?v=VERSION` (a test
//! checks that every such reference names the manifest's version).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// One embedded file: its path under `/console/` and its bytes.
struct File {
    path: &'static str,
    body: &'static [u8],
}

macro_rules! files {
    ($($path:literal),* $(,)?) => {
        &[$(File { path: $path, body: include_bytes!(concat!("../../console/", $path)) }),*]
    };
}

/// Every file of the console, `index.html` first. A new file is added here (a test checks that none on disk is
/// missing).
const FILES: &[File] = files![
    "index.html",
    "console.css",
    "js/api.js",
    "js/app.js",
    "js/chart.js",
    "js/fields.js",
    "js/metrics.js",
    "js/player.js",
    "js/qr.js",
    "js/ui.js",
    "js/vendor.js",
    "js/pages/apps.js",
    "js/pages/overview.js",
    "js/pages/recordings.js",
    "js/pages/rooms.js",
    "js/pages/stream.js",
    "js/pages/streams.js",
    "js/pages/urls.js",
    "js/pages/webhooks.js",
    "vendor/MANIFEST",
    "vendor/hls.min.mjs",
    "vendor/hls.js.LICENSE",
    "vendor/mpegts.js",
    "vendor/mpegts.js.LICENSE",
    "vendor/mpegts.js.LICENSE.txt",
    "vendor/uPlot.esm.js",
    "vendor/uPlot.min.css",
    "vendor/uplot.LICENSE",
    "vendor/qrcode.mjs",
    "vendor/qrcode-generator.LICENSE",
];

/// Only this origin's scripts, styles, API calls and media; `blob:` for the media sources (and workers) that
/// mpegts.js and hls.js create, `data:` for images.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
    media-src 'self' blob: mediastream:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// `/` and `/console` redirect to `/console/`, which serves `index.html`; each file has its own route
/// `/console/{path}`, so that any other path under `/console/` stays an app's play path (an app may be named
/// `console`).
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new()
        .route(
            "/",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/console/")]) }),
        )
        .route(
            "/console",
            get(|| async { Redirect::permanent("/console/") }),
        )
        .route("/console/", get(|| async { serve(&FILES[0]) }));
    for file in FILES {
        router = router.route(
            &format!("/console/{}", file.path),
            get(move || async move { serve(file) }),
        );
    }
    router
}

fn serve(file: &'static File) -> Response {
    let cache = if file.path.starts_with("vendor/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(file.path)),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        file.body,
    )
        .into_response()
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "text/plain; charset=utf-8",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use sha2::{Digest, Sha256};

    use super::*;

    fn console_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("console")
    }

    /// `MANIFEST`: file -> (package, version, sha256).
    fn manifest() -> BTreeMap<String, (String, String, String)> {
        let text = std::str::from_utf8(
            FILES
                .iter()
                .find(|f| f.path == "vendor/MANIFEST")
                .expect("the manifest is embedded")
                .body,
        )
        .unwrap();
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                assert_eq!(cols.len(), 3, "MANIFEST line {l:?}");
                let (pkg, version) = cols[1].rsplit_once('@').expect("package@version");
                (
                    cols[0].to_string(),
                    (pkg.to_string(), version.to_string(), cols[2].to_string()),
                )
            })
            .collect()
    }

    #[test]
    fn vendor_files_match_manifest() {
        let manifest = manifest();
        let vendored: Vec<&File> = FILES
            .iter()
            .filter(|f| f.path.starts_with("vendor/") && f.path != "vendor/MANIFEST")
            .collect();
        assert_eq!(
            vendored.len(),
            manifest.len(),
            "every embedded vendor file is in the manifest and the other way round"
        );
        for f in vendored {
            let name = &f.path["vendor/".len()..];
            let (_, _, sha) = manifest
                .get(name)
                .unwrap_or_else(|| panic!("{name} is embedded but not in vendor/MANIFEST"));
            let got = format!("{:x}", Sha256::digest(f.body));
            assert_eq!(&got, sha, "sha256 of vendor/{name}");
        }
        // The manifest's versions are package.json's exact pins, and the lock file agrees.
        let read = |name: &str| -> serde_json::Value {
            serde_json::from_str(
                &std::fs::read_to_string(console_dir().join("vendor").join(name)).unwrap(),
            )
            .unwrap()
        };
        let (pins, lock) = (read("package.json"), read("package-lock.json"));
        for (name, (pkg, version, _)) in &manifest {
            assert_eq!(
                pins["dependencies"][pkg].as_str(),
                Some(version.as_str()),
                "{name}: {pkg}@{version} is not package.json's pin"
            );
            assert_eq!(
                lock["packages"][format!("node_modules/{pkg}")]["version"].as_str(),
                Some(version.as_str()),
                "{name}: package-lock.json disagrees"
            );
        }
        for pkg in pins["dependencies"].as_object().unwrap().keys() {
            assert!(
                manifest.values().any(|(p, _, _)| p == pkg),
                "{pkg} is pinned but nothing of it is vendored"
            );
        }
    }

    /// Vendor files are cached for a year, so every page reference carries the pinned version (`?v=`).
    #[test]
    fn vendor_references_carry_the_pinned_version() {
        let manifest = manifest();
        let mut seen = 0;
        for f in FILES.iter().filter(|f| !f.path.starts_with("vendor/")) {
            let text = std::str::from_utf8(f.body).unwrap();
            for (at, _) in text.match_indices("vendor/") {
                let rest = &text[at + "vendor/".len()..];
                let end = rest.find(['\'', '"', '`']).unwrap();
                let reference = &rest[..end];
                let (name, version) = reference
                    .split_once("?v=")
                    .unwrap_or_else(|| panic!("{}: vendor/{reference} has no ?v=VERSION", f.path));
                let (_, pinned, _) = manifest
                    .get(name)
                    .unwrap_or_else(|| panic!("{}: vendor/{name} is not vendored", f.path));
                assert_eq!(version, pinned, "{}: vendor/{name}", f.path);
                seen += 1;
            }
        }
        assert!(seen >= 4, "the pages load the vendored libraries");
    }

    #[test]
    fn every_file_on_disk_is_embedded() {
        fn walk(dir: &std::path::Path, base: &std::path::Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, base, out);
                } else {
                    out.push(
                        path.strip_prefix(base)
                            .unwrap()
                            .to_string_lossy()
                            .replace('\\', "/"),
                    );
                }
            }
        }
        let mut on_disk = Vec::new();
        walk(&console_dir(), &console_dir(), &mut on_disk);
        // Tooling for the vendored files, not served.
        let tooling = [
            "vendor/package.json",
            "vendor/package-lock.json",
            "vendor/update.sh",
        ];
        for path in on_disk {
            assert!(
                tooling.contains(&path.as_str()) || FILES.iter().any(|f| f.path == path),
                "crates/server/console/{path} is not in console.rs's FILES"
            );
        }
    }

    #[tokio::test]
    async fn serves_files_with_type_cache_and_csp_and_redirects_the_root() {
        use tower::ServiceExt;
        let app = routes::<()>();
        let get = |uri: &str| {
            axum::http::Request::get(uri)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        let resp = app.clone().oneshot(get("/")).await.unwrap();
        assert!(resp.status().is_redirection());
        assert_eq!(resp.headers()[header::LOCATION], "/console/");

        let resp = app.clone().oneshot(get("/console/")).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-cache");
        assert!(resp.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .starts_with("default-src 'self'"));

        let resp = app
            .clone()
            .oneshot(get("/console/vendor/hls.min.mjs"))
            .await
            .unwrap();
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        assert!(resp.headers()[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("max-age=31536000"));

        let resp = app.oneshot(get("/console/nope.js")).await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }
}
