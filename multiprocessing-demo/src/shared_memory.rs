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
//! is against the best message, not against slow serialisation). Both children read the
//! same 64 MiB and compare every byte with the known content.
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

use std::time::Duration;

use anyhow::Context;
use common::cli::{SectionResult, figure, takeaway};
use common::timing::{Bytes, Secs, Stopwatch, speedup, timed};
use common::workload::file_bytes;
use ipc_channel::ipc::{self, IpcBytesReceiver, IpcReceiver, IpcSender, IpcSharedMemory};
use ipc_channel::{IpcError, TryRecvError};
use serde::{Deserialize, Serialize};

use crate::child::{self, PATIENCE, recv_within};

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
    /// Every byte checked against the known content.
    Checked { ok: bool },
}

/// The reader's side (`--role shm-reader SERVER`).
pub fn reader(args: &[String]) -> anyhow::Result<()> {
    let inbox = child::connect::<ToReader>(child::server_arg(args)?)?;
    let ToReader::Hello { reply, bytes } = recv_within(&inbox, PATIENCE)? else {
        anyhow::bail!("expected Hello first");
    };
    loop {
        let (len, ok) = match inbox.recv().context("the parent hung up")? {
            ToReader::Shared(shm) => {
                reply.send(FromReader::Holding { len: shm.len() })?;
                (shm.len(), is_test_data(&shm))
            }
            ToReader::ViaMessage => {
                let data = bytes.recv()?;
                reply.send(FromReader::Holding { len: data.len() })?;
                (data.len(), is_test_data(&data))
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
    started: child::Connected<ToReader>,
    replies: IpcReceiver<FromReader>,
    bytes: ipc::IpcBytesSender,
}

impl Reader {
    pub fn start() -> anyhow::Result<Reader> {
        let started = child::start::<ToReader>("shm-reader", &[])?;
        let (reply, replies) = ipc::channel()?;
        let (bytes, bytes_rx) = ipc::bytes_channel()?;
        started.inbox.send(ToReader::Hello {
            reply,
            bytes: bytes_rx,
        })?;
        Ok(Reader {
            started,
            replies,
            bytes,
        })
    }

    /// Hand the data over; return how long until the child held it, and whether the child
    /// then found every byte right.
    pub fn hand_over(&self, data: Handover<'_>) -> anyhow::Result<(Duration, bool)> {
        let sw = Stopwatch::start();
        match data {
            Handover::Shared(shm) => self.started.inbox.send(ToReader::Shared(shm.clone()))?,
            Handover::Message(bytes) => {
                self.started.inbox.send(ToReader::ViaMessage)?;
                self.bytes.send(bytes)?;
            }
        }
        let held = recv_within(&self.replies, PATIENCE)?;
        let took = sw.elapsed();
        let expected = match data {
            Handover::Shared(shm) => shm.len(),
            Handover::Message(bytes) => bytes.len(),
        };
        anyhow::ensure!(held == FromReader::Holding { len: expected }, "{held:?}");
        let FromReader::Checked { ok } = recv_within(&self.replies, PATIENCE)? else {
            anyhow::bail!("expected Checked");
        };
        Ok((took, ok))
    }

    pub fn finish(mut self) -> anyhow::Result<()> {
        self.started.inbox.send(ToReader::Done)?;
        let status = child::join(&mut self.started.child)?;
        anyhow::ensure!(status.success(), "the reader failed: {status}");
        Ok(())
    }
}

/// The same bytes, two ways.
#[derive(Clone, Copy)]
pub enum Handover<'a> {
    Shared(&'a IpcSharedMemory),
    Message(&'a [u8]),
}

/// `Value("i", 0)` done by ownership: the parent owns the count, each child sends `times`
/// increments; the total is counted when the last child hangs up.
pub fn count_with_messages(children: u32, times: u32) -> anyhow::Result<u64> {
    let (inc, incs) = ipc::channel::<u32>()?;
    let mut started = Vec::new();
    for _ in 0..children {
        let c = child::start::<(IpcSender<u32>, u32)>("counter-client", &[])?;
        c.inbox.send((inc.clone(), times))?;
        started.push(c.child);
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
        let status = child::join(&mut c)?;
        anyhow::ensure!(status.success(), "a counter client failed: {status}");
    }
    Ok(value)
}

/// `--role counter-client SERVER`: send `times` increments of 1.
pub fn counter_client(args: &[String]) -> anyhow::Result<()> {
    let inbox = child::connect::<(IpcSender<u32>, u32)>(child::server_arg(args)?)?;
    let (counter, times) = recv_within(&inbox, PATIENCE)?;
    for _ in 0..times {
        counter.send(1)?; // `with counter.get_lock(): counter.value += 1`
    }
    Ok(())
}

pub fn run() -> SectionResult {
    const SIZE: usize = 64 << 20;
    let data = test_data(SIZE);
    // Best of 3 builds too, so both sides are measured the same way.
    let (mut shm, mut build) = timed(|| IpcSharedMemory::from_bytes(&data));
    for _ in 1..3 {
        drop(shm);
        let (again, took) = timed(|| IpcSharedMemory::from_bytes(&data));
        (shm, build) = (again, build.min(took));
    }

    let reader = Reader::start()?;
    let (mut by_message, mut by_shm) = (Duration::MAX, Duration::MAX);
    for _ in 0..3 {
        let (took, ok) = reader.hand_over(Handover::Message(&data))?;
        anyhow::ensure!(ok, "the child read wrong bytes from the message");
        by_message = by_message.min(took);
        let (took, ok) = reader.hand_over(Handover::Shared(&shm))?;
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
    let value = count_with_messages(children, times)?;
    anyhow::ensure!(
        value == u64::from(children * times),
        "lost updates: {value}"
    );
    println!("  Value: {children} children x {times} increments, sent to the owner");
    figure("final count", value);
    takeaway(
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
        let reader = Reader::start().unwrap();
        assert!(reader.hand_over(Handover::Shared(&shm)).unwrap().1);
        assert!(reader.hand_over(Handover::Message(&data)).unwrap().1);
        reader.finish().unwrap();
    }

    #[test]
    fn wrong_bytes_are_caught_by_the_child() {
        let mut data = test_data(1_000);
        data[500] ^= 1;
        let reader = Reader::start().unwrap();
        let shm = IpcSharedMemory::from_bytes(&data);
        assert!(!reader.hand_over(Handover::Shared(&shm)).unwrap().1);
        reader.finish().unwrap();
    }

    #[test]
    fn no_increment_is_lost() {
        assert_eq!(count_with_messages(3, 50).unwrap(), 150);
    }
}
