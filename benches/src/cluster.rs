//! Throwaway PostgreSQL clusters for benchmarks and multi-process tests.
//!
//! A [`Cluster`] is a data directory under `target/clusters/<name>` (or any directory you
//! choose), initialised with `initdb`, configured through `postgresql.conf` lines, listening
//! only on a Unix socket next to it, and run as the `postgres` user (PostgreSQL refuses to run as
//! root; when we are root, commands go through `runuser -u postgres --`).
//!
//! It is deliberately small and synchronous so the standby, crash-recovery and soak tests can
//! reuse it: [`Cluster::init`], [`Cluster::start`], [`Cluster::stop`], [`Cluster::kill9`],
//! [`Cluster::connect`]. Dropping a running cluster stops it (fast mode).
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Where PostgreSQL's programs live (`pg_config --bindir`, /usr/lib/postgresql/15/bin on Debian).
pub fn pg_bindir() -> PathBuf {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
        // Debian's /usr/bin/pg_config reports /usr/lib/postgresql/NN/bin.
        if out.status.success() && Path::new(&dir).join("initdb").exists() {
            return PathBuf::from(dir);
        }
    }
    PathBuf::from("/usr/lib/postgresql/15/bin")
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Runs `program args` as the postgres user (directly if we are not root).
pub fn run_as_postgres(program: &Path, args: &[&str]) -> io::Result<Output> {
    let out = if is_root() {
        Command::new("runuser")
            .arg("-u")
            .arg("postgres")
            .arg("--")
            .arg(program)
            .args(args)
            .output()?
    } else {
        Command::new(program).args(args).output()?
    };
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{} {} failed: {}{}",
            program.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(out)
}

fn chown_postgres(path: &Path) -> io::Result<()> {
    if is_root() {
        let status = Command::new("chown").arg("postgres:").arg(path).status()?;
        if !status.success() {
            return Err(io::Error::other(format!(
                "chown postgres {} failed",
                path.display()
            )));
        }
    }
    Ok(())
}

/// The directory for a throwaway cluster called `name`: `target/clusters/<name>` in the
/// workspace when the postgres user can write there (every parent directory must be searchable
/// by others), otherwise `/tmp/vecx-clusters/<name>`.
pub fn default_dir(name: &str) -> PathBuf {
    let preferred = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/clusters");
    let _ = fs::create_dir_all(&preferred);
    let _ = chown_postgres(&preferred);
    let reachable = !is_root()
        || Command::new("runuser")
            .args(["-u", "postgres", "--", "test", "-w"])
            .arg(&preferred)
            .status()
            .is_ok_and(|s| s.success());
    if reachable {
        return preferred.join(name);
    }
    let fallback = PathBuf::from("/tmp/vecx-clusters");
    eprintln!(
        "note: the postgres user cannot reach {}; using {}",
        preferred.display(),
        fallback.display()
    );
    let _ = fs::create_dir_all(&fallback);
    let _ = chown_postgres(&fallback);
    fallback.join(name)
}

/// A throwaway cluster.
pub struct Cluster {
    pub data_dir: PathBuf,
    pub socket_dir: PathBuf,
    pub port: u16,
    bindir: PathBuf,
    running: bool,
}

impl Cluster {
    /// Creates a fresh cluster in `dir` (anything there is removed) listening on `port`, with
    /// extra `postgresql.conf` lines. Does not start it.
    pub fn init(dir: &Path, port: u16, settings: &[String]) -> io::Result<Cluster> {
        Cluster::init_with(dir, port, settings, &[])
    }

    /// As [`Cluster::init`], with extra `initdb` arguments (e.g. `--data-checksums`).
    pub fn init_with(
        dir: &Path,
        port: u16,
        settings: &[String],
        initdb_args: &[&str],
    ) -> io::Result<Cluster> {
        let bindir = pg_bindir();
        let socket_dir = dir.with_extension("sock");
        let mut cluster = Cluster {
            data_dir: dir.to_path_buf(),
            socket_dir: socket_dir.clone(),
            port,
            bindir,
            running: false,
        };
        cluster.stop_if_running_from_before();
        let _ = fs::remove_dir_all(dir);
        let _ = fs::remove_dir_all(&socket_dir);
        fs::create_dir_all(dir)?;
        fs::create_dir_all(&socket_dir)?;
        if let Some(parent) = dir.parent() {
            chown_postgres(parent)?;
        }
        chown_postgres(dir)?;
        chown_postgres(&socket_dir)?;
        let data = dir.to_string_lossy().to_string();
        let mut args = vec![
            "-D",
            &data,
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ];
        args.extend_from_slice(initdb_args);
        run_as_postgres(&cluster.bindir.join("initdb"), &args)?;
        let mut conf = fs::OpenOptions::new()
            .append(true)
            .open(dir.join("postgresql.conf"))?;
        writeln!(conf, "port = {port}")?;
        writeln!(conf, "listen_addresses = ''")?;
        writeln!(conf, "unix_socket_directories = '{}'", socket_dir.display())?;
        for line in settings {
            writeln!(conf, "{line}")?;
        }
        Ok(cluster)
    }

    /// Adopts an existing data directory (for example a base backup) without touching it.
    pub fn open(dir: &Path, port: u16) -> Cluster {
        Cluster {
            data_dir: dir.to_path_buf(),
            socket_dir: dir.with_extension("sock"),
            port,
            bindir: pg_bindir(),
            running: false,
        }
    }

    fn stop_if_running_from_before(&mut self) {
        if self.data_dir.join("postmaster.pid").exists() {
            self.running = true;
            let _ = self.stop();
        }
    }

    fn pg_ctl(&self, args: &[&str]) -> io::Result<Output> {
        let data = self.data_dir.to_string_lossy().to_string();
        let log = self
            .data_dir
            .join("server.log")
            .to_string_lossy()
            .to_string();
        let mut all = vec!["-D", &data, "-l", &log];
        all.extend_from_slice(args);
        run_as_postgres(&self.bindir.join("pg_ctl"), &all)
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(&mut self) -> io::Result<()> {
        self.pg_ctl(&["-w", "-t", "120", "start"])?;
        self.running = true;
        Ok(())
    }

    /// Stops the server (fast shutdown: active transactions are rolled back).
    pub fn stop(&mut self) -> io::Result<()> {
        if self.running {
            self.pg_ctl(&["-m", "fast", "-w", "stop"])?;
            self.running = false;
        }
        Ok(())
    }

    /// Kills the postmaster with SIGKILL, as a crash would (children exit when they notice).
    pub fn kill9(&mut self) -> io::Result<()> {
        let pid_file = fs::read_to_string(self.data_dir.join("postmaster.pid"))?;
        let pid: i32 = pid_file
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .parse()
            .map_err(io::Error::other)?;
        // SAFETY: kill(2) with a pid read from postmaster.pid; no memory is involved.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let deadline = Instant::now() + Duration::from_secs(30);
        // SAFETY: signal 0 only checks whether the process exists.
        while unsafe { libc::kill(pid, 0) } == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.running = false;
        Ok(())
    }

    /// A libpq connection string for database `db`.
    pub fn conn_string(&self, db: &str) -> String {
        format!(
            "host={} port={} user=postgres dbname={db}",
            self.socket_dir.display(),
            self.port
        )
    }

    pub fn connect(&self, db: &str) -> Result<postgres::Client, postgres::Error> {
        postgres::Client::connect(&self.conn_string(db), postgres::NoTls)
    }

    /// A streaming standby of this (running) cluster: `pg_basebackup -R` into `dir`, configured
    /// to listen on `port`. Not started.
    pub fn base_backup(&self, dir: &Path, port: u16) -> io::Result<Cluster> {
        self.backup(dir, port, true)
    }

    /// A plain copy of this (running) cluster: `pg_basebackup -X stream` into `dir` without
    /// `-R` (no standby.signal, no primary_conninfo), configured to listen on `port`. Not
    /// started; add a `restore_command` and `recovery.signal` to replay archived WAL.
    pub fn plain_backup(&self, dir: &Path, port: u16) -> io::Result<Cluster> {
        self.backup(dir, port, false)
    }

    fn backup(&self, dir: &Path, port: u16, standby: bool) -> io::Result<Cluster> {
        let _ = fs::remove_dir_all(dir);
        let socket_dir = dir.with_extension("sock");
        let _ = fs::remove_dir_all(&socket_dir);
        fs::create_dir_all(&socket_dir)?;
        chown_postgres(&socket_dir)?;
        if let Some(parent) = dir.parent() {
            fs::create_dir_all(parent)?;
            chown_postgres(parent)?;
        }
        let dest = dir.to_string_lossy().to_string();
        let host = self.socket_dir.to_string_lossy().to_string();
        let p = self.port.to_string();
        let mut args = vec![
            "-h",
            &host,
            "-p",
            &p,
            "-U",
            "postgres",
            "-D",
            &dest,
            "-X",
            "stream",
            "--checkpoint=fast",
        ];
        if standby {
            args.push("-R");
        }
        run_as_postgres(&self.bindir.join("pg_basebackup"), &args)?;
        let mut conf = fs::OpenOptions::new()
            .append(true)
            .open(dir.join("postgresql.conf"))?;
        writeln!(conf, "port = {port}")?;
        writeln!(conf, "unix_socket_directories = '{}'", socket_dir.display())?;
        Ok(Cluster {
            data_dir: dir.to_path_buf(),
            socket_dir,
            port,
            bindir: self.bindir.clone(),
            running: false,
        })
    }

    /// Promotes a standby to a primary and waits until it accepts writes.
    pub fn promote(&mut self) -> io::Result<()> {
        self.pg_ctl(&["-w", "promote"])?;
        Ok(())
    }

    /// The server log so far (for "terminated by signal" checks and error reports).
    pub fn server_log(&self) -> String {
        fs::read_to_string(self.data_dir.join("server.log")).unwrap_or_default()
    }

    /// Kills the postmaster and all its child processes with SIGKILL at the same moment, as a
    /// power cut or an OOM kill of the whole server would. [`Cluster::kill9`] kills only the
    /// postmaster: a backend busy in a long `CREATE INDEX` or `VACUUM` does not notice until it
    /// next waits, finishes (and may commit) its work, and holds the old shared memory so a
    /// restart fails meanwhile. Here the postmaster is stopped (SIGSTOP, so it forks nothing
    /// and reaps nothing), its children are listed, and all of them are killed.
    pub fn kill9_all(&mut self) -> io::Result<()> {
        let pid_file = fs::read_to_string(self.data_dir.join("postmaster.pid"))?;
        let pid: i32 = pid_file
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .parse()
            .map_err(io::Error::other)?;
        // SAFETY: kill(2) with a pid read from postmaster.pid; no memory is involved.
        unsafe { libc::kill(pid, libc::SIGSTOP) };
        let mut victims = child_pids(pid);
        // SAFETY: as above, for the postmaster and the pids of its children.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        for &child in &victims {
            // SAFETY: as above.
            unsafe { libc::kill(child, libc::SIGKILL) };
        }
        victims.push(pid);
        let deadline = Instant::now() + Duration::from_secs(30);
        while victims.iter().any(|&p| process_alive(p)) {
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "processes of the killed server still alive: {victims:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Until its zombie is reaped (by init, after the reparenting), the old postmaster's pid
        // still answers kill(pid, 0) and a new postmaster refuses to start ("lock file
        // postmaster.pid already exists"): wait for that too, as long as it takes init.
        // SAFETY: signal 0 only checks whether the process exists.
        while unsafe { libc::kill(pid, 0) } == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.running = false;
        Ok(())
    }
}

/// The pids whose parent is `parent` (from /proc/*/stat).
fn child_pids(parent: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if proc_stat(pid).is_some_and(|(_, ppid)| ppid == parent) {
            out.push(pid);
        }
    }
    out
}

/// State and parent pid of `pid` from /proc/<pid>/stat ("pid (comm) state ppid ...").
fn proc_stat(pid: i32) -> Option<(char, i32)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Whether `pid` exists and is not a zombie (an orphan's zombie lingers if nobody reaps it).
fn process_alive(pid: i32) -> bool {
    proc_stat(pid).is_some_and(|(state, _)| state != 'Z' && state != 'X')
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
