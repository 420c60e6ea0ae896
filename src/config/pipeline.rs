//! `pipeline:` — the stage list: optional policy stages and the fixed steps, checked by name and
//! order.

use super::{err, ConfigError};

/// The stages, in order, when the config does not name them.
pub const DEFAULT_PIPELINE: &[&str] = &[
    "auth",
    "limits",
    "openai",
    "surface",
    "context",
    "key_select",
    "exchange",
    "usage",
];

/// A name in `pipeline:`: an optional policy stage, or one of the fixed steps the list must name
/// in place (they always run; naming them documents the order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Auth,
    Limits,
    /// The OpenAI surface's translation (leave it out to serve no `/v1`).
    OpenAi,
    /// Routing by the surfaces (fixed).
    Surface,
    /// Server-side conversation context (inject stored history, save the reply).
    Context,
    /// Key selection (fixed).
    KeySelect,
    /// The upstream exchange (fixed).
    Exchange,
    Usage,
}

impl Stage {
    pub const ALL: [Stage; 8] = [
        Stage::Auth,
        Stage::Limits,
        Stage::OpenAi,
        Stage::Surface,
        Stage::Context,
        Stage::KeySelect,
        Stage::Exchange,
        Stage::Usage,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Auth => "auth",
            Stage::Limits => "limits",
            Stage::OpenAi => "openai",
            Stage::Surface => "surface",
            Stage::Context => "context",
            Stage::KeySelect => "key_select",
            Stage::Exchange => "exchange",
            Stage::Usage => "usage",
        }
    }

    pub fn from_name(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Stage names exist, each at most once, the fixed steps present, in a workable order.
pub(super) fn check_pipeline(
    names: &[String],
    auth_required: bool,
) -> Result<Vec<Stage>, ConfigError> {
    let mut p: Vec<Stage> = Vec::new();
    for name in names {
        let Some(s) = Stage::from_name(name) else {
            let known: Vec<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
            return Err(err(
                "pipeline",
                format!("unknown stage {name:?} (known: {})", known.join(", ")),
            ));
        };
        if p.contains(&s) {
            return Err(err("pipeline", format!("stage {name:?} is listed twice")));
        }
        p.push(s);
    }
    let pos = |s: Stage| p.iter().position(|n| *n == s);
    for required in [Stage::Surface, Stage::KeySelect, Stage::Exchange] {
        if pos(required).is_none() {
            return Err(err(
                "pipeline",
                format!(
                    "the {:?} step is required (it is not optional)",
                    required.name()
                ),
            ));
        }
    }
    if auth_required && pos(Stage::Auth).is_none() {
        return Err(err(
            "pipeline",
            "the \"auth\" stage is required unless `auth: none`",
        ));
    }
    for (before, after) in [
        (Stage::Auth, Stage::Surface),
        (Stage::OpenAi, Stage::Surface),
        (Stage::Limits, Stage::Surface),
        (Stage::Surface, Stage::KeySelect),
        (Stage::Surface, Stage::Context),
        (Stage::Auth, Stage::Context),
        (Stage::Context, Stage::KeySelect),
        (Stage::KeySelect, Stage::Exchange),
        (Stage::Exchange, Stage::Usage),
    ] {
        if let (Some(a), Some(b)) = (pos(before), pos(after)) {
            if a > b {
                return Err(err(
                    "pipeline",
                    format!("{:?} must come before {:?}", before.name(), after.name()),
                ));
            }
        }
    }
    Ok(p)
}
