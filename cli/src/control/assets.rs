//! The page itself: the files of the built `lab-ui/dist`, read from disk
//! on each request (a page rebuilt while the lab runs is served at once).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use tower_http::services::ServeDir;

use super::AppState;

pub async fn serve(State(s): State<AppState>, req: Request) -> Response {
    if !s.ui_dir.join("index.html").is_file() {
        return not_built(&s.ui_dir).into_response();
    }
    match ServeDir::new(&s.ui_dir).try_call(req).await {
        Ok(r) => {
            let mut r = r.map(Body::new);
            // The page and its bundle change with every build.
            r.headers_mut()
                .insert(header::CACHE_CONTROL, "no-cache".parse().expect("static"));
            r
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}")).into_response(),
    }
}

/// A readable page instead of a bare 404 when the page was never built.
fn not_built(dir: &std::path::Path) -> (StatusCode, Html<String>) {
    let dir = html_escape(&dir.display().to_string());
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Html(format!(
            "<!doctype html><meta charset=utf-8><title>lab page not built</title>\
             <h1>The lab page is not built</h1>\
             <p>This lab serves the page from <code>{dir}</code>, which has no \
             <code>index.html</code>.</p>\
             <p>Build it with <code>scripts/setup</code> (or \
             <code>cd lab-ui &amp;&amp; npm ci &amp;&amp; npm run build</code>) and reload; \
             the lab keeps running. <code>rserpool lab up --ui-dir DIR</code> or \
             <code>RSERPOOL_LAB_UI=DIR</code> serve another directory.</p>\
             <p>The lab's API works without the page: see <code>docs/lab-page.md</code>.</p>"
        )),
    )
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
