//! Pickling -> serde: what it costs, in bytes and time, to send a large structure to a child
//! as a message, against putting it in shared memory.
//!
//! Python:
//!     readings = [Reading(sensor=i % 64, time_us=i, value=i * 0.5) for i in range(50_000)]
//!     q.put(readings)            # pickle.dumps, the bytes through a pipe, pickle.loads
//!     # or: a flat numpy array in shared_memory, read in place by the child
//!
//! Rust: every message between processes is bytes, so a structure is encoded on the way
//! out and decoded on the way in, as pickle does. Four ways, each row measured:
//! - `serde_json`: a text format (pickle protocol 0's cousin): big and slow to parse;
//! - `IpcSender<Vec<Reading>>`: ipc-channel encodes with serde + postcard inside `send`;
//! - flat bytes: a fixed 20-byte little-endian record (`struct.pack`, a numpy buffer),
//!   sent through a raw `IpcBytesSender`;
//! - shared memory: the same flat bytes in an `IpcSharedMemory`, read in place: no decoding
//!   step and no copy on hand-over.
//!
//! Serde, serde_json and postcard are compiled without optimisation in the dev profile, so
//! the encoded rows are slower here than in `--release`; the ranking stays.
//!
//! Watch: the child's checksum matches on every row. Most of the cost is encoding and
//! decoding, not moving bytes: at this size flat bytes and shared memory are close (the
//! child's checksum pass dominates both); shared memory pulls away as the data grows (the
//! `shared-memory` section hands over 64 MiB).
//!
//! Run only this: cargo run -p multiprocessing-demo -- serialization-cost
//! Copy it: cargo add anyhow@1 ipc-channel@0.23 serde_json@1 && cargo add serde@1 --features derive
//! Copy beside it: handshake.rs

#[path = "handshake.rs"]
mod handshake;

use std::process::Child;
use std::time::Instant;

use anyhow::{Context, bail};
use ipc_channel::ipc::{
    self, IpcBytesReceiver, IpcBytesSender, IpcReceiver, IpcSender, IpcSharedMemory,
};
use serde::{Deserialize, Serialize};

/// One record of the large structure.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub sensor: u32,
    pub time_us: u64,
    pub value: f64,
}

/// Size of a record in the flat layout.
pub const RECORD: usize = 4 + 8 + 8;

/// `struct.pack("<IQd", ...)` for every record.
pub fn to_flat(readings: &[Reading]) -> Vec<u8> {
    let mut out = Vec::with_capacity(readings.len() * RECORD);
    for r in readings {
        out.extend_from_slice(&r.sensor.to_le_bytes());
        out.extend_from_slice(&r.time_us.to_le_bytes());
        out.extend_from_slice(&r.value.to_le_bytes());
    }
    out
}

/// Read record `bytes` (20 bytes) in place.
pub fn read_flat(bytes: &[u8]) -> Reading {
    let (sensor, rest) = bytes.split_at(4);
    let (time_us, value) = rest.split_at(8);
    Reading {
        sensor: u32::from_le_bytes(sensor.try_into().unwrap_or_default()),
        time_us: u64::from_le_bytes(time_us.try_into().unwrap_or_default()),
        value: f64::from_le_bytes(value.try_into().unwrap_or_default()),
    }
}

/// What the child computes from whatever it received, to prove it got the same data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksum {
    count: u64,
    sensors: u64,
    times: u64,
    values: u64,
}

impl Checksum {
    pub fn of(records: impl Iterator<Item = Reading>) -> Checksum {
        records.fold(Checksum::default(), |c, r| Checksum {
            count: c.count + 1,
            sensors: c.sensors.wrapping_add(u64::from(r.sensor)),
            times: c.times.wrapping_add(r.time_us),
            values: c.values.wrapping_add(r.value.to_bits()),
        })
    }
}

/// Parent -> child.
#[derive(Serialize, Deserialize)]
pub enum ToDecoder {
    Hello {
        reply: IpcSender<Checksum>,
        bytes: IpcBytesReceiver,
        typed: IpcReceiver<Vec<Reading>>,
    },
    /// The next byte message is JSON.
    Json,
    /// The next typed message is the structure.
    Typed,
    /// The next byte message is flat records.
    Flat,
    /// Flat records in shared memory.
    Shared(IpcSharedMemory),
    Done,
}

/// The child's side, given its inbox: decode what it is told to expect, reply a checksum.
pub fn decoder(inbox: IpcReceiver<ToDecoder>) -> anyhow::Result<()> {
    let ToDecoder::Hello {
        reply,
        bytes,
        typed,
    } = handshake::recv(&inbox).context("waiting for Hello")?
    else {
        bail!("expected Hello first");
    };
    loop {
        let sum = match inbox.recv().context("the parent hung up")? {
            ToDecoder::Json => {
                let records: Vec<Reading> = serde_json::from_slice(&bytes.recv()?)?;
                Checksum::of(records.into_iter())
            }
            ToDecoder::Typed => Checksum::of(typed.recv()?.into_iter()),
            ToDecoder::Flat => Checksum::of(bytes.recv()?.chunks_exact(RECORD).map(read_flat)),
            ToDecoder::Shared(shm) => Checksum::of(shm.chunks_exact(RECORD).map(read_flat)),
            ToDecoder::Done => return Ok(()),
            ToDecoder::Hello { .. } => bail!("Hello twice"),
        };
        reply.send(sum)?;
    }
}

/// The structure, ready to go one of four ways.
pub enum Payload {
    /// `serde_json::to_vec(&readings)`: text.
    Json(Vec<u8>),
    /// The structure itself: ipc-channel encodes it (serde + postcard) inside `send`.
    Typed(Vec<Reading>),
    /// [`to_flat`]: 20 bytes a record.
    Flat(Vec<u8>),
    /// The flat bytes in a shared segment: only a handle is sent.
    Shared(IpcSharedMemory),
}

/// A started decoder child.
pub struct Decoder {
    child: Child,
    inbox: IpcSender<ToDecoder>,
    replies: IpcReceiver<Checksum>,
    bytes: IpcBytesSender,
    typed: IpcSender<Vec<Reading>>,
}

impl Decoder {
    /// `start` starts the child and returns it with the sending end of its inbox.
    pub fn start(
        start: impl FnOnce() -> anyhow::Result<(Child, IpcSender<ToDecoder>)>,
    ) -> anyhow::Result<Decoder> {
        let (child, inbox) = start()?;
        let (reply, replies) = ipc::channel()?;
        let (bytes, bytes_rx) = ipc::bytes_channel()?;
        let (typed, typed_rx) = ipc::channel()?;
        inbox.send(ToDecoder::Hello {
            reply,
            bytes: bytes_rx,
            typed: typed_rx,
        })?;
        Ok(Decoder {
            child,
            inbox,
            replies,
            bytes,
            typed,
        })
    }

    /// `q.put(payload)`, then wait for the child's checksum of what it decoded.
    pub fn send(&self, payload: Payload) -> anyhow::Result<Checksum> {
        match payload {
            Payload::Json(text) => {
                self.inbox.send(ToDecoder::Json)?;
                self.bytes.send(&text)?;
            }
            Payload::Typed(records) => {
                self.inbox.send(ToDecoder::Typed)?;
                self.typed.send(records)?; // encoding happens in here
            }
            Payload::Flat(flat) => {
                self.inbox.send(ToDecoder::Flat)?;
                self.bytes.send(&flat)?;
            }
            Payload::Shared(shm) => self.inbox.send(ToDecoder::Shared(shm))?,
        }
        handshake::recv(&self.replies).context("waiting for the checksum")
    }

    pub fn finish(mut self) -> anyhow::Result<()> {
        self.inbox.send(ToDecoder::Done)?;
        let status = handshake::join(&mut self.child)?;
        anyhow::ensure!(status.success(), "the decoder failed: {status}");
        Ok(())
    }
}

/// The large structure: `n` readings.
pub fn readings(n: usize) -> Vec<Reading> {
    (0..n)
        .map(|i| Reading {
            sensor: (i % 64) as u32,
            time_us: i as u64,
            value: i as f64 * 0.5,
        })
        .collect()
}

/// The twin of `if __name__ == "__main__":`: a child (`--role decoder SERVER`) decodes
/// and checksums; the parent sends it 50,000 readings four ways.
fn main() -> anyhow::Result<()> {
    if let Some((_, server)) = handshake::role() {
        return decoder(handshake::connect(&server)?); // the only role here
    }
    let data = readings(50_000);
    let want = Checksum::of(data.iter().copied());
    let decoder = Decoder::start(|| handshake::start(handshake::this_program("decoder")?))?;
    let flat = to_flat(&data);
    for (name, payload) in [
        (
            "serde_json bytes",
            Payload::Json(serde_json::to_vec(&data)?),
        ),
        ("IpcSender<Vec<Reading>>", Payload::Typed(data.clone())),
        ("flat bytes", Payload::Flat(flat.clone())),
        (
            "shared memory",
            Payload::Shared(IpcSharedMemory::from_bytes(&flat)),
        ),
    ] {
        let start = Instant::now();
        let same = decoder.send(payload)? == want;
        println!(
            "{name}: delivered and decoded in {:.2?}, the same data: {same}",
            start.elapsed()
        );
    }
    decoder.finish()
}

// --- run and measure ---

use std::process::Termination;
use std::time::Duration;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::python::{Pair, Twin, flags};
use common::timing::{Bytes, Secs, speedup, timed};

use crate::child;

pub const SECTION: Section = Section::new(
    "serialization-cost",
    "pickle: q.put(big_structure) vs shared memory",
    "bytes and time to send 50,000 records as JSON, serde, flat bytes, shared memory",
    run,
)
.main(|| main().report())
.twin(&TWIN);

/// `--python`: the same records through a `multiprocessing.Queue` as JSON, pickled, as
/// `struct.pack` bytes, and in a `SharedMemory` block.
const TWIN: Twin = Twin::new(
    "serialization_cost.py",
    include_str!("../python/serialization_cost.py"),
    &[
        "json_s",
        "pickle_s",
        "flat_s",
        "shared_s",
        "json_bytes",
        "pickle_bytes",
        "flat_bytes",
    ],
);

/// `--role decoder SERVER`: `main`'s child branch.
pub fn decoder_role(args: &[String]) -> anyhow::Result<()> {
    child::serve(args, |server| decoder(handshake::connect(server)?))
}

fn start_decoder() -> anyhow::Result<Decoder> {
    Decoder::start(|| handshake::start(child::command("decoder")?))
}

/// The ways to get the structure to the child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Way {
    Json,
    Typed,
    Flat,
    Shared,
}

/// One row of the table: encode time in the parent, bytes on the wire, and
/// send-until-the-child-has-checked time, with the child's checksum.
pub struct Row {
    pub encode: Duration,
    pub bytes: Option<usize>,
    pub deliver: Duration,
    pub sum: Checksum,
}

/// Encode `data` `way` (timed), then send it and wait for the checksum (timed).
fn measure(decoder: &Decoder, way: Way, data: &[Reading]) -> anyhow::Result<Row> {
    let (payload, encode) = match way {
        // The typed sender takes the value; it encodes inside `send`, timed as delivery.
        Way::Typed => (Payload::Typed(data.to_vec()), Duration::ZERO),
        Way::Json => {
            let (text, took) = timed(|| serde_json::to_vec(data));
            (Payload::Json(text?), took)
        }
        Way::Flat => {
            let (flat, took) = timed(|| to_flat(data));
            (Payload::Flat(flat), took)
        }
        Way::Shared => {
            let (shm, took) = timed(|| IpcSharedMemory::from_bytes(&to_flat(data)));
            (Payload::Shared(shm), took)
        }
    };
    let bytes = match &payload {
        Payload::Json(b) | Payload::Flat(b) => Some(b.len()),
        Payload::Shared(_) => Some(0),
        Payload::Typed(_) => None,
    };
    let (sum, deliver) = timed(|| decoder.send(payload));
    Ok(Row {
        encode,
        bytes,
        deliver,
        sum: sum?,
    })
}

fn run() -> SectionResult {
    let n = 50_000;
    let data = readings(n);
    let want = Checksum::of(data.iter().copied());
    let decoder = start_decoder()?;
    println!(
        "  {n} records ({} as flat bytes) to a child that decodes and checksums them",
        Bytes((n * RECORD) as u64)
    );
    println!(
        "  {:<28} {:>10} {:>11} {:>14}",
        "", "encode", "on the wire", "deliver+check"
    );
    let (mut times, mut wire_bytes) = (Vec::new(), Vec::new());
    for (way, name) in [
        (Way::Json, "serde_json bytes"),
        (Way::Typed, "IpcSender<Vec<Reading>>"),
        (Way::Flat, "flat bytes (struct.pack)"),
        (Way::Shared, "shared memory, read in place"),
    ] {
        let row = measure(&decoder, way, &data)?;
        anyhow::ensure!(row.sum == want, "{name}: the child got different data");
        let wire = match (way, row.bytes) {
            (Way::Shared, _) => "a handle".to_owned(),
            (_, Some(b)) => Bytes(b as u64).to_string(),
            (_, None) => "(inside)".to_owned(),
        };
        let encode = if way == Way::Typed {
            "(inside)".to_owned()
        } else {
            Secs(row.encode).to_string()
        };
        println!(
            "  {name:<28} {encode:>10} {wire:>11} {:>14}",
            Secs(row.deliver).to_string()
        );
        times.push(row.encode + row.deliver);
        wire_bytes.push(row.bytes.unwrap_or(0) as f64);
    }
    decoder.finish()?;
    figure(
        "json vs shared memory, total",
        format!("{:.0}x", speedup(times[0], times[3])),
    );
    let secs = |i: usize| times[i].as_secs_f64();
    TWIN.compare(
        &flags(&[("--records", &n)]),
        &[
            Pair::secs("serde_json / json, total", "json_s", secs(0)).cpu(),
            Pair::secs("IpcSender (postcard) / pickle", "pickle_s", secs(1)).cpu(),
            Pair::secs("flat bytes (struct.pack)", "flat_s", secs(2)).cpu(),
            Pair::secs("shared memory, read in place", "shared_s", secs(3)).cpu(),
            Pair::bytes("JSON on the wire", "json_bytes", wire_bytes[0]),
            Pair::bytes("flat bytes on the wire", "flat_bytes", wire_bytes[2]),
        ],
    )?;
    takeaway_if(
        &Evidence::faster("shared memory", times[3], "serde_json", times[0], 2.0),
        "every message is encoded and decoded, like pickle; a flat layout in shared memory skips both and the copy",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_records_round_trip() {
        let data = readings(100);
        let flat = to_flat(&data);
        assert_eq!(flat.len(), 100 * RECORD);
        let back: Vec<Reading> = flat.chunks_exact(RECORD).map(read_flat).collect();
        assert_eq!(back, data);
    }

    #[test]
    fn the_child_gets_the_same_data_every_way() {
        let data = readings(1_000);
        let want = Checksum::of(data.iter().copied());
        assert_eq!(want.count, 1_000);
        let decoder = start_decoder().unwrap();
        for way in [Way::Json, Way::Typed, Way::Flat, Way::Shared] {
            assert_eq!(measure(&decoder, way, &data).unwrap().sum, want, "{way:?}");
        }
        decoder.finish().unwrap();
    }

    #[test]
    fn the_python_twin_prints_its_fields() {
        if let Some(figures) = TWIN.run_for_test(&["--records", "100"]) {
            assert_eq!(figures["flat_bytes"], 100 * RECORD);
        }
    }
}
