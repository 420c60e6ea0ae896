//! Config tests: defaults, unknown keys, field names in errors, precedence, the env table.

use super::*;

const MIN: &str = "passwords: [pw]\nkeys: [k1]\n";

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn minimal_file_gets_defaults() {
    let c = Config::from_yaml(MIN).unwrap();
    assert_eq!(c.listen.to_string(), "0.0.0.0:7860");
    assert_eq!(c.admin_listen.to_string(), "127.0.0.1:7861");
    assert_eq!(c.upstream.host, "generativelanguage.googleapis.com");
    assert!(c.upstream.tls);
    assert_eq!(c.upstream.port, 443);
    assert_eq!(c.limits.max_body_bytes, 20 * 1024 * 1024);
    let names: Vec<&str> = c.pipeline.iter().map(|s| s.name()).collect();
    assert_eq!(names, DEFAULT_PIPELINE);
    assert_eq!(c.keys.len(), 1);
}

#[test]
fn unknown_key_is_rejected_and_named() {
    let e = Config::from_yaml("passwords: [pw]\nkeys: [k]\nlisten_port: 1\n").unwrap_err();
    assert_eq!(e.field, "listen_port", "{e}");
    let e = Config::from_yaml("passwords: [pw]\nkeys: [k]\nupstream:\n  base_ur: x\n").unwrap_err();
    assert_eq!(e.field, "base_ur", "{e}");
}

#[test]
fn bad_values_name_the_field() {
    let e = Config::from_yaml("passwords: [pw]\nkeys: [k]\nupstream:\n  base_url: ftp://x\n")
        .unwrap_err();
    assert_eq!(e.field, "upstream.base_url");
    let e = Config::from_yaml("passwords: [pw]\nkeys: [k]\nlisten: nope\n").unwrap_err();
    assert_eq!(e.field, "listen");
    let e = Config::from_yaml("passwords: [pw]\nkeys: [k]\nlimits:\n  max_body_bytes: lots\n")
        .unwrap_err();
    assert_eq!(e.field, "limits.max_body_bytes");
    let e = Config::from_yaml("passwords: [pw]\nkeys: [k]\nfailover:\n  max_attempts: 0\n")
        .unwrap_err();
    assert_eq!(e.field, "failover.max_attempts");
}

#[test]
fn refuses_to_run_open_unless_explicit() {
    let e = Config::from_yaml("keys: [k]\n").unwrap_err();
    assert_eq!(e.field, "passwords");
    let c = Config::from_yaml("keys: [k]\nauth: none\n").unwrap();
    assert!(!c.auth.required);
    let e = Config::from_yaml("keys: [k]\nauth: maybe\n").unwrap_err();
    assert_eq!(e.field, "auth");
}

#[test]
fn needs_a_key() {
    let e = Config::from_yaml("passwords: [pw]\n").unwrap_err();
    assert_eq!(e.field, "keys");
}

#[test]
fn keys_with_projects_and_duplicates() {
    let c = Config::from_yaml("passwords: [pw]\nkeys:\n  - a\n  - {key: b, project: p1}\n  - a\n")
        .unwrap();
    assert_eq!(c.keys.len(), 2);
    assert_eq!(c.keys[1].project, "p1");
    assert_eq!(c.keys[0].project, c.keys[0].key.fingerprint());
}

#[test]
fn key_tiers_per_key_for_all_keys_and_per_project() {
    use super::Tier;
    let c = Config::from_yaml(
        "passwords: [pw]\nkey_tier: tier2\nkeys:\n  - a\n  - {key: b, project: p1, tier: TIER1}\n  - {key: c, project: p1, tier: tier1}\n  - {key: d, tier: unlimited}\n",
    )
    .unwrap();
    let tiers: Vec<Tier> = c.keys.iter().map(|k| k.tier).collect();
    assert_eq!(
        tiers,
        [Tier::Tier2, Tier::Tier1, Tier::Tier1, Tier::Unlimited]
    );
    assert_eq!(
        Config::from_yaml("passwords: [pw]\nkeys: [a]\n")
            .unwrap()
            .keys[0]
            .tier,
        Tier::Free
    );
    let e = Config::from_parts(
        "passwords: [pw]\nkeys: [a, b]\n",
        &env(&[("GEMINI_KEY_TIER", "tier3")]),
        &Overrides::default(),
    )
    .unwrap();
    assert!(e.keys.iter().all(|k| k.tier == Tier::Tier3));
    let bad = Config::from_yaml("passwords: [pw]\nkeys: [{key: a, tier: gold}]\n").unwrap_err();
    assert_eq!(bad.field, "keys[0].tier");
    assert!(bad.message.contains("tier1"), "{}", bad.message);
    let bad = Config::from_parts(
        "passwords: [pw]\nkeys: [a]\n",
        &env(&[("GEMINI_KEY_TIER", "pro")]),
        &Overrides::default(),
    )
    .unwrap_err();
    assert_eq!(bad.field, "key_tier");
    let split = Config::from_yaml(
        "passwords: [pw]\nkeys:\n  - {key: a, project: p, tier: tier1}\n  - {key: b, project: p}\n",
    )
    .unwrap_err();
    assert_eq!(split.field, "keys[1].tier");
    assert!(split.message.contains("must agree"), "{}", split.message);
}

#[test]
fn env_overrides_file_and_cli_overrides_env() {
    let e = env(&[
        ("GEMINI_API_KEYS", "e1, e2,,"),
        ("PASSWORD", "p1,p2"),
        ("ADMIN_API_KEY", "adm"),
        ("PORT", "9000"),
        ("ADMIN_PORT", "9001"),
        ("GEMINI_BASE_URL", "http://127.0.0.1:5555/prefix/"),
        ("MAX_REQUESTS_PER_MINUTE", "30"),
    ]);
    let file = "listen: 127.0.0.1:1234\nkeys: [f1]\npasswords: [fp]\n";
    let c = Config::from_parts(file, &e, &Overrides::default()).unwrap();
    assert_eq!(c.keys.len(), 2);
    assert_eq!(c.keys[0].key.expose(), "e1");
    assert_eq!(c.auth.passwords.len(), 2);
    assert!(c.auth.admin_api_key.is_some());
    assert_eq!(c.listen.to_string(), "127.0.0.1:9000");
    assert_eq!(c.admin_listen.to_string(), "127.0.0.1:9001");
    assert!(!c.upstream.tls);
    assert_eq!(c.upstream.port, 5555);
    assert_eq!(c.upstream.base_path, "/prefix");
    assert_eq!(c.limits.max_requests_per_minute, 30);
    let cli = Overrides {
        listen: Some("127.0.0.1:7000".into()),
        ..Default::default()
    };
    let c = Config::from_parts(file, &e, &cli).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:7000");
}

#[test]
fn debug_true_means_the_debug_level() {
    let level = |pairs: &[(&str, &str)]| {
        Config::from_parts(MIN, &env(pairs), &Overrides::default())
            .unwrap()
            .log
            .level
    };
    let default = level(&[]);
    assert_eq!(level(&[("DEBUG", "true")]), "debug");
    assert_eq!(level(&[("DEBUG", "true"), ("LOG_LEVEL", "warn")]), "debug");
    assert_eq!(level(&[("DEBUG", "false")]), default);
    assert_eq!(level(&[("DEBUG", "false"), ("LOG_LEVEL", "warn")]), "warn");
    let e =
        Config::from_parts(MIN, &env(&[("DEBUG", "maybe")]), &Overrides::default()).unwrap_err();
    assert_eq!(e.field, "DEBUG");
}

#[test]
fn bad_env_number_is_named() {
    let e = Config::from_parts(
        MIN,
        &env(&[("MAX_REQUESTS_PER_MINUTE", "lots")]),
        &Overrides::default(),
    )
    .unwrap_err();
    assert_eq!(e.field, "MAX_REQUESTS_PER_MINUTE");
}

#[test]
fn base_url_forms() {
    assert_eq!(
        parse_base_url("https://h").unwrap(),
        (true, "h".into(), 443, "".into())
    );
    assert_eq!(
        parse_base_url("http://h:8080/").unwrap(),
        (false, "h".into(), 8080, "".into())
    );
    assert_eq!(
        parse_base_url("http://[::1]:81/x").unwrap(),
        (false, "::1".into(), 81, "/x".into())
    );
    assert!(parse_base_url("https://user:pw@h").is_err());
    assert!(parse_base_url("h:80").is_err());
}

#[test]
fn shipped_configs_validate() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conf");
    let e = env(&[
        ("GEMINI_API_KEYS", "placeholder"),
        ("PASSWORD", "placeholder"),
    ]);
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|x| x == "yaml") {
            let text = std::fs::read_to_string(&p).unwrap();
            Config::from_parts(&text, &e, &Overrides::default())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        }
    }
}

#[test]
fn the_shipped_file_shows_the_defaults() {
    // Every value written in conf/gemini-gateway.yaml is the built-in default: the file documents
    // the defaults and cannot drift from them.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/gemini-gateway.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let e = env(&[("GEMINI_API_KEYS", "k1"), ("PASSWORD", "pw")]);
    let shipped = Config::from_parts(&text, &e, &Overrides::default()).unwrap();
    let defaults = Config::from_parts("", &e, &Overrides::default()).unwrap();
    assert_eq!(shipped, defaults);
}

#[test]
fn the_local_builder_equals_the_defaults() {
    // Except for the per-IP limits, which the demo and the tests turn off.
    let local = Config::local(DEFAULT_BASE_URL, vec![KeyConfig::new("k1")], "pw").unwrap();
    let mut defaults = Config::from_yaml(MIN).unwrap();
    assert_eq!(
        (
            defaults.limits.max_requests_per_minute,
            defaults.limits.max_requests_per_day_per_ip
        ),
        (30, 600),
        "the seed's per-IP defaults"
    );
    defaults.limits.max_requests_per_minute = 0;
    defaults.limits.max_requests_per_day_per_ip = 0;
    assert_eq!(local, defaults);
}

#[test]
fn every_environment_variable_is_documented() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let yaml = std::fs::read_to_string(root.join("conf/gemini-gateway.yaml")).unwrap();
    let comments: String = yaml
        .lines()
        .filter_map(|l| l.split_once('#').map(|(_, c)| c))
        .collect::<Vec<_>>()
        .join("\n");
    for var in env::ENV {
        let cell = format!("`{}`", var.name);
        assert!(
            readme
                .lines()
                .any(|l| l.starts_with('|') && l.contains(&cell)),
            "{} is missing from the README's environment table",
            var.name
        );
        assert!(
            comments.contains(var.name),
            "{} is missing from conf/gemini-gateway.yaml's comments",
            var.name
        );
        assert!(
            readme
                .lines()
                .any(|l| l.contains(&cell) && l.contains(&format!("`{}`", var.key))),
            "the README's row for {} names its file key {}",
            var.name,
            var.key
        );
    }
}
