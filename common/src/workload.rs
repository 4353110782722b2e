//! Work with known answers (the `workload` crate, compiled optimised even in the dev
//! profile), and the async twin of its simulated download.

pub use workload::*;

use std::time::Duration;

/// The async twin of [`download_blocking`]: the task yields while it waits, the thread
/// is free for other tasks (`await asyncio.sleep(latency)`).
pub async fn download(id: u64, latency: Duration, size: usize) -> Vec<u8> {
    tokio::time::sleep(latency).await;
    file_bytes(id, size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn async_download_waits_its_latency() {
        let start = tokio::time::Instant::now();
        let body = download(5, Duration::from_millis(500), 32).await;
        assert_eq!(start.elapsed(), Duration::from_millis(500));
        assert!(verify_file(5, 32, &body));
    }
}
