//! `await asyncio.gather(fetch_user(7), fetch_posts(7))` -> `tokio::join!` / `tokio::try_join!`.
//!
//! Python:
//!     async def fetch_user(uid):
//!         await asyncio.sleep(0.05)
//!         if uid == 0:
//!             raise LookupError(f"no user {uid}")
//!         return {"id": uid, "name": f"user{uid}"}
//!     async def fetch_posts(uid):
//!         await asyncio.sleep(0.2)
//!         return [f"post {n} by {uid}" for n in range(3)]
//!     user, posts = await asyncio.gather(fetch_user(7), fetch_posts(7))
//!
//! Rust: for a fixed handful of different calls, `tokio::join!(a, b)` polls them together
//! and returns a tuple of their own types (`(User, Vec<String>)`): no list, no boxing, no
//! spawn. With fallible calls it returns every outcome, like `return_exceptions=True`.
//! `tokio::try_join!(a, b)` returns the first `Err` as soon as it happens and drops the
//! other futures, which cancels them; Python's `gather` lets the others run on (a
//! `TaskGroup` cancels them, like `try_join!`).
//!
//! Watch: `join!` takes the longest wait (0.2 s), not the sum; `try_join!` on a missing
//! user fails after 0.05 s, and its `fetch posts` bar stops there: that future was dropped.
//!
//! Run only this: cargo run -p asyncio-demo -- join
//! Copy it: cargo add tracing@0.1 && cargo add tokio@1 --features full

use std::time::Duration;

use tracing::Instrument;

#[derive(Debug, PartialEq, Eq)]
pub struct User {
    pub id: u64,
    pub name: String,
}

#[derive(Debug, PartialEq, Eq)]
pub struct NoUser(pub u64);

impl std::fmt::Display for NoUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no user {}", self.0)
    }
}

impl std::error::Error for NoUser {}

/// How long each call waits, like a network round trip.
#[derive(Clone, Copy, Debug)]
pub struct Waits {
    pub user: Duration,
    pub posts: Duration,
}

pub async fn fetch_user(id: u64, wait: Duration) -> Result<User, NoUser> {
    tokio::time::sleep(wait)
        .instrument(tracing::info_span!("fetch", what = "user", id))
        .await;
    if id == 0 {
        return Err(NoUser(id));
    }
    Ok(User {
        id,
        name: format!("user{id}"),
    })
}

pub async fn fetch_posts(id: u64, wait: Duration) -> Result<Vec<String>, NoUser> {
    tokio::time::sleep(wait)
        .instrument(tracing::info_span!("fetch", what = "posts", id))
        .await;
    Ok((0..3).map(|n| format!("post {n} by {id}")).collect())
}

/// `gather(fetch_user(id), fetch_posts(id), return_exceptions=True)`: both outcomes, each
/// in its own type, after the longer wait.
pub async fn profile(id: u64, waits: Waits) -> (Result<User, NoUser>, Result<Vec<String>, NoUser>) {
    tokio::join!(fetch_user(id, waits.user), fetch_posts(id, waits.posts))
}

/// The plain `gather` inside `try`: both values, or the first error at once (the other
/// call is dropped, i.e. cancelled).
pub async fn profile_or_error(id: u64, waits: Waits) -> Result<(User, Vec<String>), NoUser> {
    tokio::try_join!(fetch_user(id, waits.user), fetch_posts(id, waits.posts))
}

/// The twin of `if __name__ == "__main__":` user 7 with `join!`, then the missing user 0
/// with `try_join!`.
#[tokio::main]
async fn main() {
    let waits = Waits {
        user: Duration::from_millis(50),
        posts: Duration::from_millis(200),
    };
    let start = tokio::time::Instant::now();
    let (user, posts) = profile(7, waits).await;
    println!("join!: {user:?}, {posts:?} in {:.0?}", start.elapsed());
    let start = tokio::time::Instant::now();
    let failed = profile_or_error(0, waits).await;
    println!(
        "try_join! for user 0: {failed:?} in {:.0?}",
        start.elapsed()
    );
}

// --- run and measure ---

use std::process::ExitCode;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Lanes, Recording};
use common::timing::{Secs, timed_async};

pub const SECTION: Section = Section::new(
    "join",
    "asyncio.gather(fetch_user(7), fetch_posts(7))",
    "tokio::join! returns a tuple of different types; try_join! fails fast, measured",
    run,
)
.main(|| {
    main();
    ExitCode::SUCCESS
});

const WAITS: Waits = Waits {
    user: Duration::from_millis(50),
    posts: Duration::from_millis(200),
};

#[tokio::main]
async fn run() -> SectionResult {
    let recording = Recording::start();
    let ((user, posts), took_join) = timed_async(profile(7, WAITS)).await;
    let (user, posts) = (user?, posts?);
    anyhow::ensure!(user.name == "user7" && posts.len() == 3, "wrong profile");
    let (failed, took_try) = timed_async(profile_or_error(0, WAITS)).await;
    anyhow::ensure!(
        failed == Err(NoUser(0)),
        "try_join! should fail: {failed:?}"
    );
    let ((no_user, posts_anyway), took_join_err) = timed_async(profile(0, WAITS)).await;
    anyhow::ensure!(
        no_user.is_err() && posts_anyway.is_ok(),
        "join! lost an outcome"
    );
    let spans = recording.finish().named(&["fetch"]);
    // The first `posts 0` span is try_join!'s: it closed when the future was dropped.
    let dropped = spans
        .spans()
        .iter()
        .find(|s| s.field("what") == Some("posts") && s.field("id") == Some("0"))
        .map(|s| s.duration())
        .ok_or_else(|| anyhow::anyhow!("no posts span for user 0"))?;
    println!("  join!: {user:?}, {} posts", posts.len());
    figure(
        "waits",
        format!("user {}, posts {}", Secs(WAITS.user), Secs(WAITS.posts)),
    );
    figure("join! (both found)", Secs(took_join));
    figure(
        "try_join! (no user 0)",
        format!("{} -> Err(no user 0)", Secs(took_try)),
    );
    figure(
        "join! (no user 0)",
        format!("{} -> (Err, Ok(3 posts))", Secs(took_join_err)),
    );
    figure("posts call dropped after", Secs(dropped));
    spans.print(Lanes::Span);
    let slack = WAITS.user / 2;
    let near = |t: Duration, ideal: Duration| t >= ideal && t < ideal + slack;
    takeaway_if(
        &Evidence::new(
            near(took_join, WAITS.posts) && near(took_join_err, WAITS.posts),
            format!(
                "join! within {} of the longer wait ({})",
                Secs(slack),
                Secs(WAITS.posts)
            ),
            format!("{} and {}", Secs(took_join), Secs(took_join_err)),
        ),
        "join! waits for the longest call, not the sum, and hands back each call's own type",
    );
    takeaway_if(
        &Evidence::new(
            near(took_try, WAITS.user) && dropped < WAITS.posts,
            format!(
                "try_join! back within {} of the failing call ({}), the posts call dropped before its {}",
                Secs(slack),
                Secs(WAITS.user),
                Secs(WAITS.posts)
            ),
            format!("{}, posts call open {}", Secs(took_try), Secs(dropped)),
        ),
        "try_join! returns the first error at once and drops (cancels) the call still running",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn join_returns_both_types_after_the_longer_wait() {
        let start = Instant::now();
        let (user, posts) = profile(7, WAITS).await;
        assert_eq!(start.elapsed(), WAITS.posts, "the longer wait, not the sum");
        assert_eq!(user.unwrap().name, "user7");
        assert_eq!(posts.unwrap().len(), 3);
        let start = Instant::now();
        let (user, posts) = profile_or_error(7, WAITS).await.unwrap();
        assert_eq!(start.elapsed(), WAITS.posts);
        assert_eq!((user.id, posts.len()), (7, 3));
    }

    #[tokio::test(start_paused = true)]
    async fn try_join_fails_fast_and_drops_the_other_call() {
        let recording = Recording::local();
        let start = Instant::now();
        assert_eq!(profile_or_error(0, WAITS).await, Err(NoUser(0)));
        assert_eq!(
            start.elapsed(),
            WAITS.user,
            "back when the user lookup fails"
        );
        // The posts call could not have finished by then (its wait is longer), yet its span
        // is closed: the future was dropped.
        let spans = recording.finish().named(&["fetch"]);
        assert!(
            spans
                .spans()
                .iter()
                .any(|s| s.field("what") == Some("posts")),
            "the posts span closed: dropped at the error"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn join_waits_for_both_even_after_an_error() {
        let start = Instant::now();
        let (user, posts) = profile(0, WAITS).await;
        assert_eq!(start.elapsed(), WAITS.posts);
        assert_eq!(user, Err(NoUser(0)));
        assert!(posts.is_ok());
    }
}
