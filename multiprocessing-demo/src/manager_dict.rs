//! `multiprocessing.Manager().dict()` -> a manager process that owns a map and answers
//! requests; the "proxy" the children hold is an `IpcSender<Request>`.
//!
//! Python:
//!     def worker(d, key, value):
//!         d[key] = value
//!         for _ in range(100):
//!             d["visits"] += 1        # a get and a set: two requests, updates get lost
//!     if __name__ == "__main__":
//!         with Manager() as manager:
//!             d = manager.dict()
//!             ps = [Process(target=worker, args=(d, k, v)) for k, v in [("a", 1), ("b", 2)]]
//!             for p in ps: p.start()
//!             for p in ps: p.join()
//!             print(dict(d))
//!
//! Rust: the manager is a child process (this binary, `--role manager`) whose only state is
//! a `BTreeMap` it alone owns. Children send it `Request`s, each with an `IpcSender` for the
//! reply. The manager handles one request at a time, so a request *is* atomic: `Add` does
//! the read-modify-write inside the manager, and no increment is lost. Python's
//! `d["visits"] += 1` through a proxy is a `Get` then a `Set`, and two children interleave.
//! No lock anywhere: ownership plus messages.
//!
//! Watch: the final dict holds every child's key and `visits` = children x 100 exactly.
//!
//! Run only this: cargo run -p multiprocessing-demo -- manager-dict
//! Copy it: cargo add anyhow@1 ipc-channel@0.23 tracing@0.1 && cargo add serde@1 --features derive
//! Copy beside it: handshake.rs

#[path = "handshake.rs"]
mod handshake;

use std::collections::BTreeMap;
use std::process::Child;

use anyhow::{Context, bail};
use ipc_channel::ipc::{self, IpcReceiver, IpcSender};
use serde::{Deserialize, Serialize};

/// What a proxy can ask the manager.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// `d[key] = value`
    Set {
        key: String,
        value: i64,
        reply: IpcSender<Reply>,
    },
    /// `d.get(key)`
    Get {
        key: String,
        reply: IpcSender<Reply>,
    },
    /// `d[key] += by`, done inside the manager: atomic.
    Add {
        key: String,
        by: i64,
        reply: IpcSender<Reply>,
    },
    /// `dict(d)`
    Snapshot {
        reply: IpcSender<Reply>,
    },
    Shutdown,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    Done,
    Value(Option<i64>),
    All(BTreeMap<String, i64>),
}

/// The manager process, given its inbox: owns the map, serves until `Shutdown` or until
/// every proxy is gone.
pub fn manager(inbox: IpcReceiver<Request>) -> anyhow::Result<()> {
    let mut map: BTreeMap<String, i64> = BTreeMap::new();
    while let Ok(request) = inbox.recv() {
        tracing::debug!(pid = std::process::id(), ?request, "manager handles");
        let (reply, answer) = match request {
            Request::Set { key, value, reply } => {
                map.insert(key, value);
                (reply, Reply::Done)
            }
            Request::Get { key, reply } => (reply, Reply::Value(map.get(&key).copied())),
            Request::Add { key, by, reply } => {
                *map.entry(key).or_insert(0) += by;
                (reply, Reply::Done)
            }
            Request::Snapshot { reply } => (reply, Reply::All(map.clone())),
            Request::Shutdown => break,
        };
        // A client that died before reading its answer must not take the manager down.
        let _ = reply.send(answer);
    }
    Ok(())
}

/// A handle on the manager's dict: what Python calls a `DictProxy`. Cheap to send to a
/// child: it is a sender to the manager plus a private reply channel.
pub struct DictProxy {
    manager: IpcSender<Request>,
    reply_tx: IpcSender<Reply>,
    replies: IpcReceiver<Reply>,
}

impl DictProxy {
    pub fn new(manager: IpcSender<Request>) -> anyhow::Result<DictProxy> {
        let (reply_tx, replies) = ipc::channel()?;
        Ok(DictProxy {
            manager,
            reply_tx,
            replies,
        })
    }

    fn ask(&self, request: impl FnOnce(IpcSender<Reply>) -> Request) -> anyhow::Result<Reply> {
        self.manager
            .send(request(self.reply_tx.clone()))
            .context("the manager is gone")?;
        handshake::recv(&self.replies)
    }

    pub fn set(&self, key: &str, value: i64) -> anyhow::Result<()> {
        let key = key.to_owned();
        expect_done(self.ask(|reply| Request::Set { key, value, reply })?)
    }

    pub fn get(&self, key: &str) -> anyhow::Result<Option<i64>> {
        let key = key.to_owned();
        match self.ask(|reply| Request::Get { key, reply })? {
            Reply::Value(v) => Ok(v),
            other => bail!("unexpected reply {other:?}"),
        }
    }

    pub fn add(&self, key: &str, by: i64) -> anyhow::Result<()> {
        let key = key.to_owned();
        expect_done(self.ask(|reply| Request::Add { key, by, reply })?)
    }

    pub fn snapshot(&self) -> anyhow::Result<BTreeMap<String, i64>> {
        match self.ask(|reply| Request::Snapshot { reply })? {
            Reply::All(map) => Ok(map),
            other => bail!("unexpected reply {other:?}"),
        }
    }
}

fn expect_done(reply: Reply) -> anyhow::Result<()> {
    match reply {
        Reply::Done => Ok(()),
        other => bail!("unexpected reply {other:?}"),
    }
}

/// What the parent sends each worker: the manager's address and its key/value.
#[derive(Serialize, Deserialize)]
pub struct WorkerArgs {
    manager: IpcSender<Request>,
    key: String,
    value: i64,
    visits: u32,
}

/// A worker process, given its inbox: `d[key] = value`, reads it back, then makes
/// `visits` atomic adds.
pub fn worker(inbox: IpcReceiver<WorkerArgs>) -> anyhow::Result<()> {
    let job = handshake::recv(&inbox)?;
    let d = DictProxy::new(job.manager)?;
    d.set(&job.key, job.value)?;
    anyhow::ensure!(
        d.get(&job.key)? == Some(job.value),
        "read back a different value"
    );
    for _ in 0..job.visits {
        d.add("visits", 1)?;
    }
    Ok(())
}

/// `with Manager() as manager:` ... start one worker per `(key, value)`, join them, and
/// return `dict(d)`. The manager is shut down and joined before returning. Each `start_*`
/// starts one child and returns it with the sending end of its inbox.
pub fn run_manager(
    start_manager: impl FnOnce() -> anyhow::Result<(Child, IpcSender<Request>)>,
    mut start_worker: impl FnMut() -> anyhow::Result<(Child, IpcSender<WorkerArgs>)>,
    entries: &[(&str, i64)],
    visits: u32,
) -> anyhow::Result<BTreeMap<String, i64>> {
    let (manager, manager_inbox) = start_manager()?;
    // `with Manager()` shuts the manager down however the block ends: an error below must
    // not leave it running (or stopped) with no parent.
    let mut manager = KillOnDrop(manager);
    let workers = entries
        .iter()
        .map(|&(key, value)| {
            let (child, inbox) = start_worker()?;
            inbox.send(WorkerArgs {
                manager: manager_inbox.clone(),
                key: key.to_owned(),
                value,
                visits,
            })?;
            Ok(child)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    for mut w in workers {
        let status = handshake::join(&mut w)?; // p.join()
        anyhow::ensure!(status.success(), "a dict worker failed: {status}");
    }
    let d = DictProxy::new(manager_inbox.clone())?;
    let all = d.snapshot()?;
    manager_inbox.send(Request::Shutdown)?;
    let status = handshake::join(&mut manager.0)?;
    anyhow::ensure!(status.success(), "the manager failed: {status}");
    Ok(all)
}

/// A child process that is killed and reaped when dropped, unless it has exited already.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The twin of `if __name__ == "__main__":`: the manager's and the workers' roles, then
/// the parent runs a manager and four workers and prints the final dict.
fn main() -> anyhow::Result<()> {
    match handshake::role() {
        Some((role, server)) if role == "manager" => return manager(handshake::connect(&server)?),
        Some((role, server)) if role == "dict-worker" => {
            return worker(handshake::connect(&server)?);
        }
        Some((role, _)) => bail!("no role {role} in this program"),
        None => {} // the parent
    }
    let all = run_manager(
        || handshake::start(handshake::this_program("manager")?),
        || handshake::start(handshake::this_program("dict-worker")?),
        &[("a", 1), ("b", 2), ("c", 3), ("d", 4)],
        100,
    )?;
    println!("dict(d) = {all:?}");
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{figure, takeaway};
use common::timing::{Secs, timed};

use crate::child;

pub const SECTION: Section = Section::new(
    "manager-dict",
    "Manager().dict(), d[key] = value in children",
    "a manager process owns the map; children send it requests, one at a time",
    run,
)
.main(|| main().report());

/// `--role manager SERVER`: `main`'s child branch.
pub fn manager_role(args: &[String]) -> anyhow::Result<()> {
    child::serve(args, |server| manager(handshake::connect(server)?))
}

/// `--role dict-worker SERVER`: `main`'s child branch.
pub fn worker_role(args: &[String]) -> anyhow::Result<()> {
    child::serve(args, |server| worker(handshake::connect(server)?))
}

fn manage(entries: &[(&str, i64)], visits: u32) -> anyhow::Result<BTreeMap<String, i64>> {
    run_manager(
        || handshake::start(child::command("manager")?),
        || handshake::start(child::command("dict-worker")?),
        entries,
        visits,
    )
}

fn run() -> SectionResult {
    let entries = [("a", 1), ("b", 2), ("c", 3), ("d", 4)];
    let visits = 100;
    let (all, took) = timed(|| manage(&entries, visits));
    let all = all?;
    println!("  dict(d) = {all:?}");
    let mut want: BTreeMap<String, i64> = entries.iter().map(|&(k, v)| (k.to_owned(), v)).collect();
    want.insert(
        "visits".to_owned(),
        entries.len() as i64 * i64::from(visits),
    );
    anyhow::ensure!(all == want, "the dict should be {want:?}");
    figure("visits (every one counted)", all["visits"]);
    figure("manager + 4 workers, total", Secs(took));
    takeaway(
        "a Manager is a process that owns the data and serves requests; one request at a time makes each one atomic",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_final_dict_has_every_write_and_no_lost_add() {
        let all = manage(&[("x", 10), ("y", -5), ("z", 0)], 25).unwrap();
        let want: BTreeMap<String, i64> = [("visits", 75), ("x", 10), ("y", -5), ("z", 0)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert_eq!(all, want);
    }

    #[test]
    fn a_failed_run_leaves_no_manager_behind() {
        let pid = std::cell::Cell::new(0);
        let start_manager = || {
            let (manager, inbox) = handshake::start::<Request>(child::command("manager")?)?;
            pid.set(manager.id());
            Ok((manager, inbox))
        };
        let no_worker =
            || -> anyhow::Result<(Child, IpcSender<WorkerArgs>)> { bail!("no worker today") };
        let err = run_manager(start_manager, no_worker, &[("a", 1)], 1).unwrap_err();
        assert!(err.to_string().contains("no worker today"), "{err}");
        // Killed and reaped: not even a zombie is left.
        let proc = format!("/proc/{}", pid.get());
        assert!(
            !std::path::Path::new(&proc).exists(),
            "{proc} is still there"
        );
    }

    #[test]
    fn a_proxy_gets_sets_and_adds() {
        let (mut manager, inbox) =
            handshake::start::<Request>(child::command("manager").unwrap()).unwrap();
        let d = DictProxy::new(inbox.clone()).unwrap();
        assert_eq!(d.get("k").unwrap(), None);
        d.set("k", 5).unwrap();
        d.add("k", 2).unwrap();
        assert_eq!(d.get("k").unwrap(), Some(7));
        // Every proxy gone: the manager's inbox disconnects and it exits by itself.
        drop(d);
        drop(inbox);
        assert!(handshake::join(&mut manager).unwrap().success());
    }
}
