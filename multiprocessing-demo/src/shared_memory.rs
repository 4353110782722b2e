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
//! 64 MiB both ways and checks every byte (the check is a parameter of its side).
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

use std::process::Child;
use std::time::Duration;

use anyhow::Context;
use ipc_channel::ipc::{self, IpcBytesReceiver, IpcReceiver, IpcSender, IpcSharedMemory};
use ipc_channel::{IpcError, TryRecvError};
use serde::{Deserialize, Serialize};

/// The longest either side waits for the other before it calls it stuck.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// `rx.recv()`, but give up after [`PATIENCE`].
fn recv_within<T>(rx: &IpcReceiver<T>) -> anyhow::Result<T>
where
    T: Serialize + for<'de> Deserialize<'de>,
{
    match rx.try_recv_timeout(PATIENCE) {
        Err(ipc_channel::TryRecvError::Empty) => anyhow::bail!("no message within {PATIENCE:?}"),
        received => Ok(received?),
    }
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
    let ToReader::Hello { reply, bytes } = recv_within(&inbox)? else {
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
        let held = recv_within(&self.replies)?;
        anyhow::ensure!(held == FromReader::Holding { len }, "{held:?}");
        Ok(())
    }

    /// Whether the child found every byte of the last hand-over right.
    pub fn checked(&self) -> anyhow::Result<bool> {
        let FromReader::Checked { ok } = recv_within(&self.replies)? else {
            anyhow::bail!("expected Checked");
        };
        Ok(ok)
    }

    pub fn finish(mut self) -> anyhow::Result<()> {
        self.inbox.send(ToReader::Done)?;
        let status = self.child.wait()?;
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
        match incs.try_recv_timeout(PATIENCE) {
            Ok(by) => value += u64::from(by),
            Err(TryRecvError::IpcError(IpcError::Disconnected)) => break,
            Err(e) => return Err(e).context("counting"),
        }
    }
    for mut c in started {
        let status = c.wait()?; // it hung up: it is exiting
        anyhow::ensure!(status.success(), "a counter client failed: {status}");
    }
    Ok(value)
}

/// A counter client, in the child: send `times` increments of 1.
pub fn counter_client(inbox: IpcReceiver<CounterJob>) -> anyhow::Result<()> {
    let (counter, times) = recv_within(&inbox)?;
    for _ in 0..times {
        counter.send(1)?; // `with counter.get_lock(): counter.value += 1`
    }
    Ok(())
}

// --- run and measure ---

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::python::{Pair, Twin, flags};
use common::timing::{Bytes, Secs, speedup, timed};
use common::workload::file_bytes;

use crate::child;

pub const SECTION: Section = Section::new(
    "shared-memory",
    "Value / Array / shared_memory.SharedMemory",
    "64 MiB shared with a child without copying, against the same bytes as a message",
    run,
)
.twin(&TWIN);

/// `--python`: the same 64 MiB to a child by `Connection.send_bytes` and by
/// `shared_memory.SharedMemory`, and a `Value` counter with its lock.
const TWIN: Twin = Twin::new(
    "shared_memory.py",
    include_str!("../python/shared_memory.py"),
    &["message_s", "shared_s", "build_s", "speedup", "final_count"],
);

/// The file id of the 64 MiB of test data (deterministic bytes, so every reader can check).
const DATA_ID: u64 = 64;

/// `size` bytes of file `DATA_ID`: its content repeats every 251 bytes, so it is built
/// (and checked) a block at a time, with memcpy / memcmp speed even in a debug build.
pub fn test_data(size: usize) -> Vec<u8> {
    let block = file_bytes(DATA_ID, 251);
    let mut data = Vec::with_capacity(size);
    while data.len() < size {
        let take = block.len().min(size - data.len());
        data.extend_from_slice(&block[..take]);
    }
    data
}

/// Is `data` exactly `test_data(data.len())`? Every byte is compared.
pub fn is_test_data(data: &[u8]) -> bool {
    let block = file_bytes(DATA_ID, 251);
    data.chunks(block.len()).all(|c| c == &block[..c.len()])
}

/// `--role shm-reader SERVER`.
pub fn reader_role(args: &[String]) -> anyhow::Result<()> {
    child::serve(args, |inbox| reader(inbox, is_test_data))
}

/// `--role counter-client SERVER`.
pub fn counter_client_role(args: &[String]) -> anyhow::Result<()> {
    child::serve(args, counter_client)
}

fn start_reader() -> anyhow::Result<Reader> {
    Reader::start(child::starter("shm-reader", Vec::new()))
}

fn count(children: u32, times: u32) -> anyhow::Result<u64> {
    count_with_messages(
        child::starter("counter-client", Vec::new()),
        children,
        times,
    )
}

/// Hand `data` over, time it until the child holds it, and have the child check it.
fn timed_hand_over(reader: &Reader, data: Handover<'_>) -> anyhow::Result<(Duration, bool)> {
    let (held, took) = timed(|| reader.hand_over(data));
    held?;
    Ok((took, reader.checked()?))
}

fn run() -> SectionResult {
    const SIZE: usize = 64 << 20;
    let data = test_data(SIZE);
    // Best of 3 builds too, so both sides are measured the same way.
    let (mut shm, mut build) = timed(|| IpcSharedMemory::from_bytes(&data));
    for _ in 1..3 {
        drop(shm);
        let (again, took) = timed(|| IpcSharedMemory::from_bytes(&data));
        (shm, build) = (again, build.min(took));
    }

    let reader = start_reader()?;
    let (mut by_message, mut by_shm) = (Duration::MAX, Duration::MAX);
    for _ in 0..3 {
        let (took, ok) = timed_hand_over(&reader, Handover::Message(&data))?;
        anyhow::ensure!(ok, "the child read wrong bytes from the message");
        by_message = by_message.min(took);
        let (took, ok) = timed_hand_over(&reader, Handover::Shared(&shm))?;
        anyhow::ensure!(ok, "the child read wrong bytes from shared memory");
        by_shm = by_shm.min(took);
    }
    reader.finish()?;

    println!(
        "  {} handed to a child, best of 3; the child checked every byte both ways",
        Bytes(SIZE as u64)
    );
    figure("as a message", Secs(by_message));
    figure("as shared memory", Secs(by_shm));
    figure("building the segment, once", Secs(build));
    figure(
        "speedup, hand-over",
        format!("{:.0}x", speedup(by_message, by_shm)),
    );
    figure(
        "speedup, build included",
        format!("{:.1}x", speedup(by_message, by_shm + build)),
    );

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
            Pair::secs("as a message", "message_s", by_message.as_secs_f64()),
            Pair::secs("as shared memory", "shared_s", by_shm.as_secs_f64()),
            Pair::secs("building the segment, once", "build_s", build.as_secs_f64()),
            Pair::speedup("speedup, hand-over", "speedup", speedup(by_message, by_shm)),
            Pair::count(
                format!("Value: final count of {children} x {times}"),
                "final_count",
                value as f64,
            ),
        ],
    )?;
    takeaway_if(
        &Evidence::faster("shared memory", by_shm, "a message", by_message, 10.0),
        "big read-only data: share it (IpcSharedMemory), do not copy it; a shared counter: give it one owner and send it messages",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::workload::verify_file;

    #[test]
    fn test_data_is_the_known_file() {
        let data = test_data(10_000);
        assert!(verify_file(DATA_ID, 10_000, &data));
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
        assert!(timed_hand_over(&reader, Handover::Shared(&shm)).unwrap().1);
        assert!(
            timed_hand_over(&reader, Handover::Message(&data))
                .unwrap()
                .1
        );
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
