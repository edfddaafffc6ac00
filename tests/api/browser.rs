//! Debian's Chromium, headless, driven through ChromeDriver (fantoccini): the
//! browser of the GraphiQL and cross-origin tests.
use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::ClientBuilder;
use serde_json::json;

use crate::helpers::free_port;

/// Debian's chromium and chromedriver, when installed (the test script installs them).
fn installed(test: &str) -> Option<(PathBuf, PathBuf)> {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    let driver = PathBuf::from("/usr/bin/chromedriver");
    match chromium {
        Some(chromium) if driver.exists() => Some((chromium, driver)),
        _ => {
            if std::env::var_os("TENANTQL_TEST_REQUIRE_ALL").is_some() {
                panic!("chromium and chromedriver are required (run scripts/test.sh)");
            }
            eprintln!("notice: chromium/chromedriver not installed; skipping {test}");
            None
        }
    }
}

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A headless Chromium with a fresh profile; its driver stops when dropped.
pub struct Browser {
    pub client: fantoccini::Client,
    _driver: Driver,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// None when Chromium is not installed (outside `scripts/test.sh`).
    pub async fn start(test: &str) -> Option<Browser> {
        let (chromium, chromedriver) = installed(test)?;
        let port = free_port();
        let driver = Driver(
            Command::new(chromedriver)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver starts"),
        );
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-quic", "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--window-size=1280,800",
                         format!("--user-data-dir={}", profile.path().display())]
            }
        });
        let mut builder =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(capabilities.as_object().unwrap().clone());
        let webdriver = format!("http://127.0.0.1:{port}");
        let since = Instant::now();
        loop {
            match builder.connect(&webdriver).await {
                Ok(client) => {
                    return Some(Browser {
                        client,
                        _driver: driver,
                        _profile: profile,
                    })
                }
                Err(e) => {
                    assert!(
                        since.elapsed() < Duration::from_secs(20),
                        "chromedriver: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    pub async fn close(self) {
        self.client.close().await.unwrap();
    }
}
