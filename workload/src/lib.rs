//! Work with known answers, so a demo can check its result before it prints a speedup
//! (a fast wrong answer is never shown).
//!
//! CPU-bound: [`sum_of_squares`] (the guides' `sum(i * i for i in range(n))`) and
//! [`count_primes`] (uneven work: big numbers cost more than small ones).
//! I/O-bound: [`download_blocking`], which waits like a network call and returns
//! deterministic bytes that [`verify_file`] can check (its async twin is in `common`).
//!
//! A crate of its own so that it alone is compiled at opt-level 1 in the dev profile
//! (release is 3): these loops run close to release speed under a plain `cargo run`, while
//! `common` and the demos build at opt-level 0, quickly. They are `inline(never)` so that a
//! demo crate calls this optimised copy instead of inlining an unoptimised one.

use std::hint::black_box;
use std::ops::Range;
use std::time::Duration;

/// `sum(i * i for i in range(n))`, wrapping on overflow (which happens past n ≈ 3.8 million: n³/3 passes 2^64).
///
/// `black_box` stops the optimiser from replacing the loop by its closed form: the point
/// is to burn CPU in proportion to `n`, as the Python loop does.
pub fn sum_of_squares(n: u64) -> u64 {
    sum_of_squares_in(0..n)
}

/// The sum of `i * i` over a range: a chunk of [`sum_of_squares`] for parallel splits.
///
/// `inline(never)` keeps the loop compiled here, at this crate's optimisation level, even
/// when it is called from a demo crate built at opt-level 0.
#[inline(never)]
pub fn sum_of_squares_in(range: Range<u64>) -> u64 {
    let mut acc = 0u64;
    for i in range {
        let i = black_box(i);
        acc = acc.wrapping_add(i.wrapping_mul(i));
    }
    acc
}

/// The known answer of [`sum_of_squares`]: (n - 1) n (2n - 1) / 6, in the same wrapping
/// arithmetic.
pub fn sum_of_squares_expected(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let n = u128::from(n);
    ((n - 1) * n * (2 * n - 1) / 6) as u64
}

/// Split `0..n` into `parts` contiguous ranges of nearly equal length (the first ones one
/// longer), for handing chunks of a workload to workers.
pub fn split_range(n: u64, parts: usize) -> Vec<Range<u64>> {
    let parts = parts.max(1) as u64;
    let (base, extra) = (n / parts, n % parts);
    let mut start = 0;
    (0..parts)
        .map(|k| {
            let len = base + u64::from(k < extra);
            let range = start..start + len;
            start += len;
            range
        })
        .collect()
}

/// Is `n` prime? Trial division by odd numbers: deliberately plain, the cost grows with `n`.
#[inline(never)]
pub fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n.is_multiple_of(2) {
        return n == 2;
    }
    let mut d = 3;
    while d * d <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 2;
    }
    true
}

/// How many primes lie in `range`.
#[inline(never)]
pub fn count_primes(range: Range<u64>) -> u64 {
    range.filter(|&n| is_prime(n)).count() as u64
}

/// Known answers of `count_primes(0..n)` (pi(n)), for checking.
pub fn primes_below_expected(n: u64) -> Option<u64> {
    match n {
        10 => Some(4),
        100 => Some(25),
        1_000 => Some(168),
        10_000 => Some(1_229),
        100_000 => Some(9_592),
        1_000_000 => Some(78_498),
        5_000_000 => Some(348_513),
        10_000_000 => Some(664_579),
        _ => None,
    }
}

/// 251 pseudo-random bytes (a fixed linear congruential sequence); files are windows of it.
const PATTERN_LEN: usize = 251;
const PATTERN: [u8; PATTERN_LEN] = {
    let mut table = [0u8; PATTERN_LEN];
    let mut state: u32 = 0x2545_F491;
    let mut i = 0;
    while i < PATTERN_LEN {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        table[i] = (state >> 24) as u8;
        i += 1;
    }
    table
};

fn file_offset(id: u64) -> usize {
    (id.wrapping_mul(31) % PATTERN_LEN as u64) as usize
}

/// Byte `i` of file `id`: deterministic, so a client can verify what it downloaded.
pub fn file_byte(id: u64, i: usize) -> u8 {
    PATTERN[(file_offset(id) + i) % PATTERN_LEN]
}

/// The full content of file `id` with `size` bytes (what `/files/{id}` serves).
pub fn file_bytes(id: u64, size: usize) -> Vec<u8> {
    (0..size).map(|i| file_byte(id, i)).collect()
}

/// A buffer from which every file of up to `size` bytes is a zero-copy slice: file `id` is
/// `buf[file_window(id, size)]`. The HTTP server uses this to serve fast.
pub fn file_source(size: usize) -> Vec<u8> {
    (0..size + PATTERN_LEN)
        .map(|i| PATTERN[i % PATTERN_LEN])
        .collect()
}

/// Where file `id` of `size` bytes lies in [`file_source`].
pub fn file_window(id: u64, size: usize) -> Range<usize> {
    let start = file_offset(id);
    start..start + size
}

/// Does `body` hold exactly file `id` with `size` bytes? Every byte is compared, a pattern
/// period at a time (a `memcmp`), fast enough for tens of thousands of files a second.
pub fn verify_file(id: u64, size: usize, body: &[u8]) -> bool {
    let start = file_offset(id);
    body.len() == size
        && body
            .chunks(PATTERN_LEN)
            .all(|chunk| chunk == &PATTERN_TWICE[start..start + chunk.len()])
}

/// The pattern twice over: every window of one period is a plain slice of it.
const PATTERN_TWICE: [u8; 2 * PATTERN_LEN] = {
    let mut table = [0u8; 2 * PATTERN_LEN];
    let mut i = 0;
    while i < 2 * PATTERN_LEN {
        table[i] = PATTERN[i % PATTERN_LEN];
        i += 1;
    }
    table
};

/// A simulated blocking download: waits `latency` like a network call (the thread sleeps,
/// as `time.sleep` or `requests.get` would), then returns file `id`.
pub fn download_blocking(id: u64, latency: Duration, size: usize) -> Vec<u8> {
    std::thread::sleep(latency);
    file_bytes(id, size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_of_squares_matches_the_closed_form() {
        for n in [0, 1, 2, 3, 10, 1_000, 123_457] {
            assert_eq!(sum_of_squares(n), sum_of_squares_expected(n), "n = {n}");
        }
        assert_eq!(sum_of_squares(4), 1 + 4 + 9);
    }

    #[test]
    fn chunks_add_up_to_the_whole() {
        let n = 1_000_003;
        let ranges = split_range(n, 7);
        assert_eq!(ranges.len(), 7);
        assert_eq!(ranges.first().unwrap().start, 0);
        assert_eq!(ranges.last().unwrap().end, n);
        assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
        let total = ranges
            .into_iter()
            .map(sum_of_squares_in)
            .fold(0u64, u64::wrapping_add);
        assert_eq!(total, sum_of_squares_expected(n));
    }

    #[test]
    fn prime_counts_are_the_known_ones() {
        for n in [10, 100, 1_000, 10_000, 100_000] {
            assert_eq!(
                Some(count_primes(0..n)),
                primes_below_expected(n),
                "n = {n}"
            );
        }
        let halves: u64 = split_range(100_000, 2).into_iter().map(count_primes).sum();
        assert_eq!(halves, 9_592);
    }

    #[test]
    fn files_are_deterministic_and_distinct() {
        let a = file_bytes(7, 1000);
        assert_eq!(a, file_bytes(7, 1000));
        assert_ne!(a, file_bytes(8, 1000));
        assert!(verify_file(7, 1000, &a));
        assert!(!verify_file(8, 1000, &a));
        assert!(!verify_file(7, 1000, &a[..999]), "a short body fails");
        let mut flipped = a.clone();
        flipped[700] ^= 1;
        assert!(!verify_file(7, 1000, &flipped), "one wrong byte fails");
        let source = file_source(1000);
        assert_eq!(&source[file_window(7, 1000)], &a[..]);
    }

    #[test]
    fn blocking_download_returns_the_file() {
        let body = download_blocking(3, Duration::ZERO, 64);
        assert!(verify_file(3, 64, &body));
    }
}
