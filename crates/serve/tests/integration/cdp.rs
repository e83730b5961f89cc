//! A small Chrome DevTools Protocol client for the browser tests: launches Debian's headless
//! `chromium` on a free debugging port, opens one page over the browser's WebSocket (flat
//! sessions), and offers navigate / evaluate / wait-for-condition plus the console errors the
//! page produced (console.error, uncaught exceptions, `Log` errors such as failed loads and
//! Content-Security-Policy violations, JavaScript dialogs).
//!
//! Only the few messages the tests need are parsed, so new Chromium versions adding events
//! or fields do not break it. Every wait is a polled condition with a timeout.

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// A running headless Chromium with one open page.
pub struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    out: mpsc::UnboundedSender<String>,
    pending: Pending,
    events: Arc<Mutex<Vec<Value>>>,
    /// Woken whenever an event arrives.
    arrived: Arc<Notify>,
    next_id: u64,
    session: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `chromium` binary, or a clear failure telling how to install it.
fn chromium() -> String {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(name)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            return name.to_string();
        }
    }
    panic!("no chromium found: install Debian's package (`apt-get install chromium`; .ci/run does)");
}

impl Browser {
    /// Starts Chromium and opens a blank page.
    pub async fn launch() -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut child = Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn chromium");
        // The DevTools URL is printed on stderr once the browser is ready.
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent && let Some(i) = line.find("ws://") {
                    let _ = tx.send(line[i..].trim().to_string());
                    sent = true;
                }
            }
        });
        let ws_url = rx.recv_timeout(Duration::from_secs(60)).expect("chromium printed no DevTools URL within 60 s");
        let (ws, _) = tokio_tungstenite::connect_async(ws_url.as_str()).await.expect("connect to DevTools");
        let (mut sink, mut stream) = ws.split();
        let (out, mut out_rx) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(text) = out_rx.recv().await {
                if sink.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
        });
        let pending: Pending = Arc::default();
        let events: Arc<Mutex<Vec<Value>>> = Arc::default();
        let arrived: Arc<Notify> = Arc::default();
        {
            let (pending, events, arrived) = (pending.clone(), events.clone(), arrived.clone());
            tokio::spawn(async move {
                while let Some(Ok(msg)) = stream.next().await {
                    let Message::Text(text) = msg else { continue };
                    let Ok(v) = serde_json::from_str::<Value>(&text) else { continue };
                    match v.get("id").and_then(Value::as_u64) {
                        Some(id) => {
                            if let Some(tx) = pending.lock().expect("pending").remove(&id) {
                                let _ = tx.send(v);
                            }
                        }
                        None => {
                            events.lock().expect("events").push(v);
                            arrived.notify_waiters();
                        }
                    }
                }
            });
        }
        let mut b =
            Browser { child, _profile: profile, out, pending, events, arrived, next_id: 0, session: String::new() };
        let target = b.call("Target.createTarget", json!({"url": "about:blank"})).await;
        let target_id = target["targetId"].as_str().expect("targetId").to_string();
        let attached = b.call("Target.attachToTarget", json!({"targetId": target_id, "flatten": true})).await;
        b.session = attached["sessionId"].as_str().expect("sessionId").to_string();
        for domain in ["Runtime.enable", "Log.enable", "Page.enable"] {
            b.call(domain, json!({})).await;
        }
        b
    }

    /// Sends a command (to the page once attached) and returns its `result`.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            msg["sessionId"] = json!(self.session);
        }
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("pending").insert(id, tx);
        self.out.send(msg.to_string()).expect("websocket writer");
        let reply = tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .unwrap_or_else(|_| panic!("{method}: no reply within 30 s"))
            .expect("reply");
        if let Some(e) = reply.get("error") {
            panic!("{method} failed: {e}");
        }
        reply["result"].clone()
    }

    /// Evaluates `expr` in the page and returns its value (JSON).
    pub async fn eval(&mut self, expr: &str) -> Value {
        let r = self
            .call("Runtime.evaluate", json!({"expression": expr, "returnByValue": true, "awaitPromise": true}))
            .await;
        if let Some(e) = r.get("exceptionDetails") {
            panic!("evaluating {expr}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Events received so far (a mark for [`Browser::wait_event`]).
    fn event_count(&self) -> usize {
        self.events.lock().expect("events").len()
    }

    /// Waits (at most 30 s) for an event `method` received after the first `after` events.
    async fn wait_event(&mut self, method: &str, after: usize, what: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let arrived = self.arrived.clone();
            let notified = arrived.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.events.lock().expect("events")[after..].iter().any(|e| e["method"] == method) {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("timed out after 30 s waiting for {what} ({method})");
            }
        }
    }

    /// Opens `url` and waits for its load event; checks the page is at that address.
    pub async fn goto(&mut self, url: &str) {
        let mark = self.event_count();
        self.call("Page.navigate", json!({"url": url})).await;
        self.wait_event("Page.loadEventFired", mark, &format!("{url} to load")).await;
        let at = self.eval("location.href").await;
        assert_eq!(at, json!(url), "navigated to {url}");
    }

    /// Clicks `selector` (a submit button), waits for the next document's load event, and checks
    /// `ready` holds in it (the pages are rendered on the server: complete once loaded).
    pub async fn submit(&mut self, selector: &str, ready: &str) {
        let mark = self.event_count();
        self.eval(&format!("document.querySelector({}).click()", json!(selector))).await;
        self.wait_event("Page.loadEventFired", mark, &format!("the page after clicking {selector}")).await;
        let ok = self.eval(&format!("!!({ready})")).await;
        assert_eq!(ok, json!(true), "after clicking {selector}: {ready}");
    }

    /// [`Browser::errors`] once there are at least `n` of them, or after 30 s of events.
    pub async fn wait_until_errors(&mut self, n: usize) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let arrived = self.arrived.clone();
            let notified = arrived.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let errors = self.errors().await;
            if errors.len() >= n || tokio::time::timeout_at(deadline, notified).await.is_err() {
                return errors;
            }
        }
    }

    /// Console errors, uncaught exceptions, error log entries and dialogs so far (one line
    /// each). A round trip first, so every event the page sent before now has arrived.
    pub async fn errors(&mut self) -> Vec<String> {
        self.eval("1").await;
        let events = self.events.lock().expect("events");
        events
            .iter()
            .filter_map(|e| {
                let p = &e["params"];
                match e["method"].as_str()? {
                    "Runtime.consoleAPICalled" if matches!(p["type"].as_str(), Some("error" | "assert")) => {
                        Some(format!("console.{}: {}", p["type"], p["args"]))
                    }
                    "Runtime.exceptionThrown" => Some(format!("exception: {}", p["exceptionDetails"])),
                    "Log.entryAdded" if p["entry"]["level"] == "error" => {
                        Some(format!("log: {} {}", p["entry"]["text"], p["entry"]["url"]))
                    }
                    "Page.javascriptDialogOpening" => Some(format!("dialog: {}", p["message"])),
                    _ => None,
                }
            })
            .collect()
    }
}
