//! The cached list of upstream model ids behind `GET /v1/models`, refreshed in the background.

use crate::state::AppState;
use crate::sync::{read, write};
use crate::upstream::retry::Next;
use crate::upstream::{classify_transport, Fault, Pick};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Model ids (without `models/`) as last fetched.
#[derive(Default)]
pub struct ModelCache {
    inner: RwLock<Option<(Instant, Arc<Vec<String>>)>>,
}

impl ModelCache {
    /// The cached ids if fetched less than `max_age` ago.
    pub fn fresh(&self, now: Instant, max_age: Duration) -> Option<Arc<Vec<String>>> {
        let g = read(&self.inner);
        let (at, ids) = g.as_ref()?;
        (now.saturating_duration_since(*at) < max_age).then(|| ids.clone())
    }

    /// The cached ids, however old.
    pub fn any(&self) -> Option<Arc<Vec<String>>> {
        read(&self.inner).as_ref().map(|(_, ids)| ids.clone())
    }

    pub fn set(&self, ids: Vec<String>, now: Instant) {
        {
            let mut g = write(&self.inner);
            *g = Some((now, Arc::new(ids)));
        }
    }
}

/// Fetch every page of the upstream model list with a usable key; failures are classified and
/// reported to the key pool like any other attempt.
pub async fn refresh(state: &AppState) -> Result<usize, String> {
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    let mut tried = Vec::new();
    for _page in 0..50 {
        let query = {
            let mut q = form_urlencoded::Serializer::new(String::new());
            q.append_pair("pageSize", "1000");
            if let Some(t) = &token {
                q.append_pair("pageToken", t);
            }
            q.finish()
        };
        let body = loop {
            let (now, wall) = (state.clock.now(), state.clock.now_utc());
            let Pick::Key(k) = state.pool.pick("", 0, &tried, now, wall) else {
                return Err("no usable key to list models".into());
            };
            let Some(key) = state.pool.get(k) else {
                return Err("key vanished".into());
            };
            let got = state
                .upstream
                .get(
                    &crate::model::Resource::ListModels,
                    Some(&query),
                    key.header_value(),
                    8 * 1024 * 1024,
                )
                .await;
            let (fault, answer) = match got {
                Ok((200, body)) => break body,
                Ok((status, body)) => (
                    state
                        .retry
                        .classify(status, &body)
                        .unwrap_or(Fault::ServerError { status }),
                    Some((status, body)),
                ),
                Err(e) => (classify_transport(&e), None),
            };
            state.pool.report_fault(k, "", &fault, now, wall);
            tried.push(k);
            match state.retry.after(&fault, tried.len(), answer) {
                Next::Retry { after } => tokio::time::sleep(after).await,
                Next::Stop(e) => return Err(format!("model list not fetched: {e}")),
            }
        };
        let (page, next) = crate::convert::gemini_model_page(&body).map_err(|e| e.message)?;
        ids.extend(page);
        match next {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => break,
        }
    }
    for id in &ids {
        state.catalog.know(id);
    }
    let n = ids.len();
    state.models.set(ids, state.clock.now());
    Ok(n)
}
