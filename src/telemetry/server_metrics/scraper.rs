//! The scraper: reads one or several `/metrics` pages every interval on the runtime, folds them
//! into a `Ledger` and publishes a fresh `ServerView` on a `watch` channel. It never blocks the
//! load or the screen: a slow or dead page only makes its figures stale (the view says since
//! when), and the next tick tries again.

use super::series::{Ledger, SeriesHandle, ServerView, MAX_POINTS, RECENT_POINTS};
use super::ServerMetrics;
use crate::protocol::limits::{read_whole, MAX_METRICS_BODY};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

/// The `/metrics` URL of a server's base URL.
pub fn metrics_url(base_url: &str) -> String {
    format!("{}/metrics", base_url.trim_end_matches('/'))
}

/// One scrape of `{base}/metrics` (None when the server has none or does not answer in time).
pub async fn scrape(base_url: &str) -> Option<ServerMetrics> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .ok()?;
    fetch(&http, &metrics_url(base_url)).await.ok()
}

async fn fetch(http: &reqwest::Client, url: &str) -> Result<ServerMetrics, String> {
    let r = http
        .get(url)
        .send()
        .await
        .map_err(|e| format!("/metrics unreachable: {e}"))?;
    if !r.status().is_success() {
        return Err(format!("/metrics answered HTTP {}", r.status().as_u16()));
    }
    let text = read_whole(r, MAX_METRICS_BODY, "/metrics").await?;
    Ok(ServerMetrics::from_text(&text))
}

/// The running scraper: its view, and a way to ask for one more reading now (the end of a
/// run, so the server's counters cover all of it).
#[derive(Clone)]
pub struct ServerScraper {
    pub view: watch::Receiver<Arc<ServerView>>,
    now_tx: mpsc::Sender<oneshot::Sender<()>>,
}

impl ServerScraper {
    /// Scrape every source now and wait (at most 5 s) for the view that includes it.
    pub async fn final_view(&self) -> Arc<ServerView> {
        let (tx, rx) = oneshot::channel();
        if self.now_tx.send(tx).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), rx).await;
        }
        self.view.borrow().clone()
    }
}

/// Scrape `sources` (full `/metrics` URLs, summed per figure) every `every` on the current
/// runtime until every receiver is dropped.
pub fn spawn_scraper(sources: Vec<String>, every: Duration) -> ServerScraper {
    let history: SeriesHandle = Arc::default();
    let (tx, rx) = watch::channel(Arc::new(ServerView {
        sources: sources.len(),
        interval: every,
        history: history.clone(),
        ..ServerView::default()
    }));
    let (now_tx, mut now_rx) = mpsc::channel::<oneshot::Sender<()>>(4);
    tokio::spawn(async move {
        // A reading that takes longer than the interval is late, not lost: allow up to 2 s.
        let Ok(http) = reqwest::Client::builder()
            .timeout(every.max(Duration::from_secs(2)))
            .build()
        else {
            return;
        };
        let started = Instant::now();
        let mut ledger = Ledger::new(sources.len(), started);
        let mut view = (*rx_initial(&tx)).clone();
        let mut last_ok: Vec<Option<Instant>> = vec![None; sources.len()];
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let reply = tokio::select! {
                _ = tick.tick() => None,
                r = now_rx.recv() => r,
            };
            if tx.is_closed() {
                return;
            }
            let pages =
                futures_util::future::join_all(sources.iter().map(|u| fetch(&http, u))).await;
            let now = Instant::now();
            let mut fresh = Vec::with_capacity(pages.len());
            view.error = None;
            for (i, page) in pages.into_iter().enumerate() {
                match page {
                    Ok(m) => {
                        last_ok[i] = Some(now);
                        fresh.push(Some(m));
                    }
                    Err(why) => {
                        if view.error.is_none() {
                            view.error = Some(if sources.len() > 1 {
                                format!("{}: {why}", sources[i])
                            } else {
                                why
                            });
                        }
                        fresh.push(None);
                    }
                }
            }
            if let Some((latest, point)) = ledger.tick(now, &fresh) {
                if let Some(kv) = latest.kv_usage {
                    view.kv_history.push(kv);
                }
                if let Some(w) = latest.waiting {
                    view.waiting_history.push(w);
                }
                for h in [&mut view.kv_history, &mut view.waiting_history] {
                    trim(h, RECENT_POINTS);
                }
                view.recent.push(point.clone());
                trim(&mut view.recent, RECENT_POINTS);
                if let Ok(mut all) = history.lock() {
                    all.push(point);
                    trim(&mut all, MAX_POINTS);
                }
                view.window = ledger.window(&latest);
                view.run = ledger.run().clone();
                view.latest = Some(latest);
            }
            // The stalest source sets the age: a figure is only as fresh as its oldest part.
            view.age = last_ok
                .iter()
                .map(|t| t.map(|t| t.elapsed()))
                .collect::<Option<Vec<_>>>()
                .and_then(|v| v.into_iter().max())
                .or_else(|| last_ok.iter().flatten().map(|t| t.elapsed()).max());
            tx.send_replace(Arc::new(view.clone()));
            if let Some(r) = reply {
                let _ = r.send(());
            }
        }
    });
    ServerScraper { view: rx, now_tx }
}

fn rx_initial(tx: &watch::Sender<Arc<ServerView>>) -> Arc<ServerView> {
    tx.borrow().clone()
}

fn trim<T>(v: &mut Vec<T>, cap: usize) {
    if v.len() > cap {
        v.drain(..v.len() - cap);
    }
}
