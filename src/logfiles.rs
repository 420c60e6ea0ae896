//! Log files: the application log, the error log (WARN and above) and the access log in
//! `log.dir`, each rotated by size and time (the `rolling-file` crate's appender under our own
//! rotation condition), keeping `max_backups` files and deleting those older than
//! `retention_days`; written through non-blocking lossy writers so a request never waits for a
//! disk, with the lines dropped under a flood counted.

use crate::config::log::{LogConfig, Rotation};
use chrono::{DateTime, Local, Timelike};
use rolling_file::{RollingCondition, RollingFileAppender};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};
use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};

/// The three logs: file name and what goes in it.
pub const APP_LOG: &str = "gemini-gateway.log";
pub const ERROR_LOG: &str = "error.log";
pub const ACCESS_LOG: &str = "access.log";

/// Lines a log's queue holds before new lines are dropped (and counted).
const QUEUE_LINES: usize = 65_536;

/// Rotate on size and on the configured time boundary.
#[derive(Debug, Clone)]
pub struct Rotate {
    rotation: Rotation,
    max_bytes: u64,
    /// The time of the last write (midnight/hourly) or of the file's start (daily).
    mark: Option<DateTime<Local>>,
    /// Set when the last check rotated (the writer then sweeps old files).
    rotated: bool,
}

impl Rotate {
    pub fn new(rotation: Rotation, max_bytes: u64) -> Rotate {
        Rotate {
            rotation,
            max_bytes,
            mark: None,
            rotated: false,
        }
    }
}

impl RollingCondition for Rotate {
    fn should_rollover(&mut self, now: &DateTime<Local>, size: u64) -> bool {
        let by_time = match (self.mark, self.rotation) {
            (None, _) | (_, Rotation::Never) => false,
            (Some(m), Rotation::Midnight) => now.date_naive() != m.date_naive(),
            (Some(m), Rotation::Hourly) => {
                (now.date_naive(), now.hour()) != (m.date_naive(), m.hour())
            }
            (Some(m), Rotation::Daily) => *now - m >= chrono::Duration::hours(24),
        };
        let by_size = self.max_bytes > 0 && size >= self.max_bytes;
        let roll = size > 0 && (by_time || by_size);
        if roll || self.mark.is_none() || self.rotation != Rotation::Daily {
            self.mark = Some(*now);
        }
        self.rotated = roll;
        roll
    }
}

/// One rotating log file, judged by the local time of each write ([`LogFile::write_at`] takes
/// another time: tests drive rotation with it).
pub struct LogFile {
    inner: RollingFileAppender<Rotate>,
    dir: PathBuf,
    name: &'static str,
    retention: Option<Duration>,
}

impl LogFile {
    pub fn open(dir: &Path, name: &'static str, cfg: &LogConfig) -> io::Result<LogFile> {
        let inner = RollingFileAppender::new(
            dir.join(name),
            Rotate::new(cfg.rotation, cfg.max_bytes),
            cfg.max_backups,
        )?;
        let f = LogFile {
            inner,
            dir: dir.to_path_buf(),
            name,
            retention: (cfg.retention_days > 0)
                .then(|| Duration::from_secs(cfg.retention_days * 86_400)),
        };
        f.sweep(SystemTime::now());
        Ok(f)
    }

    /// Delete this log's rotated files (`name.N`) last written before the retention period.
    pub fn sweep(&self, now: SystemTime) {
        let Some(keep) = self.retention else { return };
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let prefix = format!("{}.", self.name);
        for e in entries.flatten() {
            let file_name = e.file_name();
            let Some(n) = file_name.to_str() else {
                continue;
            };
            let rotated = n
                .strip_prefix(&prefix)
                .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()));
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age > keep));
            if rotated && old {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    /// Write as if at `now` (tests drive rotation with this).
    pub fn write_at(&mut self, buf: &[u8], now: &DateTime<Local>) -> io::Result<usize> {
        let n = self.inner.write_with_datetime(buf, now)?;
        if self.inner.condition_ref().rotated {
            self.inner.condition_mut().rotated = false;
            self.sweep(SystemTime::from(*now));
        }
        Ok(n)
    }
}

impl Write for LogFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_at(buf, &Local::now())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The non-blocking writers of the three logs, and where they write.
pub struct Files {
    pub dir: PathBuf,
    pub app: NonBlocking,
    pub error: NonBlocking,
    pub access: NonBlocking,
}

/// Worker guards (dropping one flushes its log) and drop counters of the open logs.
struct Open {
    guards: Vec<WorkerGuard>,
    counters: Vec<ErrorCounter>,
}

static OPEN: OnceLock<Mutex<Open>> = OnceLock::new();

/// A writer that never blocks its caller: lines queue for a writer thread; when the queue is full
/// they are dropped and counted ([`ErrorCounter`]).
pub fn non_blocking<W: Write + Send + 'static>(w: W) -> (NonBlocking, WorkerGuard) {
    NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUE_LINES)
        .thread_name("gg-log")
        .finish(w)
}

/// A usable log directory: `dir` if it can be created and written, else a temp directory (the old
/// system's behaviour); the second value says why the first was not used.
pub fn usable_dir(dir: &Path) -> (PathBuf, Option<String>) {
    let probe = |d: &Path| -> io::Result<()> {
        std::fs::create_dir_all(d)?;
        let p = d.join(".write-test");
        std::fs::write(&p, b"")?;
        std::fs::remove_file(&p)
    };
    match probe(dir) {
        Ok(()) => (dir.to_path_buf(), None),
        Err(e) => {
            let tmp = std::env::temp_dir().join("gemini-gateway-logs");
            let why = format!("log.dir {} is not writable ({e})", dir.display());
            match probe(&tmp) {
                Ok(()) => (tmp, Some(why)),
                Err(e2) => (
                    dir.to_path_buf(),
                    Some(format!("{why}; nor is {} ({e2})", tmp.display())),
                ),
            }
        }
    }
}

/// Open the three logs of `cfg` (None without `log.dir`). The second value is a warning to log
/// once logging is up (a fallback directory, or files that could not be opened).
pub fn open(cfg: &LogConfig) -> (Option<Files>, Option<String>) {
    let Some(want) = &cfg.dir else {
        return (None, None);
    };
    let (dir, warning) = usable_dir(want);
    let mut guards = Vec::new();
    let mut counters = Vec::new();
    let mut writer = |name: &'static str| -> io::Result<NonBlocking> {
        let (nb, guard) = non_blocking(LogFile::open(&dir, name, cfg)?);
        counters.push(nb.error_counter());
        guards.push(guard);
        Ok(nb)
    };
    let files = (|| -> io::Result<Files> {
        Ok(Files {
            app: writer(APP_LOG)?,
            error: writer(ERROR_LOG)?,
            access: writer(ACCESS_LOG)?,
            dir: dir.clone(),
        })
    })();
    match files {
        Ok(f) => {
            let open = OPEN.get_or_init(|| {
                Mutex::new(Open {
                    guards: Vec::new(),
                    counters: Vec::new(),
                })
            });
            if let Ok(mut o) = open.lock() {
                o.guards.extend(guards);
                o.counters.extend(counters);
            }
            let warning = warning.map(|w| format!("{w}; writing logs to {}", dir.display()));
            (Some(f), warning)
        }
        Err(e) => (
            None,
            Some(format!(
                "log files in {} cannot be opened ({e}): logging to stdout only",
                dir.display()
            )),
        ),
    }
}

/// Lines dropped by the log files' writers because their queues were full.
pub fn dropped_lines() -> u64 {
    OPEN.get()
        .and_then(|o| {
            o.lock()
                .ok()
                .map(|o| o.counters.iter().map(|c| c.dropped_lines() as u64).sum())
        })
        .unwrap_or(0)
}

/// Write out everything queued and close the logs (at exit: the process ends without unwinding).
pub fn flush() {
    if let Some(o) = OPEN.get() {
        let guards = o
            .lock()
            .map(|mut o| std::mem::take(&mut o.guards))
            .unwrap_or_default();
        drop(guards);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn cfg(rotation: Rotation, max_bytes: u64, backups: usize, days: u64) -> LogConfig {
        LogConfig {
            max_bytes,
            rotation,
            max_backups: backups,
            retention_days: days,
            ..LogConfig::default()
        }
    }

    fn at(d: u32, h: u32, m: u32) -> DateTime<Local> {
        Local
            .with_ymd_and_hms(2026, 12, d, h, m, 0)
            .single()
            .unwrap()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn read(dir: &Path, name: &str) -> String {
        std::fs::read_to_string(dir.join(name)).unwrap_or_default()
    }

    #[test]
    fn size_rotation_keeps_max_backups_files() {
        let d = tempfile::tempdir().unwrap();
        let mut f = LogFile::open(d.path(), APP_LOG, &cfg(Rotation::Never, 100, 3, 0)).unwrap();
        for i in 0..20 {
            f.write_at(
                format!("line {i:02} {}\n", "x".repeat(40)).as_bytes(),
                &at(5, 12, 0),
            )
            .unwrap();
        }
        f.flush().unwrap();
        assert_eq!(
            names(d.path()),
            [
                "gemini-gateway.log",
                "gemini-gateway.log.1",
                "gemini-gateway.log.2",
                "gemini-gateway.log.3"
            ]
        );
        // 49-byte lines: a file is rotated once it has reached 100 bytes (3 lines), newest first
        assert!(
            read(d.path(), APP_LOG).contains("line 18")
                && read(d.path(), APP_LOG).contains("line 19")
        );
        assert!(read(d.path(), "gemini-gateway.log.1").contains("line 15"));
        assert!(read(d.path(), "gemini-gateway.log.3").contains("line 09"));
        assert!(read(d.path(), "gemini-gateway.log.3").contains("line 11"));
        for f in names(d.path()) {
            assert!(
                !read(d.path(), &f).contains("line 08"),
                "older files deleted"
            );
        }
    }

    #[test]
    fn time_rotation_at_midnight_hourly_daily_and_never() {
        type Writes = &'static [(u32, u32, u32)];
        let cases: [(Rotation, Writes, usize); 4] = [
            // (day, hour, minute) of each write, and the rotations expected
            (
                Rotation::Midnight,
                &[(5, 23, 58), (5, 23, 59), (6, 0, 1), (6, 13, 0), (7, 0, 0)],
                2,
            ),
            (
                Rotation::Hourly,
                &[
                    (5, 10, 1),
                    (5, 10, 59),
                    (5, 11, 0),
                    (5, 13, 30),
                    (5, 13, 31),
                ],
                2,
            ),
            (
                Rotation::Daily,
                &[(5, 10, 0), (6, 0, 0), (6, 9, 59), (6, 10, 0), (7, 9, 0)],
                1,
            ),
            (Rotation::Never, &[(5, 10, 0), (6, 0, 0), (9, 9, 59)], 0),
        ];
        for (rotation, writes, rotations) in cases {
            let d = tempfile::tempdir().unwrap();
            let mut f = LogFile::open(d.path(), ACCESS_LOG, &cfg(rotation, 0, 5, 0)).unwrap();
            for (i, (day, h, m)) in writes.iter().enumerate() {
                f.write_at(format!("w{i}\n").as_bytes(), &at(*day, *h, *m))
                    .unwrap();
            }
            f.flush().unwrap();
            assert_eq!(
                names(d.path()).len(),
                rotations + 1,
                "{rotation:?}: {:?}",
                names(d.path())
            );
            let last = writes.len() - 1;
            assert!(
                read(d.path(), ACCESS_LOG).contains(&format!("w{last}")),
                "{rotation:?}"
            );
        }
    }

    #[test]
    fn rotated_files_older_than_the_retention_are_deleted() {
        let d = tempfile::tempdir().unwrap();
        let now = SystemTime::from(at(20, 12, 0));
        for (name, age_days) in [
            ("error.log.4", 40u64),
            ("error.log.5", 31),
            ("error.log.2", 2),
            ("other.log.1", 90),
            ("error.log.bak", 90),
        ] {
            let p = d.path().join(name);
            std::fs::write(&p, b"old\n").unwrap();
            let f = std::fs::File::options().write(true).open(&p).unwrap();
            f.set_modified(now - Duration::from_secs(age_days * 86_400))
                .unwrap();
        }
        let mut f = LogFile::open(d.path(), ERROR_LOG, &cfg(Rotation::Midnight, 0, 9, 30)).unwrap();
        f.write_at(b"a\n", &at(20, 11, 0)).unwrap();
        f.write_at(b"b\n", &at(21, 0, 5)).unwrap(); // midnight: rotate, then sweep
        f.flush().unwrap();
        let n = names(d.path());
        assert!(
            !n.iter().any(|x| x == "error.log.5" || x == "error.log.6"),
            "older than 30 days: {n:?}"
        );
        assert!(
            n.contains(&"error.log.3".to_string()),
            "the 2-day-old file, moved up one: {n:?}"
        );
        assert!(
            n.contains(&"other.log.1".to_string()) && n.contains(&"error.log.bak".to_string()),
            "not this log's rotations: {n:?}"
        );
    }

    /// A disk that never finishes a write.
    struct Stuck;
    impl Write for Stuck {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            std::thread::sleep(Duration::from_secs(3600));
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stuck_disk_never_blocks_the_writer_and_drops_are_counted() {
        let (mut w, guard) = non_blocking(Stuck);
        let start = std::time::Instant::now();
        for i in 0..(QUEUE_LINES + 5_000) {
            w.write_all(format!("line {i}\n").as_bytes()).unwrap();
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "writes waited: {:?}",
            start.elapsed()
        );
        assert!(
            w.error_counter().dropped_lines() >= 4_000,
            "{}",
            w.error_counter().dropped_lines()
        );
        std::mem::forget(guard); // its thread is stuck in Stuck::write
    }

    #[test]
    fn an_unwritable_directory_falls_back_to_a_temp_directory() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("a-file");
        std::fs::write(&file, b"").unwrap();
        let (dir, why) = usable_dir(&file.join("logs"));
        assert_eq!(dir, std::env::temp_dir().join("gemini-gateway-logs"));
        assert!(why.unwrap().contains("is not writable"));
        let (dir, why) = usable_dir(&d.path().join("logs"));
        assert_eq!((dir, why), (d.path().join("logs"), None));
    }
}
