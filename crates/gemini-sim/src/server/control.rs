//! The `/_sim/*` control API: faults, records, counters, reset.

use super::*;

/// 200 with `v` as pretty JSON.
async fn ok_json<T: serde::Serialize>(ex: &mut Exchange<'_>, v: &T) -> Result<()> {
    let body = wire::to_pretty_json(v);
    ex.send(200, "application/json", body).await
}

/// The `/_sim/*` control API.
pub(super) async fn control(ex: &mut Exchange<'_>, req: &Req) -> Result<()> {
    let json = |v: &Value| wire::to_pretty_json(v);
    let route = req.path.trim_end_matches('/');
    match (req.method.as_str(), route) {
        ("POST", "/_sim/faults") => {
            let parsed: std::result::Result<Value, _> = serde_json::from_slice(&req.body);
            let rules: std::result::Result<Vec<crate::FaultRule>, String> = match parsed {
                Ok(Value::Array(a)) => a
                    .into_iter()
                    .map(|v| serde_json::from_value(v).map_err(|e| e.to_string()))
                    .collect(),
                Ok(v) => serde_json::from_value(v)
                    .map(|r| vec![r])
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match rules {
                Ok(rules) => {
                    let n = rules.len();
                    for r in rules {
                        ex.sh.add_fault(r);
                    }
                    let body = serde_json::json!({"added": n, "active": ex.sh.faults().len()});
                    ex.send(200, "application/json", json(&body)).await
                }
                Err(e) => {
                    ex.send_error(400, &format!("Invalid fault rule: {e}"), vec![])
                        .await
                }
            }
        }
        ("DELETE", "/_sim/faults") => {
            let n = ex.sh.clear_faults();
            ex.send(
                200,
                "application/json",
                json(&serde_json::json!({"cleared": n})),
            )
            .await
        }
        ("GET", "/_sim/faults") => ok_json(ex, &ex.sh.faults()).await,
        ("GET", "/_sim/requests") => ok_json(ex, &ex.sh.requests()).await,
        ("GET", "/_sim/stats") => ok_json(ex, &ex.sh.stats()).await,
        ("POST", "/_sim/reset") => {
            ex.sh.reset();
            ex.send(
                200,
                "application/json",
                json(&serde_json::json!({"reset": true})),
            )
            .await
        }
        _ => {
            ex.send_error(
                404,
                &format!("No control endpoint {} {}", req.method, req.path),
                vec![],
            )
            .await
        }
    }
}
