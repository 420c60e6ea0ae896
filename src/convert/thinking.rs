//! Gemini's thinking controls, shared by the surfaces: which control a model family takes, and
//! what an effort level (`minimal` … `high`) or a token budget becomes.

/// Google's documented placeholder signature for function calls that Gemini did not produce
/// (history injected or rewritten by the client), accepted by Gemini 3's validator.
pub(crate) const DUMMY_SIGNATURE: &str = "skip_thought_signature_validator";

/// Gemini 3 rejects a model turn whose first `functionCall` part has no `thoughtSignature`; for
/// history it did not sign, Google documents a placeholder signature. Every model turn of
/// `contents` gets one where it lacks it.
pub(crate) fn sign_model_turns(contents: &mut [super::gemini_request::Content<'_>]) {
    use super::gemini_request::Part;
    for c in contents.iter_mut().filter(|c| c.role == "model") {
        if let Some(Part::Call {
            thought_signature, ..
        }) = c.parts.iter_mut().find(|p| matches!(p, Part::Call { .. }))
        {
            thought_signature.get_or_insert(std::borrow::Cow::Borrowed(DUMMY_SIGNATURE));
        }
    }
}

/// How a model family takes thinking controls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Family {
    /// Gemini 3: `thinkingLevel`.
    Level,
    /// Gemini 2.5 and anything unknown: `thinkingBudget` (Gemini 3 also accepts it).
    Budget,
    /// Models without thinking (Gemini 1.x / 2.0, Gemma): `reasoning_effort` is ignored.
    None,
}

pub(crate) fn family(model: &str) -> Family {
    let m = model.to_ascii_lowercase();
    if m.starts_with("gemini-3") {
        Family::Level
    } else if m.starts_with("gemini-1")
        || m.starts_with("gemini-2.0")
        || m.starts_with("gemma")
        || m.starts_with("learnlm")
    {
        Family::None
    } else {
        Family::Budget
    }
}

/// Gemini 2.5 `thinkingBudget` for an effort, as Google's compatibility layer does.
pub(crate) fn budget_for(effort: &str) -> i64 {
    match effort {
        "none" => 0,
        "minimal" | "low" => 1024,
        "medium" => 8192,
        _ => 24576,
    }
}

/// Gemini 3 `thinkingLevel` for an effort (Gemini 3 cannot turn thinking off: none → MINIMAL).
pub(crate) fn level_for(effort: &str) -> &'static str {
    match effort {
        "none" | "minimal" => "MINIMAL",
        "low" => "LOW",
        "medium" => "MEDIUM",
        _ => "HIGH",
    }
}

/// The largest `thinkingBudget` a Gemini 2.5 model takes (Pro 32768, Flash and Flash-Lite 24576);
/// larger budgets (Claude Code's 31999, say) are clamped to it.
pub(crate) fn max_budget(model: &str) -> u64 {
    if model.contains("pro") {
        32768
    } else {
        24576
    }
}

/// Whether thinking can be turned off (`thinkingBudget: 0`): Gemini 2.5 Flash and Flash-Lite; Pro
/// and Gemini 3 always think.
pub(crate) fn can_disable(model: &str) -> bool {
    family(model) == Family::Budget && !model.contains("pro")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_by_model() {
        assert_eq!(max_budget("gemini-2.5-pro"), 32768);
        assert_eq!(max_budget("gemini-2.5-flash"), 24576);
        assert!(can_disable("gemini-2.5-flash-lite"));
        assert!(!can_disable("gemini-2.5-pro"));
        assert!(!can_disable("gemini-3-flash-preview"));
    }
}
