//! Every credential the gateway accepts, in one in-memory table the request path reads (no store
//! read per request): the configured admin key and passwords, and the proxy keys loaded from the
//! store at startup. Creating, changing or deleting a proxy key writes the store first, then the
//! table, so the next request sees it.

use super::identity::{Identity, Kind, Settings, Usage};
use super::token::{self, ModelRules};
use super::Role;
use crate::config::AuthConfig;
use crate::secret::{digest, fingerprint};
use crate::store::{CredentialStore, ProxyKeyRow, StoreError};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Duration;

/// A credential's SHA-256, compared in constant time. Together with hashing (SipHash, whose time
/// does not depend on the bytes) this makes a lookup's time independent of how much of a stored
/// credential a presented value matches; and the digest is not attacker-chosen in any useful way.
#[derive(Clone, Copy)]
struct Digest([u8; 32]);

impl std::hash::Hash for Digest {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl PartialEq for Digest {
    fn eq(&self, other: &Digest) -> bool {
        crate::secret::digest_eq(&self.0, &other.0)
    }
}

impl Eq for Digest {}

#[derive(Default)]
struct Table {
    /// SHA-256 of the credential → the credential.
    by_hash: HashMap<Digest, Arc<Identity>>,
    /// Proxy key id → its hash.
    by_id: HashMap<Arc<str>, Digest>,
    /// A configured credential's id (its fingerprint) → its hash.
    configured: HashMap<Arc<str>, Digest>,
}

/// Why a proxy key could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("the OS random generator failed: {0}")]
    Random(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The credential table.
pub struct Credentials {
    table: RwLock<Table>,
    store: Arc<dyn CredentialStore>,
    /// Whether proxy keys outlive a restart (the store is a file).
    persistent: bool,
}

fn role_text(r: Role) -> &'static str {
    match r {
        Role::Admin => "admin",
        Role::User => "user",
    }
}

/// The identity a stored row describes. A row whose model list no longer parses allows nothing
/// rather than everything.
fn from_row(row: ProxyKeyRow) -> Identity {
    let models = row.models.map(|m| {
        ModelRules::new(m.clone()).unwrap_or_else(|_| {
            tracing::warn!(id = %row.id, "a stored model allow-list is invalid; the key may use no model");
            ModelRules::none()
        })
    });
    Identity {
        id: row.id.into(),
        kind: Kind::ProxyKey,
        prefix: Some(row.prefix),
        created_at: Some(row.created_at),
        settings: Settings {
            name: row.name,
            role: if row.role == "admin" {
                Role::Admin
            } else {
                Role::User
            },
            expires_at: row.expires_at,
            enabled: row.enabled,
            enable_context_completion: row.enable_context_completion,
            models,
            rpm: row.rpm,
            rpd: row.rpd,
        },
        usage: Arc::new(Usage::from_row(row.usage)),
    }
}

/// The stored row of a proxy key.
pub fn to_row(i: &Identity, hash: [u8; 32], now: DateTime<Utc>) -> ProxyKeyRow {
    let s = &i.settings;
    ProxyKeyRow {
        id: i.id.to_string(),
        hash,
        prefix: i.prefix.clone().unwrap_or_default(),
        name: s.name.clone(),
        role: role_text(s.role).into(),
        created_at: i.created_at.unwrap_or(now),
        expires_at: s.expires_at,
        enabled: s.enabled,
        enable_context_completion: s.enable_context_completion,
        models: s.models.as_ref().map(|m| m.entries().to_vec()),
        rpm: s.rpm,
        rpd: s.rpd,
        usage: i.usage.snapshot(now),
    }
}

fn configured(value: &str, kind: Kind, role: Role, name: &str) -> Identity {
    Identity {
        id: fingerprint(value).into(),
        kind,
        prefix: None,
        created_at: None,
        settings: Settings::new(name, role),
        usage: Arc::default(),
    }
}

impl Credentials {
    /// The configured credentials and every proxy key in the store.
    pub fn load(
        auth: &AuthConfig,
        store: Arc<dyn CredentialStore>,
        persistent: bool,
    ) -> Result<Credentials, StoreError> {
        let mut t = Table::default();
        for p in &auth.passwords {
            let id = configured(p.expose(), Kind::Password, Role::User, "password");
            t.configured.insert(id.id.clone(), Digest(p.digest()));
            t.by_hash
                .entry(Digest(p.digest()))
                .or_insert_with(|| Arc::new(id));
        }
        if let Some(k) = &auth.admin_api_key {
            // Admin wins when the same value is also a password.
            let id = configured(k.expose(), Kind::AdminKey, Role::Admin, "admin");
            t.configured.insert(id.id.clone(), Digest(k.digest()));
            t.by_hash.insert(Digest(k.digest()), Arc::new(id));
        }
        for row in store.proxy_keys()? {
            let hash = Digest(row.hash);
            let id = from_row(row);
            if t.by_hash.contains_key(&hash) {
                continue; // a configured credential with the same value wins
            }
            t.by_id.insert(id.id.clone(), hash);
            t.by_hash.insert(hash, Arc::new(id));
        }
        Ok(Credentials {
            table: RwLock::new(t),
            store,
            persistent,
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Table> {
        self.table.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Table> {
        self.table.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The credential a presented value is, if any.
    pub fn check(&self, presented: &str) -> Option<Arc<Identity>> {
        let d = Digest(digest(presented.as_bytes()));
        self.read().by_hash.get(&d).cloned()
    }

    /// Whether proxy keys outlive a restart.
    pub fn persistent(&self) -> bool {
        self.persistent
    }

    /// Number of proxy keys.
    pub fn proxy_key_count(&self) -> usize {
        self.read().by_id.len()
    }

    /// A proxy key by id.
    pub fn get(&self, id: &str) -> Option<Arc<Identity>> {
        let t = self.read();
        t.by_id.get(id).and_then(|h| t.by_hash.get(h)).cloned()
    }

    /// Any credential by id: a proxy key's `pk_…`, a configured credential's fingerprint. What an
    /// admin UI session names (the session never holds the credential itself).
    pub fn by_id(&self, id: &str) -> Option<Arc<Identity>> {
        let t = self.read();
        t.by_id
            .get(id)
            .or_else(|| t.configured.get(id))
            .and_then(|h| t.by_hash.get(h))
            .cloned()
    }

    /// Every proxy key, oldest first.
    pub fn proxy_keys(&self) -> Vec<Arc<Identity>> {
        let t = self.read();
        let mut v: Vec<Arc<Identity>> = t
            .by_id
            .values()
            .filter_map(|h| t.by_hash.get(h).cloned())
            .collect();
        v.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        v
    }

    /// Issue a new proxy key with these settings: the key itself is returned here and never again.
    /// Blocking (a store write).
    pub fn create(
        &self,
        settings: Settings,
        now: DateTime<Utc>,
    ) -> Result<(Arc<Identity>, String), CreateError> {
        let random = |e: getrandom::Error| CreateError::Random(e.to_string());
        let key = token::new_key().map_err(random)?;
        let identity = Identity {
            id: token::new_id().map_err(random)?.into(),
            kind: Kind::ProxyKey,
            prefix: Some(token::display_prefix(&key)),
            created_at: Some(now),
            settings,
            usage: Arc::default(),
        };
        let hash = Digest(digest(key.as_bytes()));
        self.store
            .insert_proxy_key(&to_row(&identity, hash.0, now))?;
        let identity = Arc::new(identity);
        let mut t = self.write();
        t.by_id.insert(identity.id.clone(), hash);
        t.by_hash.insert(hash, identity.clone());
        Ok((identity, key))
    }

    /// Change a proxy key's settings; `None` if there is no such key. Blocking (a store write).
    pub fn update(
        &self,
        id: &str,
        change: impl FnOnce(&mut Settings),
        now: DateTime<Utc>,
    ) -> Result<Option<Arc<Identity>>, StoreError> {
        let Some(old) = self.get(id) else {
            return Ok(None);
        };
        let mut settings = old.settings.clone();
        change(&mut settings);
        let new = Arc::new(Identity {
            id: old.id.clone(),
            kind: old.kind,
            prefix: old.prefix.clone(),
            created_at: old.created_at,
            settings,
            usage: old.usage.clone(),
        });
        let Some(hash) = self.read().by_id.get(id).copied() else {
            return Ok(None);
        };
        if !self.store.update_proxy_key(&to_row(&new, hash.0, now))? {
            return Ok(None);
        }
        let mut t = self.write();
        if t.by_id.contains_key(id) {
            t.by_hash.insert(hash, new.clone());
        }
        Ok(Some(new))
    }

    /// Delete a proxy key; false if there is no such key. Blocking (a store write).
    pub fn delete(&self, id: &str) -> Result<bool, StoreError> {
        if self.get(id).is_none() {
            return Ok(false);
        }
        let found = self.store.delete_proxy_key(id)?;
        let mut t = self.write();
        if let Some(hash) = t.by_id.remove(id) {
            t.by_hash.remove(&hash);
        }
        Ok(found)
    }

    /// Write the usage of every proxy key used since the last call. Blocking.
    pub fn save_usage(&self) -> Result<(), StoreError> {
        let keys = self.proxy_keys();
        let rows: Vec<(String, crate::store::KeyUsageRow)> = keys
            .iter()
            .filter_map(|k| k.usage.take_dirty().map(|u| (k.id.to_string(), u)))
            .collect();
        if let Err(e) = self.store.save_key_usage(&rows) {
            for k in &keys {
                if rows.iter().any(|(id, _)| id.as_str() == &*k.id) {
                    k.usage.mark_dirty();
                }
            }
            return Err(e);
        }
        Ok(())
    }
}

/// Saves proxy keys' usage every interval on its own thread, and once more when dropped.
pub struct UsageSaver {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
    credentials: Arc<Credentials>,
}

impl UsageSaver {
    pub fn start(credentials: Arc<Credentials>, interval: Duration) -> UsageSaver {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let (s, c) = (stop.clone(), credentials.clone());
        let thread = std::thread::Builder::new()
            .name("gg-key-usage".into())
            .spawn(move || loop {
                let guard = crate::sync::lock(&s.0);
                let (guard, _) =
                    s.1.wait_timeout_while(guard, interval, |stopped| !*stopped)
                        .unwrap_or_else(|p| p.into_inner());
                let stopped = *guard;
                drop(guard);
                if let Err(e) = c.save_usage() {
                    tracing::warn!(error = %e, "could not save proxy key usage; will retry");
                }
                if stopped {
                    break;
                }
            })
            .ok();
        UsageSaver {
            stop,
            thread,
            credentials,
        }
    }
}

impl Drop for UsageSaver {
    fn drop(&mut self) {
        *crate::sync::lock(&self.stop.0) = true;
        self.stop.1.notify_all();
        match self.thread.take() {
            Some(t) => {
                let _ = t.join();
            }
            None => {
                let _ = self.credentials.save_usage();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use crate::store::Store;

    fn auth() -> AuthConfig {
        AuthConfig {
            required: true,
            passwords: vec![Secret::new("user-pw"), Secret::new("same")],
            admin_api_key: Some(Secret::new("same")),
        }
    }

    fn settings(name: &str) -> Settings {
        Settings::new(name, Role::User)
    }

    #[test]
    fn configured_credentials_and_admin_wins() {
        let c = Credentials::load(&auth(), Arc::new(Store::open(None).unwrap()), false).unwrap();
        let u = c.check("user-pw").unwrap();
        assert_eq!((u.role(), u.kind), (Role::User, Kind::Password));
        assert_eq!(&*u.id, fingerprint("user-pw"));
        assert_eq!(c.check("same").unwrap().role(), Role::Admin);
        assert!(c.check("nope").is_none() && c.check("").is_none());
    }

    #[test]
    fn create_update_delete_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.db");
        let store = Arc::new(Store::open(Some(&path)).unwrap());
        let c = Credentials::load(&auth(), store.clone(), true).unwrap();
        let now = Utc::now();
        let (a, key) = c.create(settings("alice"), now).unwrap();
        assert!(key.starts_with("gk-"));
        assert_eq!(c.check(&key).unwrap().id, a.id);
        let b = c
            .update(&a.id, |s| s.enabled = false, now)
            .unwrap()
            .unwrap();
        assert!(!b.settings.enabled);
        assert!(
            !c.check(&key).unwrap().settings.enabled,
            "the table sees the change at once"
        );
        assert!(c.update("pk_none", |_| {}, now).unwrap().is_none());
        b.usage.add_tokens(5, now);
        c.save_usage().unwrap();
        drop(c);
        let c = Credentials::load(&auth(), store.clone(), true).unwrap();
        let again = c.check(&key).unwrap();
        assert!(!again.settings.enabled);
        assert_eq!(again.usage.snapshot(now).tokens_total, 5);
        assert!(c.delete(&a.id).unwrap());
        assert!(!c.delete(&a.id).unwrap());
        assert!(c.check(&key).is_none());
        assert_eq!(c.proxy_key_count(), 0);
    }

    #[test]
    fn the_key_is_not_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.db");
        let store = Arc::new(Store::open(Some(&path)).unwrap());
        let c = Credentials::load(&auth(), store.clone(), true).unwrap();
        let (_, key) = c.create(settings("alice"), Utc::now()).unwrap();
        c.save_usage().unwrap();
        store.checkpoint().unwrap();
        drop(c);
        drop(store);
        let mut bytes = std::fs::read(&path).unwrap();
        if let Ok(wal) = std::fs::read(dir.path().join("gw.db-wal")) {
            bytes.extend(wal);
        }
        let hay = String::from_utf8_lossy(&bytes);
        assert!(!hay.contains(&key));
        assert!(!hay.contains(&key[3..]));
        assert!(hay.contains(&key[..7]), "the display prefix is stored");
    }
}
