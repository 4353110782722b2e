//! `multiprocessing.Array` / `Value` / `shared_memory.SharedMemory` ->
//! `ipc_channel::ipc::IpcSharedMemory`, and a counter owned by one process.
//!
//! Python:
//!     shm = shared_memory.SharedMemory(create=True, size=len(data))
//!     shm.buf[:] = data                                  # one copy in
//!     Process(target=reader, args=(shm.name,)).start()   # the child maps it: no copy
//!
//!     counter = Value("i", 0)
//!     def bump(counter):
//!         for _ in range(1000):
//!             with counter.get_lock():
//!                 counter.value += 1
//!
//! Rust: `IpcSharedMemory::from_bytes` copies the bytes into a memory segment once; sending
//! it in a message sends a file descriptor, and the child maps the same physical pages.
//! The other way is `IpcBytesSender`, which pushes every byte through the kernel (a raw
//! byte channel: no serde, the fastest way to send a message; we use it so the comparison
//! is against the best message, not against slow serialisation). The child gets the same
//! 64 MiB both ways and checks every byte.
//!
//! Mutation: `IpcSharedMemory` derefs to `&[u8]`, read-only. Writing memory another process
//! can see at the same time is outside what the compiler can check (`deref_mut` is `unsafe`,
//! and this workspace forbids `unsafe`). So the `Value` counter is done the Rust way: one
//! process owns the number and the others send it increments. No lock, no lost updates.
//!
//! Watch: handing over 64 MiB as shared memory costs microseconds, as a message tens of
//! milliseconds. Building the segment is not free: it copies into freshly mapped shared
//! pages, which fault in one 4 KiB page at a time and can cost more than one message (the
//! "build included" line says so honestly). Shared memory pays off when the data is built
//! there once and then read many times, or by many children, or is too big to copy.
//!
//! Run only this: cargo run -p multiprocessing-demo -- shared-memory
//! Copy it: cargo add anyhow@1 ipc-channel@0.23 tracing@0.1 && cargo add serde@1 --features derive
//! Copy beside it: handshake.rs

#[path = "handshake.rs"]
mod handshake;

use std::process::Child;
use std::time::Instant;

use anyhow::Context;
use ipc_channel::ipc::{self, IpcBytesReceiver, IpcReceiver, IpcSender, IpcSharedMemory};
use ipc_channel::{IpcError, TryRecvError};
use serde::{Deserialize, Serialize};

/// The test data repeats this 251-byte block, so it is built and checked a block at a time
/// (memcpy and memcmp speed, even in a debug build).
fn block() -> Vec<u8> {
    (0..251u32).map(|i| (i * 31 % 251) as u8).collect()
}

/// `size` bytes of test data.
pub fn test_data(size: usize) -> Vec<u8> {
    let block = block();
    let mut data = Vec::with_capacity(size);
    while data.len() < size {
        let take = block.len().min(size - data.len());
        data.extend_from_slice(&block[..take]);
    }
    data
}

/// Is `data` exactly `test_data(data.len())`? Every byte is compared.
pub fn is_test_data(data: &[u8]) -> bool {
    let block = block();
    data.chunks(block.len()).all(|c| c == &block[..c.len()])
}

/// Parent -> reader child.
#[derive(Serialize, Deserialize)]
pub enum ToReader {
    Hello {
        reply: IpcSender<FromReader>,
        bytes: IpcBytesReceiver,
    },
    /// Here is a shared segment: map it.
    Shared(IpcSharedMemory),
    /// The next message on the byte channel is the data.
    ViaMessage,
    Done,
}

/// Reader child -> parent.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub enum FromReader {
    /// The data is in this process's memory, readable: `len` bytes.
    Holding { len: usize },
    /// Every byte checked with the reader's `check`.
    Checked { ok: bool },
}

/// The reader's side, in the child: take data either way, say when it holds it, then say
/// whether `check` finds every byte right.
pub fn reader(inbox: IpcReceiver<ToReader>, check: impl Fn(&[u8]) -> bool) -> anyhow::Result<()> {
    let ToReader::Hello { reply, bytes } = handshake::recv(&inbox)? else {
        anyhow::bail!("expected Hello first");
    };
    loop {
        let (len, ok) = match inbox.recv().context("the parent hung up")? {
            ToReader::Shared(shm) => {
                reply.send(FromReader::Holding { len: shm.len() })?;
                (shm.len(), check(&shm)) // `shm` derefs to `&[u8]`: the shared pages
            }
            ToReader::ViaMessage => {
                let data = bytes.recv()?;
                reply.send(FromReader::Holding { len: data.len() })?;
                (data.len(), check(&data))
            }
            ToReader::Done => return Ok(()),
            ToReader::Hello { .. } => anyhow::bail!("Hello twice"),
        };
        tracing::debug!(pid = std::process::id(), len, ok, "reader checked the data");
        reply.send(FromReader::Checked { ok })?;
    }
}

/// A started reader child with both ways to send it data.
pub struct Reader {
    child: Child,
    inbox: IpcSender<ToReader>,
    replies: IpcReceiver<FromReader>,
    bytes: ipc::IpcBytesSender,
}

/// The same bytes, two ways.
#[derive(Clone, Copy)]
pub enum Handover<'a> {
    Shared(&'a IpcSharedMemory),
    Message(&'a [u8]),
}

impl Reader {
    /// `start` starts the child and returns it with the sending end of its inbox.
    pub fn start(
        start: impl FnOnce() -> anyhow::Result<(Child, IpcSender<ToReader>)>,
    ) -> anyhow::Result<Reader> {
        let (child, inbox) = start()?;
        let (reply, replies) = ipc::channel()?;
        let (bytes, bytes_rx) = ipc::bytes_channel()?;
        inbox.send(ToReader::Hello {
            reply,
            bytes: bytes_rx,
        })?;
        Ok(Reader {
            child,
            inbox,
            replies,
            bytes,
        })
    }

    /// Hand the data over; returns once the child holds it (readable in its memory).
    pub fn hand_over(&self, data: Handover<'_>) -> anyhow::Result<()> {
        let len = match data {
            Handover::Shared(shm) => {
                self.inbox.send(ToReader::Shared(shm.clone()))?; // a handle, not the bytes
                shm.len()
            }
            Handover::Message(bytes) => {
                self.inbox.send(ToReader::ViaMessage)?;
                self.bytes.send(bytes)?; // every byte through the kernel
                bytes.len()
            }
        };
        let held = handshake::recv(&self.replies)?;
        anyhow::ensure!(held == FromReader::Holding { len }, "{held:?}");
        Ok(())
    }

    /// Whether the child found every byte of the last hand-over right.
    pub fn checked(&self) -> anyhow::Result<bool> {
        let FromReader::Checked { ok } = handshake::recv(&self.replies)? else {
            anyhow::bail!("expected Checked");
        };
        Ok(ok)
    }

    pub fn finish(mut self) -> anyhow::Result<()> {
        self.inbox.send(ToReader::Done)?;
        let status = handshake::join(&mut self.child)?;
        anyhow::ensure!(status.success(), "the reader failed: {status}");
        Ok(())
    }
}

/// What a counter client gets: the owner's increment channel and how many to send.
pub type CounterJob = (IpcSender<u32>, u32);

/// `Value("i", 0)` done by ownership: the parent owns the count, each of `children` clients
/// (started by `start`) sends `times` increments; the total is counted when the last client
/// hangs up.
pub fn count_with_messages(
    mut start: impl FnMut() -> anyhow::Result<(Child, IpcSender<CounterJob>)>,
    children: u32,
    times: u32,
) -> anyhow::Result<u64> {
    let (inc, incs) = ipc::channel::<u32>()?;
    let mut started = Vec::new();
    for _ in 0..children {
        let (child, inbox) = start()?;
        inbox.send((inc.clone(), times))?;
        started.push(child);
    }
    drop(inc);
    let mut value = 0u64; // only this process ever writes it
    loop {
        match incs.try_recv_timeout(handshake::PATIENCE) {
            Ok(by) => value += u64::from(by),
            Err(TryRecvError::IpcError(IpcError::Disconnected)) => break,
            Err(e) => return Err(e).context("counting"),
        }
    }
    for mut c in started {
        let status = handshake::join(&mut c)?; // it hung up: it is exiting
        anyhow::ensure!(status.success(), "a counter client failed: {status}");
    }
    Ok(value)
}

/// A counter client, in the child: send `times` increments of 1.
pub fn counter_client(inbox: IpcReceiver<CounterJob>) -> anyhow::Result<()> {
    let (counter, times) = handshake::recv(&inbox)?;
    for _ in 0..times {
        counter.send(1)?; // `with counter.get_lock(): counter.value += 1`
    }
    Ok(())
}

/// The twin of `if __name__ == "__main__":`: the children's roles, then the parent hands
/// 64 MiB to a reader both ways and has four children count to 4,000.
fn main() -> anyhow::Result<()> {
    match handshake::role() {
        Some((role, server)) if role == "shm-reader" => {
            return reader(handshake::connect(&server)?, is_test_data);
        }
        Some((role, server)) if role == "counter-client" => {
            return counter_client(handshake::connect(&server)?);
        }
        Some((role, _)) => anyhow::bail!("no role {role} in this program"),
        None => {} // the parent
    }
    let data = test_data(64 << 20);
    let shm = IpcSharedMemory::from_bytes(&data); // one copy in
    let reader = Reader::start(|| handshake::start(handshake::this_program("shm-reader")?))?;
    for (way, data) in [
        ("a message", Handover::Message(&data)),
        ("shared memory", Handover::Shared(&shm)),
    ] {
        let start = Instant::now();
        reader.hand_over(data)?;
        let took = start.elapsed();
        println!(
            "64 MiB as {way}: the child held it after {took:.2?}, every byte right: {}",
            reader.checked()?
        );
    }
    reader.finish()?;
    let start = || handshake::start(handshake::this_program("counter-client")?);
    println!(
        "Value: 4 children x 1000 increments, sent to the owner: {}",
        count_with_messages(start, 4, 1000)?
    );
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway, takeaway_if};
use common::python::{Pair, Twin, flags};
use common::timing::{Bytes, Secs, speedup};

use crate::child;
use crate::pool_map::Rounds;

pub const SECTION: Section = Section::new(
    "shared-memory",
    "Value / Array / shared_memory.SharedMemory",
    "64 MiB shared with a child without copying, against the same bytes as a message",
    run,
)
.main(|| main().report())
.twin(&TWIN);

/// `--python`: the same 64 MiB to a child by `Connection.send_bytes` and by
/// `shared_memory.SharedMemory`, and a `Value` counter with its lock.
const TWIN: Twin = Twin::new(
    "shared_memory.py",
    include_str!("../python/shared_memory.py"),
    &["message_s", "shared_s", "build_s", "speedup", "final_count"],
);

/// `--role shm-reader SERVER`: `main`'s child branch.
pub fn reader_role(args: &[String]) -> anyhow::Result<()> {
    child::serve(args, |server| {
        reader(handshake::connect(server)?, is_test_data)
    })
}

/// `--role counter-client SERVER`: `main`'s child branch.
pub fn counter_client_role(args: &[String]) -> anyhow::Result<()> {
    child::serve(args, |server| counter_client(handshake::connect(server)?))
}

fn start_reader() -> anyhow::Result<Reader> {
    Reader::start(|| handshake::start(child::command("shm-reader")?))
}

fn count(children: u32, times: u32) -> anyhow::Result<u64> {
    count_with_messages(
        || handshake::start(child::command("counter-client")?),
        children,
        times,
    )
}

const SIZE: usize = 64 << 20;

/// Three rounds each: building the segment, and handing the data over each way (until the
/// child holds it; then it checks every byte).
fn measure() -> anyhow::Result<[Rounds; 3]> {
    let data = test_data(SIZE);
    let mut rounds: [Rounds; 3] = Default::default();
    let [build, message, shared] = &mut rounds;
    // Each segment is dropped before the next is built; the last one is handed over.
    let mut shm = build.time("", || IpcSharedMemory::from_bytes(&data));
    for _ in 0..2 {
        drop(shm);
        shm = build.time("", || IpcSharedMemory::from_bytes(&data));
    }
    let reader = start_reader()?;
    for _ in 0..3 {
        message.time("", || reader.hand_over(Handover::Message(&data)))?;
        anyhow::ensure!(
            reader.checked()?,
            "the child read wrong bytes from the message"
        );
        shared.time("", || reader.hand_over(Handover::Shared(&shm)))?;
        anyhow::ensure!(
            reader.checked()?,
            "the child read wrong bytes from shared memory"
        );
    }
    reader.finish()?;
    Ok(rounds)
}

fn run() -> SectionResult {
    let [
        (build, build_spread),
        (by_message, message_spread),
        (by_shm, shm_spread),
    ] = measure()?.each_ref().map(Rounds::best);
    println!(
        "  {} handed to a child, best of 3; the child checked every byte both ways",
        Bytes(SIZE as u64)
    );
    figure("as a message", Secs(by_message));
    figure("as shared memory", Secs(by_shm));
    figure("building the segment, once", Secs(build));
    let handover = speedup(by_message, by_shm);
    figure("speedup, hand-over", format!("{handover:.0}x"));
    let with_build = speedup(by_message, by_shm + build);
    figure("speedup, build included", format!("{with_build:.1}x"));

    let (children, times) = (4, 1_000);
    let value = count(children, times)?;
    anyhow::ensure!(
        value == u64::from(children * times),
        "lost updates: {value}"
    );
    println!("  Value: {children} children x {times} increments, sent to the owner");
    figure("final count", value);
    TWIN.compare(
        &flags(&[
            ("--size", &SIZE),
            ("--children", &children),
            ("--times", &times),
        ]),
        &[
            Pair::secs("as a message", "message_s", by_message.as_secs_f64())
                .spread(message_spread)
                .cpu(),
            Pair::secs("as shared memory", "shared_s", by_shm.as_secs_f64()).spread(shm_spread),
            Pair::secs("building the segment, once", "build_s", build.as_secs_f64())
                .spread(build_spread),
            Pair::speedup("speedup, hand-over", "speedup", handover)
                .spread(message_spread * shm_spread)
                .cpu(),
            Pair::count(
                format!("Value: final count of {children} x {times}"),
                "final_count",
                value as f64,
            ),
        ],
    )?;
    // "Share it" holds only when sharing beats the message even with the segment's build.
    takeaway_if(
        &Evidence::faster("shared memory", by_shm, "a message", by_message, 10.0).and(
            Evidence::faster(
                "shared memory, build included",
                by_shm + build,
                "a message",
                by_message,
                1.0,
            ),
        ),
        "big read-only data: share it (IpcSharedMemory), do not copy it",
    );
    takeaway(
        "a shared counter: give it one owner and send it messages: every increment counted, no lock",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_data_is_checked_byte_by_byte() {
        let data = test_data(10_000);
        assert_eq!(data.len(), 10_000);
        assert_eq!(data[251..502], data[..251], "a 251-byte block, repeated");
        assert!(is_test_data(&data));
        let mut bad = data.clone();
        bad[9_999] ^= 0x80;
        assert!(!is_test_data(&bad));
    }

    #[test]
    fn a_child_reads_the_same_bytes_both_ways() {
        let data = test_data(100_000);
        let shm = IpcSharedMemory::from_bytes(&data);
        let reader = start_reader().unwrap();
        reader.hand_over(Handover::Shared(&shm)).unwrap();
        assert!(reader.checked().unwrap());
        reader.hand_over(Handover::Message(&data)).unwrap();
        assert!(reader.checked().unwrap());
        reader.finish().unwrap();
    }

    #[test]
    fn wrong_bytes_are_caught_by_the_child() {
        let mut data = test_data(1_000);
        data[500] ^= 1;
        let reader = start_reader().unwrap();
        let shm = IpcSharedMemory::from_bytes(&data);
        reader.hand_over(Handover::Shared(&shm)).unwrap();
        assert!(!reader.checked().unwrap());
        reader.finish().unwrap();
    }

    #[test]
    fn no_increment_is_lost() {
        assert_eq!(count(3, 50).unwrap(), 150);
    }

    #[test]
    fn the_python_twin_prints_its_fields() {
        let args = ["--size", "100000", "--children", "2", "--times", "10"];
        if let Some(figures) = TWIN.run_for_test(&args) {
            assert_eq!(figures["final_count"], 20);
        }
    }
}
