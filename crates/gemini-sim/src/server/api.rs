//! The simulated Gemini API: route dispatch, scripted faults and quota refusals.

use super::answers::upper_first;
use super::*;

impl Exchange<'_> {
    pub(super) async fn gemini(&mut self, req: &Req) -> Result<()> {
        let (version, route) = parse_route(&req.path);
        if route == Route::Unknown {
            return self
                .send_error(
                    404,
                    &format!("Method not found: {} {}", req.method, req.path),
                    vec![],
                )
                .await;
        }

        // --- auth
        let sh = self.sh;
        let cfg = &sh.cfg;
        let Some(key) = req.api_key.clone() else {
            return self
                .send_error(
                    403,
                    "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
                    vec![],
                )
                .await;
        };
        let listed = |list: &[String]| list.contains(&key);
        if listed(&cfg.forbidden_keys) {
            let service_method = match &route {
                Route::Call { method, .. } => format!(
                    "google.ai.generativelanguage.{version}.GenerativeService.{}",
                    upper_first(method)
                ),
                _ => format!("google.ai.generativelanguage.{version}.ModelService.ListModels"),
            };
            let msg = format!(
                "Requests to this API {} method {service_method} are blocked.",
                wire::SERVICE
            );
            let details = vec![
                Detail::error_info(
                    "API_KEY_SERVICE_BLOCKED",
                    &[
                        ("methodName", service_method.clone()),
                        ("apiName", wire::SERVICE.to_owned()),
                        ("consumer", "projects/000000000000".to_owned()),
                    ],
                ),
                Detail::localized(&msg),
            ];
            return self.send_error(403, &msg, details).await;
        }
        if listed(&cfg.invalid_keys) || (!cfg.valid_keys.is_empty() && !listed(&cfg.valid_keys)) {
            return self.invalid_key().await;
        }

        // --- faults
        let model_id = match &route {
            Route::GetModel(m) | Route::Call { model: m, .. } => Some(m.as_str()),
            _ => None,
        };
        let mut cut = None;
        let mut stream_shape = (self.sh.cfg.stream_events, self.sh.cfg.stream_interval);
        if let Some(action) = self.sh.take_fault(Some(&key), model_id) {
            tracing::debug!(?action, "gemini-sim fault");
            match action {
                FaultAction::Status { code } => return self.status_fault(code).await,
                FaultAction::RateLimit { retry_delay_secs } => {
                    return self
                        .rate_limit_fault(&key, model_id, retry_delay_secs)
                        .await
                }
                FaultAction::QuotaDay => return self.quota_day_fault(&key, model_id).await,
                FaultAction::InvalidKey => return self.invalid_key().await,
                FaultAction::Hang => {
                    self.client_left_within(None).await;
                    self.sh.note_cancelled();
                    return Err(self.drop_conn("gemini-sim fault: hang, client left"));
                }
                FaultAction::SlowFirstByte { ms } => {
                    if self
                        .client_left_within(Some(Duration::from_millis(ms)))
                        .await
                    {
                        self.sh.note_cancelled();
                        return Err(self.drop_conn("gemini-sim: client left before the first byte"));
                    }
                }
                FaultAction::CutAfter { events } => cut = Some(events),
                FaultAction::Reset => return Err(self.drop_conn("gemini-sim fault: reset")),
                FaultAction::Stream {
                    events,
                    interval_ms,
                } => stream_shape = (events, Duration::from_millis(interval_ms)),
            }
        }

        match route {
            Route::ListModels => {
                if req.method != "GET" {
                    return self.method_not_allowed(req).await;
                }
                self.list_models(req, cut).await
            }
            Route::GetModel(id) => {
                if req.method != "GET" {
                    return self.method_not_allowed(req).await;
                }
                match catalog::find(&id) {
                    Some(m) => {
                        self.send_json(200, wire::to_pretty_json(&m.json()), cut)
                            .await
                    }
                    None => {
                        let msg = format!("models/{id} is not found for API version {version}, or is not supported for get. Call ListModels to see the list of available models and their supported methods.");
                        self.send_error(404, &msg, vec![]).await
                    }
                }
            }
            Route::Call { model, method } => {
                if req.method != "POST" {
                    return self.method_not_allowed(req).await;
                }
                let needs = match method.as_str() {
                    "generateContent" | "streamGenerateContent" => "generateContent",
                    "countTokens" => "countTokens",
                    "embedContent" | "batchEmbedContents" => "embedContent",
                    _ => {
                        return self
                            .send_error(404, &format!("Method not found: {method}"), vec![])
                            .await
                    }
                };
                let info = match catalog::find(&model) {
                    Some(m) if needs == "countTokens" || m.supports(needs) => m,
                    _ => {
                        let msg = format!("models/{model} is not found for API version {version}, or is not supported for {method}. Call ListModels to see the list of available models and their supported methods.");
                        return self.send_error(404, &msg, vec![]).await;
                    }
                };
                if req.body.len() > PAYLOAD_LIMIT {
                    let msg =
                        format!("Request payload size exceeds the limit: {PAYLOAD_LIMIT} bytes.");
                    return self.invalid_argument(&msg).await;
                }
                let body: Value = if req.body.iter().all(u8::is_ascii_whitespace) {
                    Value::Object(Default::default())
                } else {
                    match serde_json::from_slice(&req.body) {
                        Ok(v) => v,
                        Err(e) => {
                            let msg =
                                format!("Invalid JSON payload received. Unexpected token.\n{e}");
                            return self.invalid_argument(&msg).await;
                        }
                    }
                };
                if !body.is_object() {
                    let msg = format!("Invalid JSON payload received. Expected an object for the {method} request body.");
                    return self.invalid_argument(&msg).await;
                }
                match method.as_str() {
                    "generateContent" => {
                        self.generate(&key, info, &body, None, cut, stream_shape)
                            .await
                    }
                    "streamGenerateContent" => {
                        let mode = if req.query_param("alt").as_deref() == Some("sse") {
                            StreamMode::Sse
                        } else {
                            StreamMode::Array
                        };
                        self.generate(&key, info, &body, Some(mode), cut, stream_shape)
                            .await
                    }
                    "countTokens" => self.count_tokens(&body, cut).await,
                    "embedContent" => self.embed(&key, info, &body, false, cut).await,
                    _ => self.embed(&key, info, &body, true, cut).await,
                }
            }
            Route::Unknown => Ok(()),
        }
    }

    pub(super) async fn method_not_allowed(&mut self, req: &Req) -> Result<()> {
        self.send_error(
            404,
            &format!("Method not found: {} {}", req.method, req.path),
            vec![],
        )
        .await
    }

    pub(super) async fn status_fault(&mut self, code: u16) -> Result<()> {
        let code = if (200..=599).contains(&code) {
            code
        } else {
            500
        };
        let (message, details) = match code {
            400 => ("Request contains an invalid argument.", vec![]),
            401 => ("Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.", vec![]),
            403 => ("The caller does not have permission", vec![]),
            404 => ("Requested entity was not found.", vec![]),
            429 => (
                "Resource has been exhausted (e.g. check quota).",
                vec![Detail::retry_info(60)],
            ),
            500 => ("An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting", vec![]),
            503 => ("The model is overloaded. Please try again later.", vec![]),
            504 => ("Deadline expired before operation could complete.", vec![]),
            _ => ("Simulated error.", vec![]),
        };
        self.send_error(code, message, details).await
    }

    pub(super) async fn rate_limit_fault(
        &mut self,
        key: &str,
        model: Option<&str>,
        secs: u64,
    ) -> Result<()> {
        let rpm = self
            .sh
            .quota_for(key)
            .and_then(|q| q.rpm)
            .map_or(10, u64::from);
        self.quota_fault(model, Limit::Rpm, rpm, Duration::from_secs(secs))
            .await
    }

    pub(super) async fn quota_day_fault(&mut self, key: &str, model: Option<&str>) -> Result<()> {
        let rpd = self
            .sh
            .quota_for(key)
            .and_then(|q| q.rpd)
            .map_or(250, u64::from);
        self.quota_fault(model, Limit::Rpd, rpd, Clock::now().until_next_day)
            .await
    }

    /// A scripted quota refusal: `limit` at `value`, back in `wait`.
    async fn quota_fault(
        &mut self,
        model: Option<&str>,
        limit: Limit,
        value: u64,
        wait: Duration,
    ) -> Result<()> {
        let v = Violation { limit, value, wait };
        let model = model.unwrap_or("gemini-2.5-flash").to_owned();
        self.quota_error(&model, Family::Generate, &[v]).await
    }

    /// 429 RESOURCE_EXHAUSTED with QuotaFailure, Help and an honest RetryInfo.
    pub(super) async fn quota_error(
        &mut self,
        model: &str,
        family: Family,
        violations: &[Violation],
    ) -> Result<()> {
        let wait = violations
            .iter()
            .map(|v| v.wait)
            .max()
            .unwrap_or(Duration::from_secs(60));
        let mut message = String::from("You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. To monitor your current usage, head to: https://ai.dev/rate-limit. \n");
        let mut qv = Vec::new();
        for v in violations {
            let (metric, id) = family.ids(v.limit);
            message.push_str(&format!(
                "* Quota exceeded for metric: {metric}, limit: {}, model: {model}\n",
                v.value
            ));
            let mut dims = std::collections::BTreeMap::new();
            dims.insert("location", "global".to_owned());
            dims.insert("model", model.to_owned());
            qv.push(QuotaViolation {
                quota_metric: metric,
                quota_id: id,
                quota_dimensions: dims,
                quota_value: v.value.to_string(),
            });
        }
        message.push_str(&format!("Please retry in {:.9}s.", wait.as_secs_f64()));
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let details = vec![
            Detail::quota_failure(qv),
            Detail::rate_limit_help(),
            Detail::retry_info(secs),
        ];
        self.send_error(429, &message, details).await
    }

    /// Count the request against the key's quota; Err(()) after a 429 was sent.
    pub(super) async fn admit(
        &mut self,
        key: &str,
        model: &str,
        family: Family,
        tokens: u64,
    ) -> Result<bool> {
        let Some(q) = self.sh.quota_for(key) else {
            return Ok(true);
        };
        let clock = Clock::now();
        let verdict = crate::state::lock(&self.sh.quotas).admit(key, model, &q, tokens, &clock);
        match verdict {
            Ok(()) => Ok(true),
            Err(v) => {
                self.quota_error(model, family, &v).await?;
                Ok(false)
            }
        }
    }
}
