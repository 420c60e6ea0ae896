//! Generated answers: model listing, token counts, embeddings, whole and streamed generations.

use super::*;

impl Exchange<'_> {
    pub(super) async fn list_models(&mut self, req: &Req, cut: Option<u32>) -> Result<()> {
        let size_param = req
            .query_param("pageSize")
            .or_else(|| req.query_param("page_size"));
        let size = match size_param {
            None => 50,
            Some(s) => match s.trim().parse::<i64>() {
                Ok(n) if n <= 0 => 50,
                Ok(n) => usize::try_from(n.min(1000)).unwrap_or(1000),
                Err(_) => {
                    let msg = format!("Invalid value at 'page_size' (TYPE_INT32), \"{s}\"");
                    return self.invalid_argument(&msg).await;
                }
            },
        };
        let token = req
            .query_param("pageToken")
            .or_else(|| req.query_param("page_token"));
        let offset = match token.as_deref() {
            None | Some("") => 0,
            Some(t) => match catalog::parse_page_token(t) {
                Some(o) => o,
                None => return self.invalid_argument("Invalid page token.").await,
            },
        };
        let page = catalog::page(offset, size);
        self.send_json(200, wire::to_pretty_json(&page), cut).await
    }

    pub(super) async fn count_tokens(&mut self, body: &Value, cut: Option<u32>) -> Result<()> {
        let inner = content::field(body, "generateContentRequest").unwrap_or(body);
        let count = content::count_request(inner);
        let resp = wire::CountTokensResponse {
            total_tokens: count.total(),
            prompt_tokens_details: count.details(),
        };
        self.send_json(200, wire::to_pretty_json(&resp), cut).await
    }

    pub(super) async fn embed(
        &mut self,
        key: &str,
        info: &ModelInfo,
        body: &Value,
        batch: bool,
        cut: Option<u32>,
    ) -> Result<()> {
        let requests: Vec<&Value> = if batch {
            match content::field(body, "requests").and_then(Value::as_array) {
                Some(r) if !r.is_empty() => r.iter().collect(),
                _ => {
                    return self
                        .invalid_argument(
                            "* BatchEmbedContentsRequest.requests: requests is not specified\n",
                        )
                        .await
                }
            }
        } else {
            vec![body]
        };
        let mut items = Vec::with_capacity(requests.len());
        let mut tokens = 0;
        for r in &requests {
            let Some(text) = content::embed_text(r) else {
                return self
                    .invalid_argument("* EmbedContentRequest.content: content is not specified\n")
                    .await;
            };
            let dim = match content::output_dimensionality(r) {
                None => DEFAULT_DIM,
                Some(d) if d >= 1 && d <= MAX_DIM as u64 => d as usize,
                Some(d) => {
                    let msg = format!("* EmbedContentRequest.output_dimensionality: {d} is out of range [1, {MAX_DIM}]\n");
                    return self.invalid_argument(&msg).await;
                }
            };
            tokens += content::text_tokens(&text);
            items.push((text, dim));
        }
        if !self.admit(key, info.id, Family::Embed, tokens).await? {
            return Ok(());
        }
        let mut embeddings: Vec<wire::Embedding> = items
            .iter()
            .map(|(t, d)| wire::Embedding {
                values: content::embedding(t, *d),
            })
            .collect();
        let out = if batch {
            wire::to_pretty_json(&wire::BatchEmbedResponse { embeddings })
        } else {
            let values = embeddings.pop().map(|e| e.values).unwrap_or_default();
            wire::to_pretty_json(&wire::EmbedResponse {
                embedding: wire::Embedding { values },
            })
        };
        self.send_json(200, out, cut).await
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn generate(
        &mut self,
        key: &str,
        info: &ModelInfo,
        body: &Value,
        stream: Option<StreamMode>,
        cut: Option<u32>,
        shape: (u32, Duration),
    ) -> Result<()> {
        if content::contents(body).is_empty() {
            return self
                .invalid_argument("* GenerateContentRequest.contents: contents is not specified\n")
                .await;
        }
        if info.is_gemini3() {
            if let Some((name, at)) = content::missing_signature(body) {
                let msg = format!("Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:{name}` , position {}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.", at + 1);
                return self.invalid_argument(&msg).await;
            }
        }
        let prompt = content::count_request(body);
        if !self
            .admit(key, info.id, Family::Generate, prompt.total())
            .await?
        {
            return Ok(());
        }
        let calls = crate::calls::plan_function_calls(body);
        let answer = if !calls.is_empty() {
            Answer::Calls(calls)
        } else {
            let mut text = match &self.sh.cfg.reply_text {
                Some(t) => t.clone(),
                None => content::default_reply(body),
            };
            if let Some(json) = crate::instance::json_reply(body, &text) {
                text = json;
            }
            let finish = match content::max_output_tokens(body) {
                Some(max) if content::truncate_to_tokens(&mut text, max) => "MAX_TOKENS",
                _ => "STOP",
            };
            Answer::Text { text, finish }
        };
        let seed = self.sh.next_seed();
        let thoughts = (info.thinking && content::include_thoughts(body))
            .then(|| content::thought_summary(body));
        let chunks = build_chunks(
            info,
            &prompt,
            &answer,
            thoughts,
            seed,
            stream.map(|_| shape.0),
        );
        match stream {
            None => {
                let body = chunks.first().map(wire::to_pretty_json).unwrap_or_default();
                self.send_json(200, body, cut).await
            }
            Some(mode) => self.stream(mode, &chunks, shape.1, cut).await,
        }
    }

    pub(super) async fn stream(
        &mut self,
        mode: StreamMode,
        chunks: &[wire::GenerateResponse],
        interval: Duration,
        cut: Option<u32>,
    ) -> Result<()> {
        let content_type = match mode {
            StreamMode::Sse => "text/event-stream",
            StreamMode::Array => "application/json; charset=UTF-8",
        };
        let mut h = Self::header(200, content_type)?;
        h.insert_header("content-disposition", "attachment")?;
        h.insert_header("transfer-encoding", "chunked")?;
        if let Err(e) = self.s.write_response_header(Box::new(h), false).await {
            return Err(self.gone(e));
        }
        for (i, chunk) in chunks.iter().enumerate() {
            if cut.is_some_and(|n| i >= n as usize) {
                return Err(self.drop_conn("gemini-sim fault: cut mid-stream"));
            }
            if i > 0 && !interval.is_zero() && self.client_left_within(Some(interval)).await {
                self.sh.note_cancelled();
                return Err(self.drop_conn("gemini-sim: client left between events"));
            }
            let bytes = match mode {
                StreamMode::Sse => wire::sse_event(chunk),
                StreamMode::Array => {
                    let mut b = if i == 0 {
                        b"[".to_vec()
                    } else {
                        b",\r\n".to_vec()
                    };
                    b.extend_from_slice(&serde_json::to_vec_pretty(chunk).unwrap_or_default());
                    b
                }
            };
            if let Err(e) = self
                .s
                .write_response_body(Some(Bytes::from(bytes)), false)
                .await
            {
                return Err(self.gone(e));
            }
            self.sh.note_event();
        }
        if cut.is_some() {
            return Err(self.drop_conn("gemini-sim fault: cut before the end of the stream"));
        }
        let tail = match mode {
            StreamMode::Sse => None,
            StreamMode::Array => Some(Bytes::from_static(b"]")),
        };
        if let Err(e) = self.s.write_response_body(tail, true).await {
            return Err(self.gone(e));
        }
        Ok(())
    }
}

pub(super) fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The answer as one full response (`events == None`) or as stream chunks. With `thoughts`, the
/// first chunk starts with that thought summary and the first answer part carries a thought
/// signature (as Gemini does when thoughts are included).
pub(super) fn build_chunks(
    info: &ModelInfo,
    prompt: &content::TokenCount,
    answer: &Answer,
    thoughts: Option<String>,
    seed: u64,
    events: Option<u32>,
) -> Vec<wire::GenerateResponse> {
    let mut chunks = answer_chunks(info, prompt, answer, thoughts.is_some(), seed, events);
    if let (Some(t), Some(first)) = (thoughts, chunks.first_mut()) {
        let thought_tokens = content::text_tokens(&t);
        let c = &mut first.candidates[0];
        if let Some(wire::Part::Text {
            thought_signature, ..
        }) = c.content.parts.first_mut()
        {
            thought_signature.get_or_insert_with(|| content::thought_signature(seed));
        }
        c.content.parts.insert(
            0,
            wire::Part::Thought {
                text: t,
                thought: true,
            },
        );
        for ch in &mut chunks {
            ch.usage_metadata.thoughts_token_count = Some(thought_tokens);
            ch.usage_metadata.total_token_count += thought_tokens;
        }
    }
    chunks
}

fn answer_chunks(
    info: &ModelInfo,
    prompt: &content::TokenCount,
    answer: &Answer,
    signed: bool,
    seed: u64,
    events: Option<u32>,
) -> Vec<wire::GenerateResponse> {
    let response_id = content::response_id(seed);
    let make = |parts: Vec<wire::Part>, finish: Option<&'static str>, candidates: u64| {
        wire::GenerateResponse {
            candidates: vec![wire::Candidate {
                content: wire::Content {
                    parts,
                    role: "model",
                },
                finish_reason: finish,
                index: 0,
            }],
            usage_metadata: wire::Usage {
                prompt_token_count: prompt.total(),
                candidates_token_count: candidates,
                total_token_count: prompt.total() + candidates,
                thoughts_token_count: None,
                prompt_tokens_details: prompt.details(),
            },
            model_version: info.id.to_owned(),
            response_id: response_id.clone(),
        }
    };
    match answer {
        Answer::Text { text, finish } => {
            let n = events.unwrap_or(1).max(1);
            let pieces = content::split_text(text, n);
            let last = pieces.len().saturating_sub(1);
            let mut so_far = String::new();
            pieces
                .into_iter()
                .enumerate()
                .map(|(i, piece)| {
                    so_far.push_str(&piece);
                    let fin = (i == last).then_some(*finish);
                    make(
                        vec![wire::Part::Text {
                            text: piece,
                            thought_signature: None,
                        }],
                        fin,
                        content::text_tokens(&so_far),
                    )
                })
                .collect()
        }
        Answer::Calls(calls) => {
            // Gemini 3: each call has an id; only the first part carries the thought signature.
            let gemini3 = info.is_gemini3();
            let parts: Vec<wire::Part> = calls
                .iter()
                .enumerate()
                .map(|(i, call)| wire::Part::Call {
                    function_call: wire::FunctionCall {
                        name: call.name.clone(),
                        args: call.args.clone(),
                        id: gemini3.then(|| content::call_id(seed.wrapping_add(i as u64))),
                    },
                    thought_signature: ((gemini3 || signed) && i == 0)
                        .then(|| content::thought_signature(seed)),
                })
                .collect();
            let tokens = calls
                .iter()
                .map(|c| content::text_tokens(&format!("{}{}", c.name, c.args)).max(1))
                .sum::<u64>();
            if events.unwrap_or(1) <= 1 {
                vec![make(parts, Some("STOP"), tokens)]
            } else {
                // streamed: one call per event, then an empty text part with the finish reason
                let mut out: Vec<wire::GenerateResponse> = parts
                    .into_iter()
                    .map(|p| make(vec![p], None, tokens))
                    .collect();
                out.push(make(
                    vec![wire::Part::Text {
                        text: String::new(),
                        thought_signature: None,
                    }],
                    Some("STOP"),
                    tokens,
                ));
                out
            }
        }
    }
}
