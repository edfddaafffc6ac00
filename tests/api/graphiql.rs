//! GraphiQL works without internet: the page and everything it references come
//! from the server itself, under a CSP that allows only this origin; and a real
//! headless Chromium runs a query through it.
use std::{
    path::Path,
    time::{Duration, Instant},
};

use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::json;

use crate::{
    browser::Browser,
    helpers::{two_tenants, TestApp},
};

/// Every `src="…"` and `href="…"` of a page.
fn references(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(start) = rest.find(attribute) {
            rest = &rest[start + attribute.len()..];
            let end = rest.find('"').expect("attribute closes");
            found.push(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
    found
}

#[tokio::test]
async fn the_page_and_every_asset_come_from_the_server() {
    let app = TestApp::spawn().await;
    let page = app.client.get(app.url("/graphiql")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("http"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("<script>"),
        "inline script would be blocked by the CSP"
    );
    let refs = references(&html);
    assert_eq!(refs.len(), 6, "{refs:?}");
    for reference in refs {
        assert!(
            reference.starts_with('/') && !reference.starts_with("//"),
            "the page references another origin: {reference}"
        );
        let asset = app.client.get(app.url(&reference)).send().await.unwrap();
        assert_eq!(asset.status(), StatusCode::OK, "{reference}");
        let cache = asset.headers()["cache-control"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            cache.contains("max-age=31536000") && cache.contains("immutable"),
            "{cache}"
        );
        let body = asset.text().await.unwrap();
        assert!(
            !body.contains("sourceMappingURL"),
            "{reference} points at a map we do not serve"
        );
        if reference.contains(".css") {
            // Stylesheets may embed data, never fetch it from elsewhere.
            for url in body.split("url(").skip(1) {
                let target = url.trim_start_matches(['"', '\'']);
                assert!(
                    target.starts_with("data:"),
                    "{reference} loads {}",
                    &target[..40.min(target.len())]
                );
            }
        }
    }
    let missing = app
        .client
        .get(app.url("/graphiql/assets/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

/// Polls `check` every 100 ms for at most `limit`.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let since = Instant::now();
    while !check().await {
        assert!(since.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_browser_signs_in_and_runs_a_query() {
    let Some(chrome) = Browser::start("the GraphiQL browser test").await else {
        return;
    };
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let token = app.token("alice@acme.test", Some("acme")).await;
    let browser = chrome.client.clone();

    let query = "{ me { email } }";
    let url = format!(
        "{}?query={}",
        app.url("/graphiql"),
        query.replace(' ', "%20")
    );
    browser.goto(&url).await.unwrap();
    let token_box = browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Id("tq-token"))
        .await
        .unwrap();
    token_box.send_keys(&token).await.unwrap();
    let run = browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(".graphiql-execute-button"))
        .await
        .expect("GraphiQL rendered under the CSP");
    run.click().await.unwrap();
    eventually(
        Duration::from_secs(20),
        "the answer in the result pane",
        || {
            let browser = browser.clone();
            async move {
                match browser.find(Locator::Css(".result-window")).await {
                    Ok(pane) => pane
                        .text()
                        .await
                        .unwrap_or_default()
                        .contains("alice@acme.test"),
                    Err(_) => false,
                }
            }
        },
    )
    .await;
    // The token stays in the tab's session storage only.
    let stored = browser
        .execute(
            "return [sessionStorage.getItem('tenantql.token'), JSON.stringify(localStorage)];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(stored[0], json!(token));
    assert!(
        !stored[1].as_str().unwrap().contains(&token),
        "the token reached localStorage"
    );

    let png = browser.screenshot().await.unwrap();
    let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/images/graphiql.png");
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    std::fs::write(&shot, png).unwrap();
    chrome.close().await;
}
