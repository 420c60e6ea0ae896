//! Online backup of the store file while the gateway runs (`gemini-gateway backup --into FILE`):
//! SQLite's backup API copies a consistent snapshot page by page, so writers are held up only for
//! a moment per step, and the copy is checked before it is reported done.

use rusqlite::backup::Backup;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::Duration;

/// Copy the database at `from` to `into` (replacing it), then check the copy's integrity.
/// Returns the number of pages copied.
pub fn backup(from: &Path, into: &Path) -> Result<i32, String> {
    if !from.is_file() {
        return Err(format!("no database at {}", from.display()));
    }
    if same_file(from, into) {
        return Err("the backup must be another file than the database".into());
    }
    let src = Connection::open_with_flags(
        from,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("cannot open {}: {e}", from.display()))?;
    src.busy_timeout(Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    let tmp = into.with_extension("partial");
    let _ = std::fs::remove_file(&tmp);
    let mut dst =
        Connection::open(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    let pages = {
        let b = Backup::new(&src, &mut dst).map_err(|e| format!("backup: {e}"))?;
        b.run_to_completion(256, Duration::from_millis(5), None)
            .map_err(|e| format!("backup: {e}"))?;
        b.progress().pagecount
    };
    let check: String = dst
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| format!("checking the copy: {e}"))?;
    if check != "ok" {
        return Err(format!("the copy failed its integrity check: {check}"));
    }
    drop(dst);
    std::fs::rename(&tmp, into).map_err(|e| format!("cannot write {}: {e}", into.display()))?;
    Ok(pages)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ContextStore, Store};

    #[test]
    fn a_running_store_is_copied_whole_and_checked() {
        let d = tempfile::tempdir().unwrap();
        let db = d.path().join("gw.db");
        let store = Store::open(Some(&db)).unwrap();
        store.set_setting("backup-test", "kept").unwrap();
        // the store stays open (and in WAL mode) while it is copied
        let into = d.path().join("copy.db");
        let pages = backup(&db, &into).unwrap();
        assert!(pages > 0);
        let copy = Store::open(Some(&into)).unwrap();
        assert_eq!(
            copy.setting("backup-test").unwrap().as_deref(),
            Some("kept")
        );
        assert!(backup(&db, &db).unwrap_err().contains("another file"));
        assert!(backup(&d.path().join("none.db"), &into)
            .unwrap_err()
            .contains("no database"));
        drop(store);
    }
}
