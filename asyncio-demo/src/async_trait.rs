//! `class Fetcher(Protocol): async def fetch(...)` -> `async fn` in a trait, and the `Send`
//! it must promise before its futures can be spawned.
//!
//! Python:
//!     class Fetcher(Protocol):
//!         async def fetch(self, id: int) -> str: ...
//!     class HttpFetcher:                       # the real one
//!         async def fetch(self, id):
//!             async with self.session.get(f"{self.base}/items/{id}") as r:
//!                 return await r.text()
//!     class FakeFetcher:                       # for tests: no server
//!         async def fetch(self, id):
//!             return f"item {id}"
//!     async def fetch_all(fetcher: Fetcher, ids):
//!         return await asyncio.gather(*(asyncio.create_task(fetcher.fetch(i)) for i in ids))
//!
//! Rust: a trait may declare `async fn fetch(&self, id: u64) -> String` (stable since Rust
//! 1.75), and generic code that awaits it works. Spawning it does not: the trait says
//! nothing about whether each implementation's future is `Send`, and `tokio::spawn` needs
//! it to be. This does not compile:
//!
//!     pub trait Fetcher {
//!         async fn fetch(&self, id: u64) -> String;
//!     }
//!     pub fn fetch_later<F: Fetcher + Send + Sync + 'static>(fetcher: F) {
//!         tokio::spawn(async move { fetcher.fetch(1).await });
//!     }
//!
//! rustc says:
//!
//!     error: future cannot be sent between threads safely
//!     the trait `Send` is not implemented for `impl Future<Output = String>`
//!     note: future is not `Send` as it awaits another future which is not `Send`
//!
//! The fix, which rustc suggests too, puts the promise in the trait:
//! `fn fetch(&self, id: u64) -> impl Future<Output = String> + Send;`. Implementations still
//! write `async fn`, and one whose future is not `Send` is refused at the `impl`.
//! (Return-type notation, `F: Fetcher<fetch(..): Send>`, would let the caller ask instead;
//! it is not stable.) Neither form is dyn compatible, so a list of mixed fetchers is
//! refused too:
//!
//!     pub trait Fetcher {
//!         fn fetch(&self, id: u64) -> impl Future<Output = String> + Send;
//!     }
//!     pub fn count(fetchers: Vec<Box<dyn Fetcher>>) -> usize {
//!         fetchers.len()
//!     }
//!
//! rustc says (E0038):
//!
//!     error[E0038]: the trait `Fetcher` is not dyn compatible
//!     ...because method `fetch` references an `impl Trait` type in its return type
//!
//! For `dyn`, a second trait returns the future boxed (`BoxFuture`: an allocation a call),
//! implemented once for every `Fetcher`. The `async-trait` crate (`#[async_trait]`) is the
//! older way: it boxes every call of every implementation, `dyn` or not, and was the usual
//! way before Rust 1.75. (The tests compile both snippets with rustc and check these lines.)
//!
//! Watch: the same generic `fetch_all` spawns ten fetches from a local server (20 ms each,
//! about 20 ms in all) and ten from the fake (microseconds, no server), with the same
//! items; then both through `dyn`.
//!
//! Run only this: cargo run -p asyncio-demo -- async-trait
//! Copy it: cargo add anyhow@1 axum@0.8 futures@0.3 && cargo add reqwest@0.13 --no-default-features && cargo add tokio@1 --features full

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::{Router, extract::Path, routing::get};
use futures::future::BoxFuture;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// The interface: implementations write `async fn`, and their futures must be `Send`.
trait Fetcher: Send + Sync + 'static {
    fn fetch(&self, id: u64) -> impl Future<Output = anyhow::Result<String>> + Send;
}

/// The real one: HTTP to the items server.
struct HttpFetcher {
    client: reqwest::Client,
    base: String,
}

impl Fetcher for HttpFetcher {
    async fn fetch(&self, id: u64) -> anyhow::Result<String> {
        let response = self.client.get(format!("{}/items/{id}", self.base));
        Ok(response.send().await?.error_for_status()?.text().await?)
    }
}

/// The fake for tests: no server; it counts its calls.
#[derive(Default)]
struct FakeFetcher {
    calls: AtomicU64,
}

impl Fetcher for FakeFetcher {
    async fn fetch(&self, id: u64) -> anyhow::Result<String> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(format!("item {id}"))
    }
}

/// Generic code: a task per id for any `Fetcher` (the `Send` in the trait lets it spawn),
/// the items in the order of `ids`.
async fn fetch_all<F: Fetcher>(fetcher: Arc<F>, ids: &[u64]) -> anyhow::Result<Vec<String>> {
    let mut set = JoinSet::new();
    for (at, &id) in ids.iter().enumerate() {
        let fetcher = Arc::clone(&fetcher);
        set.spawn(async move { (at, fetcher.fetch(id).await) });
    }
    let mut items = vec![String::new(); ids.len()];
    while let Some(done) = set.join_next().await {
        let (at, item) = done?;
        items[at] = item?;
    }
    Ok(items)
}

/// For `dyn`: the same call with its future boxed, for every `Fetcher` at once.
trait DynFetcher: Send + Sync {
    fn fetch_boxed(&self, id: u64) -> BoxFuture<'_, anyhow::Result<String>>;
}

impl<F: Fetcher> DynFetcher for F {
    fn fetch_boxed(&self, id: u64) -> BoxFuture<'_, anyhow::Result<String>> {
        Box::pin(self.fetch(id))
    }
}

/// The items server on 127.0.0.1 (a free port): `/items/{id}` is `item {id}`, after
/// `latency`. Its base URL.
async fn serve_items(latency: Duration) -> std::io::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let item = move |Path(id): Path<u64>| async move {
        tokio::time::sleep(latency).await;
        format!("item {id}")
    };
    let app = Router::new().route("/items/{id}", get(item));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(base)
}

/// The twin of `if __name__ == "__main__":` one generic function, two fetchers, then `dyn`.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let ids: Vec<u64> = (1..=10).collect();
    let base = serve_items(Duration::from_millis(20)).await?;
    let http = Arc::new(HttpFetcher {
        client: reqwest::Client::new(),
        base,
    });
    let start = Instant::now();
    let items = fetch_all(Arc::clone(&http), &ids).await?;
    println!("HttpFetcher: {items:?} in {:.0?}", start.elapsed());
    let fake = Arc::new(FakeFetcher::default());
    let start = Instant::now();
    let faked = fetch_all(Arc::clone(&fake), &ids).await?;
    let calls = fake.calls.load(Ordering::Relaxed);
    println!(
        "FakeFetcher: the same items: {}, {calls} calls, in {:.0?}",
        faked == items,
        start.elapsed()
    );
    let fetchers: Vec<(&str, Arc<dyn DynFetcher>)> =
        vec![("HttpFetcher", http), ("FakeFetcher", fake)];
    for (name, fetcher) in &fetchers {
        println!(
            "{name} as dyn DynFetcher: {}",
            fetcher.fetch_boxed(7).await?
        );
    }
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timing::{Secs, timed_async};

pub const SECTION: Section = Section::new(
    "async-trait",
    "a Protocol with async def",
    "async fn in traits: the Send promise spawning needs, two implementations, dyn through a boxed future",
    run,
)
.main(|| main().report());

const IDS: u64 = 10;
const LATENCY: Duration = Duration::from_millis(20);
const CALLS: u32 = 100_000;

#[tokio::main]
async fn run() -> SectionResult {
    let ids: Vec<u64> = (1..=IDS).collect();
    let http = Arc::new(HttpFetcher {
        client: reqwest::Client::new(),
        base: serve_items(LATENCY).await?,
    });
    let (items, took_http) = timed_async(fetch_all(Arc::clone(&http), &ids)).await;
    let fake = Arc::new(FakeFetcher::default());
    let (faked, took_fake) = timed_async(fetch_all(Arc::clone(&fake), &ids)).await;
    let items = items?;
    anyhow::ensure!(faked? == items, "the fake answered other items");
    anyhow::ensure!(items.last() == Some(&format!("item {IDS}")), "{items:?}");
    let fetchers: [Arc<dyn DynFetcher>; 2] = [http, Arc::clone(&fake) as _];
    for fetcher in &fetchers {
        anyhow::ensure!(fetcher.fetch_boxed(7).await? == "item 7", "dyn call");
    }
    let direct = timed_async(calls_direct(&fake)).await.1;
    let boxed = timed_async(calls_boxed(&*fetchers[1])).await.1;
    figure(
        format!("HttpFetcher, {IDS} spawned"),
        format!("{} (each {})", Secs(took_http), Secs(LATENCY)),
    );
    figure("FakeFetcher, same code", Secs(took_fake));
    figure(
        "both as dyn DynFetcher",
        format!("\"item 7\" from each of {}", fetchers.len()),
    );
    figure(
        "a fake call, direct",
        format!("{:.0} ns", direct.as_nanos() as f64 / f64::from(CALLS)),
    );
    figure(
        "a fake call through dyn",
        format!("{:.0} ns", boxed.as_nanos() as f64 / f64::from(CALLS)),
    );
    takeaway_if(
        &Evidence::new(
            took_http < LATENCY * 2,
            format!(
                "{IDS} fetches of {} in under {}",
                Secs(LATENCY),
                Secs(LATENCY * 2)
            ),
            Secs(took_http),
        ),
        "with Send in the trait, generic code spawns any implementation: the server's and the test's fake alike",
    );
    Ok(())
}

async fn calls_direct(fake: &FakeFetcher) {
    for id in 0..CALLS {
        std::hint::black_box(fake.fetch(u64::from(id)).await.ok());
    }
}

async fn calls_boxed(fetcher: &dyn DynFetcher) {
    for id in 0..CALLS {
        std::hint::black_box(fetcher.fetch_boxed(u64::from(id)).await.ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::compile_fail::{assert_compiles, assert_refused, header_block};

    const SOURCE: &str = include_str!("async_trait.rs");

    #[test]
    fn spawning_an_async_fn_of_a_trait_is_refused_without_send() {
        let code = header_block(SOURCE, "does not compile:");
        assert_refused(
            "trait_spawn",
            &code,
            &["tokio"],
            &header_block(SOURCE, "rustc says:"),
        );
        let fixed = code.replace(
            "async fn fetch(&self, id: u64) -> String;",
            "fn fetch(&self, id: u64) -> impl Future<Output = String> + Send;",
        );
        assert_compiles("trait_spawn_send", &fixed, &["tokio"]);
    }

    #[test]
    fn a_trait_with_impl_future_is_not_dyn_compatible_and_a_boxed_one_is() {
        let code = header_block(SOURCE, "refused too:");
        let expected = header_block(SOURCE, "rustc says (E0038):");
        assert_refused("trait_dyn", &code, &[], &expected);
        let boxed = code.replace(
            "impl Future<Output = String> + Send",
            "std::pin::Pin<Box<dyn Future<Output = String> + Send + '_>>",
        );
        assert_compiles("trait_dyn_boxed", &boxed, &[]);
    }

    #[test]
    fn an_impl_whose_future_is_not_send_is_refused_at_the_impl() {
        let code = "pub trait Fetcher {\n    fn fetch(&self) -> impl Future<Output = u64> + Send;\n}\npub struct Local;\nimpl Fetcher for Local {\n    async fn fetch(&self) -> u64 {\n        let n = std::rc::Rc::new(1);\n        tokio::task::yield_now().await;\n        *n\n    }\n}\n";
        assert_refused(
            "impl_not_send",
            code,
            &["tokio"],
            "future returned by `fetch` is not `Send`",
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_generic_code_runs_on_the_fake_in_order() {
        let fake = Arc::new(FakeFetcher::default());
        let items = fetch_all(Arc::clone(&fake), &[3, 1, 2]).await.unwrap();
        assert_eq!(items, ["item 3", "item 1", "item 2"]);
        assert_eq!(fake.calls.load(Ordering::Relaxed), 3);
        let dynamic: Arc<dyn DynFetcher> = fake;
        assert_eq!(dynamic.fetch_boxed(9).await.unwrap(), "item 9");
    }

    #[tokio::test]
    async fn the_http_fetcher_reads_the_server_and_reports_a_bad_status() {
        let base = serve_items(Duration::ZERO).await.unwrap();
        let http = HttpFetcher {
            client: reqwest::Client::new(),
            base,
        };
        assert_eq!(http.fetch(5).await.unwrap(), "item 5");
        let wrong = HttpFetcher {
            base: format!("{}/nowhere", http.base),
            ..http
        };
        assert!(wrong.fetch(5).await.is_err(), "a 404 is an error");
    }
}
