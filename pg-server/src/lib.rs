//! Where a run gets its PostgreSQL server: plumbing for `hybrid-demo database-server` and
//! `compare`'s "Database queries (server)" row, not a lesson (no marker, like `common`).
//!
//! In this order: `DATABASE_URL` when it is set; otherwise a private throwaway cluster,
//! `initdb` into a folder of the run's temporary folder and `postgres` listening only on a
//! Unix socket in that folder; otherwise nothing (the caller prints [`NOT_FOUND`]). The
//! binaries are looked for on `PATH`, then in Debian's layout (`/usr/lib/postgresql/*/bin`,
//! the newest version first).
//!
//! PostgreSQL refuses to run as root. Run as root, the cluster belongs to the `postgres`
//! user (Debian's package makes one), else to `nobody`: its folder is chowned to that user
//! and both programs start through `setpriv --reuid --regid --clear-groups`. The run's
//! temporary folder (the supervisor's, mode 0700) gets search permission for others while
//! the cluster lives (names only, no listing), so that user can reach its folder.
//!
//! Stopping it, however the run ends:
//! - at the end of the run's use of it (or a failure or panic), `Drop` sends SIGINT (a fast
//!   shutdown), waits, and removes the folder;
//! - if the run is killed (Ctrl-C, SIGTERM, even SIGKILL), the postmaster gets SIGINT from
//!   the kernel: it is started with `setpriv --pdeathsig INT`, a parent-death signal, which
//!   fires when the thread that started it ends (so start it, and drop it, on a thread
//!   that lives as long as it is needed: the main thread). The supervisor then stops what
//!   is left below the run and removes the temporary folder;
//! - last resort, measured on PostgreSQL 15: a postmaster whose data folder was removed
//!   under it stopped by itself 16 s later (its WAL writer could not write and the restart
//!   failed), and it re-checks its lock file every minute in any case.

use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio, Termination};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use common::print::figure;
use common::timing::{Secs, timed};

/// What a caller prints when there is no server to use.
pub const NOT_FOUND: &str = "not run: no PostgreSQL server (set DATABASE_URL, or install PostgreSQL: Debian/Ubuntu apt install postgresql, macOS brew install postgresql)";

/// Debian's and Ubuntu's layout: `/usr/lib/postgresql/VERSION/bin`.
pub const DEBIAN_LAYOUT: &str = "/usr/lib/postgresql";

/// The longest a cluster may take to answer, and to stop.
const START_LIMIT: Duration = Duration::from_secs(60);
const STOP_LIMIT: Duration = Duration::from_secs(10);

/// The server a run uses.
pub enum Server {
    /// `DATABASE_URL`.
    Given(String),
    /// A cluster of our own, stopped and removed on drop.
    Private(Box<Cluster>),
}

impl Server {
    /// `DATABASE_URL` if set, else a private cluster, else `None` (no PostgreSQL here).
    pub fn find() -> anyhow::Result<Option<Server>> {
        let url = std::env::var_os("DATABASE_URL");
        let url = url.map(|u| u.into_string().ok().context("DATABASE_URL is not UTF-8"));
        let path = std::env::var_os("PATH");
        Server::find_with(url.transpose()?, path.as_deref(), Path::new(DEBIAN_LAYOUT))
    }

    /// [`Server::find`] from these: a URL, a `PATH`, a folder of Debian's layout.
    pub fn find_with(
        url: Option<String>,
        path: Option<&OsStr>,
        debian: &Path,
    ) -> anyhow::Result<Option<Server>> {
        if let Some(url) = url {
            return Ok(Some(Server::Given(url)));
        }
        let Some(bin) = binaries(path, debian) else {
            return Ok(None);
        };
        Ok(Some(Server::Private(Box::new(Cluster::start(&bin)?))))
    }

    pub fn url(&self) -> &str {
        match self {
            Server::Given(url) => url,
            Server::Private(cluster) => &cluster.url,
        }
    }

    /// Where it came from, in words (no password), with a private cluster's start-up.
    pub fn describe(&self) -> String {
        match self {
            Server::Given(url) => format!("DATABASE_URL ({})", redact(url)),
            Server::Private(c) => format!(
                "a private cluster in {} ({}, run as {}), started in {} (initdb {}, then {} to accept connections), not timed",
                c.folder().display(),
                c.version,
                c.user,
                Secs(c.initdb + c.startup),
                Secs(c.initdb),
                Secs(c.startup)
            ),
        }
    }

    /// A blocking connection; a failure is one line (a server's DETAIL and HINT come on
    /// lines of their own), naming the server without its password.
    pub fn connect(&self) -> anyhow::Result<postgres::Client> {
        postgres::Client::connect(self.url(), postgres::NoTls).map_err(|e| {
            let message = e.to_string().lines().collect::<Vec<_>>().join("; ");
            anyhow::anyhow!("connecting to {}: {message}", redact(self.url()))
        })
    }

    /// Stop a private cluster, and say so with the time it took and whether its folder is gone.
    pub fn stop(self) {
        if let Server::Private(cluster) = self {
            let folder = cluster.folder().to_owned();
            let (_, took) = timed(|| drop(cluster));
            let gone = if folder.exists() {
                "is still there"
            } else {
                "removed"
            };
            figure(
                "private cluster",
                format!("stopped, its folder {gone}, in {}", Secs(took)),
            );
        }
    }

    /// `--lesson`: the lesson's `main` as it is, but with a private cluster's URL when
    /// `DATABASE_URL` is not set: a copied `main` cannot start a server, so the demo runs
    /// `DEMO --role ROLE` (the lesson's `main`) as a child with `DATABASE_URL` set.
    pub fn lesson(role: &str, main: impl FnOnce() -> ExitCode) -> ExitCode {
        if std::env::var_os("DATABASE_URL").is_some() {
            return main();
        }
        let server = match Server::find() {
            Ok(Some(server)) => server,
            Ok(None) => return main(), // it says how to get a server
            Err(e) => return Err::<(), _>(e).report(),
        };
        let status = std::env::current_exe().and_then(|exe| {
            Command::new(exe)
                .args(["--role", role])
                .env("DATABASE_URL", server.url())
                .status()
        });
        match status {
            Ok(s) if s.success() => ExitCode::SUCCESS,
            _ => ExitCode::FAILURE,
        }
    }
}

/// `postgres://user:secret@host/db` -> `postgres://user:***@host/db`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((user, host)) if user.contains(':') => {
            let name = user.split(':').next().unwrap_or_default();
            format!("{scheme}://{name}:***@{host}")
        }
        _ => url.to_owned(),
    }
}

/// The folder holding both `initdb` and `postgres`: the first on `path`, else the newest
/// under `debian` (`debian/15/bin` before `debian/13/bin`).
pub fn binaries(path: Option<&OsStr>, debian: &Path) -> Option<PathBuf> {
    let both = |dir: &Path| {
        ["initdb", "postgres"]
            .iter()
            .all(|b| executable(&dir.join(b)))
    };
    if let Some(dir) = path
        .into_iter()
        .flat_map(std::env::split_paths)
        .find(|d| both(d))
    {
        return Some(dir);
    }
    let mut versions: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir(debian)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let version = name.split('.').filter_map(|n| n.parse().ok()).collect();
            (version, e.path().join("bin"))
        })
        .filter(|(_, bin)| both(bin))
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The user the cluster runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
struct User {
    name: String,
    uid: u32,
    gid: u32,
}

impl User {
    /// This process's user, or, for root, the first of `postgres` and `nobody` in `passwd`.
    fn for_cluster(passwd: &str) -> anyhow::Result<(User, bool)> {
        let uid = std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid());
        if uid != 0 {
            let name = std::env::var("USER").unwrap_or_else(|_| format!("uid {uid}"));
            return Ok((User { name, uid, gid: 0 }, false));
        }
        let find = |wanted: &str| {
            passwd.lines().find_map(|line| {
                let f: Vec<&str> = line.split(':').collect();
                if f.len() < 4 || f[0] != wanted {
                    return None;
                }
                let (uid, gid) = (f[2].parse().ok()?, f[3].parse().ok()?);
                Some(User {
                    name: wanted.to_owned(),
                    uid,
                    gid,
                })
            })
        };
        let user = find("postgres").or_else(|| find("nobody"));
        let user = user.context("running as root, and no `postgres` or `nobody` user to start PostgreSQL as (it refuses root)")?;
        Ok((user, true))
    }
}

/// A throwaway PostgreSQL cluster: started on [`Cluster::start`], stopped and removed on drop.
pub struct Cluster {
    postmaster: Child,
    /// Dropped after the server has stopped.
    place: Option<Place>,
    url: String,
    pub user: String,
    /// `initdb --version`'s answer (`initdb (PostgreSQL) 15.18`).
    pub version: String,
    /// What `initdb` took, and the server's start until it accepts connections.
    pub initdb: Duration,
    pub startup: Duration,
}

impl Cluster {
    /// `initdb` and start a cluster from the programs in `bin`; return once it accepts
    /// connections. Must be dropped on the thread that started it (see the module's notes).
    pub fn start(bin: &Path) -> anyhow::Result<Cluster> {
        let place = Place::new(bin)?;
        let version = place.command("initdb", false).arg("--version").output();
        let version = version.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
        let (done, initdb) = timed(|| place.initdb());
        done?;
        let started = Instant::now();
        let (dir, log) = (
            place.folder.path(),
            place.folder.path().join("postgres.log"),
        );
        let postmaster = place
            .command("postgres", true)
            .arg("-D")
            .arg(dir.join("data"))
            .arg("-k")
            .arg(dir)
            .args(SETTINGS.iter().flat_map(|s| ["-c", s]))
            .stdout(Stdio::null())
            .stderr(File::create(&log)?)
            .spawn()
            .with_context(|| format!("starting {}", bin.join("postgres").display()))?;
        let mut cluster = Cluster {
            postmaster,
            url: format!("postgresql://postgres@/postgres?host={}", url_encode(dir)),
            user: place.user.name.clone(),
            version: version.unwrap_or_default(),
            initdb,
            startup: Duration::ZERO,
            place: Some(place),
        };
        cluster.wait_until_ready(&log)?;
        cluster.startup = started.elapsed();
        Ok(cluster)
    }

    /// The cluster's folder (data, socket, logs).
    pub fn folder(&self) -> &Path {
        self.place
            .as_ref()
            .map_or(Path::new(""), |p| p.folder.path())
    }

    /// PostgreSQL writes `ready` on line 8 of `postmaster.pid` once it accepts connections.
    fn wait_until_ready(&mut self, log: &Path) -> anyhow::Result<()> {
        let pid_file = self.folder().join("data/postmaster.pid");
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(&pid_file).unwrap_or_default();
            if text.lines().nth(7).is_some_and(|l| l.trim() == "ready") {
                return Ok(());
            }
            if let Some(status) = self.postmaster.try_wait()? {
                bail!("postgres stopped ({status}): {}", last_line(log));
            }
            if started.elapsed() > START_LIMIT {
                bail!(
                    "postgres did not accept connections within {START_LIMIT:?}: {}",
                    last_line(log)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The cluster's folder, and how its programs start: as this process's user, or (for root)
/// through `setpriv` as the cluster's user. Dropped, it removes the folder and gives the
/// run's temporary folder back its mode.
struct Place {
    folder: tempfile::TempDir,
    /// The run's temporary folder and its mode, when search permission was added to it.
    widened: Option<(PathBuf, u32)>,
    bin: PathBuf,
    setpriv: Option<PathBuf>,
    user: User,
    switch: bool,
}

impl Place {
    fn new(bin: &Path) -> anyhow::Result<Place> {
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let (user, switch) = User::for_cluster(&passwd)?;
        let setpriv = binaries_on_path("setpriv");
        if switch && setpriv.is_none() {
            bail!(
                "running as root: starting PostgreSQL as {} needs setpriv (util-linux)",
                user.name
            );
        }
        let mut place = Place {
            folder: tempfile::Builder::new().prefix("pg-").tempdir()?,
            widened: None,
            bin: bin.to_owned(),
            setpriv,
            user,
            switch,
        };
        if switch {
            let (dir, user) = (place.folder.path(), &place.user);
            std::os::unix::fs::chown(dir, Some(user.uid), Some(user.gid))
                .with_context(|| format!("giving {} to {}", dir.display(), user.name))?;
            place.widened = let_others_reach(dir)?;
        }
        Ok(place)
    }

    /// `program` from `bin`, run in the folder; with `parent_death`, it gets SIGINT when
    /// the thread that started it ends.
    fn command(&self, program: &str, parent_death: bool) -> Command {
        let mut cmd = match &self.setpriv {
            Some(setpriv) => {
                let mut cmd = Command::new(setpriv);
                if self.switch {
                    let (uid, gid) = (self.user.uid.to_string(), self.user.gid.to_string());
                    cmd.args(["--reuid", &uid, "--regid", &gid, "--clear-groups"]);
                }
                if parent_death {
                    cmd.args(["--pdeathsig", "INT"]);
                }
                cmd.arg(self.bin.join(program));
                cmd
            }
            None => Command::new(self.bin.join(program)),
        };
        cmd.current_dir(self.folder.path()).stdin(Stdio::null());
        cmd
    }

    /// A new cluster in `FOLDER/data`: no password on the socket, no fsync.
    fn initdb(&self) -> anyhow::Result<()> {
        let dir = self.folder.path();
        let status = self
            .command("initdb", false)
            .arg("-D")
            .arg(dir.join("data"))
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .stdout(File::create(dir.join("initdb.log"))?)
            .stderr(File::create(dir.join("initdb.err"))?)
            .status()
            .with_context(|| format!("starting {}", self.bin.join("initdb").display()))?;
        if !status.success() {
            let why = last_line(&dir.join("initdb.err"));
            bail!("initdb failed ({status}): {why}");
        }
        Ok(())
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if let Some((dir, mode)) = self.widened.take() {
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode));
        }
    }
}

/// The server's settings: a throwaway cluster on a Unix socket only, tuned to start fast
/// (its data is never worth an fsync) and to leave nothing outside its folder
/// (`dynamic_shared_memory_type=mmap`: files in the data folder, not `/dev/shm`).
const SETTINGS: &[&str] = &[
    "listen_addresses=",
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "shared_buffers=32MB",
    "max_connections=50",
    "dynamic_shared_memory_type=mmap",
];

impl Drop for Cluster {
    fn drop(&mut self) {
        // SIGINT is PostgreSQL's fast shutdown: clients are disconnected, then it exits.
        if common::procs::signal(self.postmaster.id(), "INT") {
            let started = Instant::now();
            while started.elapsed() < STOP_LIMIT && matches!(self.postmaster.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.postmaster.kill();
        let _ = self.postmaster.wait();
        drop(self.place.take()); // the folder, now that nothing writes in it
    }
}

/// Give others search permission on the run's temporary folder when it lacks it (the
/// supervisor's private folder is 0700), so the cluster's user can reach `dir` inside it.
/// Any other folder on the way that others cannot search is an error.
fn let_others_reach(dir: &Path) -> anyhow::Result<Option<(PathBuf, u32)>> {
    let tmp = std::env::temp_dir();
    let mut widened = None;
    for folder in dir.ancestors().skip(1) {
        let mode = folder.metadata()?.permissions().mode();
        if mode & 0o001 != 0 {
            continue;
        }
        if folder != tmp || widened.is_some() {
            bail!(
                "{} is not searchable by others: PostgreSQL's user cannot reach its folder (set TMPDIR to a folder it can reach)",
                folder.display()
            );
        }
        std::fs::set_permissions(folder, std::fs::Permissions::from_mode(mode | 0o001))?;
        widened = Some((folder.to_owned(), mode & 0o7777));
    }
    Ok(widened)
}

/// `name` on `PATH`.
fn binaries_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| executable(p))
}

/// The last non-empty line of a log file.
fn last_line(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let last = text.lines().rev().find(|l| !l.trim().is_empty());
    last.unwrap_or("no message").trim().to_owned()
}

/// A path as a URL query value: unreserved characters and `/` as they are, the rest
/// percent-encoded.
fn url_encode(path: &Path) -> String {
    let mut out = String::new();
    for b in path.as_os_str().as_encoded_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(char::from(*b));
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binaries_come_from_path_then_the_newest_debian_version() {
        let root = tempfile::tempdir().unwrap();
        let make = |dir: &Path| {
            std::fs::create_dir_all(dir).unwrap();
            for b in ["initdb", "postgres"] {
                std::fs::write(dir.join(b), "#!/bin/sh\n").unwrap();
                std::fs::set_permissions(dir.join(b), std::fs::Permissions::from_mode(0o755))
                    .unwrap();
            }
        };
        let debian = root.path().join("lib");
        let nothing = root.path().join("empty");
        assert_eq!(
            binaries(Some(nothing.as_os_str()), &debian),
            None,
            "not found"
        );
        make(&debian.join("9.6/bin"));
        make(&debian.join("15/bin"));
        make(&debian.join("13/bin"));
        assert_eq!(
            binaries(Some(nothing.as_os_str()), &debian),
            Some(debian.join("15/bin"))
        );
        let on_path = root.path().join("bin");
        make(&on_path);
        let path = std::env::join_paths([&nothing, &on_path]).unwrap();
        assert_eq!(binaries(Some(&path), &debian), Some(on_path));
    }

    #[test]
    fn root_runs_it_as_postgres_else_nobody() {
        let passwd = "root:x:0:0::/root:/bin/bash\nnobody:x:65534:65534::/:/usr/sbin/nologin\npostgres:x:101:104::/var/lib/postgresql:/bin/bash\n";
        let Ok((user, switch)) = User::for_cluster(passwd) else {
            panic!("a user is found");
        };
        if switch {
            assert_eq!(
                (user.name.as_str(), user.uid, user.gid),
                ("postgres", 101, 104)
            );
            let without = passwd.replace("postgres:", "pg:");
            let (user, _) = User::for_cluster(&without).unwrap();
            assert_eq!((user.name.as_str(), user.uid), ("nobody", 65534));
            assert!(User::for_cluster("root:x:0:0::/root:/bin/sh\n").is_err());
        }
    }

    #[test]
    fn urls_keep_the_password_out_and_paths_encoded() {
        assert_eq!(
            redact("postgres://me:secret@db/app"),
            "postgres://me:***@db/app"
        );
        assert_eq!(redact("postgres://me@db/app"), "postgres://me@db/app");
        assert_eq!(url_encode(Path::new("/tmp/a b/pg-x")), "/tmp/a%20b/pg-x");
    }
}
