//! JSON Schema sanitiser for Gemini's `parametersJsonSchema` and `responseJsonSchema`.
//!
//! Turns what real clients send as tool `parameters` (and `json_schema` response formats) into
//! the subset Gemini accepts.
//!
//! Rules (each one has a test below):
//!
//! | input | output | why |
//! |---|---|---|
//! | `$ref` to `#/$defs/X`, `#/definitions/X` or any `#/...` JSON pointer | the target inlined, sibling keywords (e.g. `description`) laid over it | Gemini resolves refs unreliably; inlining always works |
//! | `$ref` cycle, or more than [`MAX_REF_DEPTH`] nested expansions | `{"type":"object"}` (sibling `description` kept) | recursion cannot be inlined |
//! | `$ref` that does not resolve (remote URL, missing target) | `{"type":"object"}` | same |
//! | `$schema`, `$id`, `$anchor`, `$comment`, `$defs`, `definitions` | dropped (after inlining) | Gemini rejects them |
//! | `const: v` | `enum: [v]`, plus `type` inferred from `v` when missing | Gemini has no `const` |
//! | `oneOf` | `anyOf` | Gemini documents `oneOf` as `anyOf`; `anyOf` is what it validates |
//! | `anyOf`/`oneOf` with one branch | that branch merged into the parent | simpler, same meaning |
//! | `allOf` | branches merged into the parent (`properties` and `required` united, other keywords: parent first, then first branch wins) | not supported |
//! | `type: ["string","null"]` | kept (nullable union); unknown type names removed | supported |
//! | `items: [a, b]` (draft-4 tuple) | `prefixItems: [a, b]` | the 2020-12 spelling |
//! | `additionalProperties: false/true` | kept | accepted by `parametersJsonSchema` (seen in real recordings) |
//! | `additionalProperties: {schema}` | kept, sanitised | |
//! | `required` naming absent properties | those names removed; empty list dropped | Gemini rejects unknown names |
//! | `format` outside `date-time`, `date`, `time`, `int32`, `int64`, `float`, `double`, `enum` | dropped | Gemini rejects other formats (`uri`, `email`, ...) |
//! | `pattern`, `examples`, `example`, `uniqueItems`, `propertyNames`, `patternProperties`, `unevaluatedProperties`, `unevaluatedItems`, `dependentRequired`, `dependentSchemas`, `dependencies`, `if`/`then`/`else`, `not`, `contains`, `readOnly`, `writeOnly`, `deprecated`, `content*`, `exclusiveMinimum`, `exclusiveMaximum`, `x-*`, anything else | dropped | outside the subset Gemini accepts; whitelist, so unknown keywords never reach Gemini |
//! | kept keywords | `type`, `properties`, `required`, `items`, `prefixItems`, `enum`, `anyOf`, `description`, `title`, `format`, `default`, `nullable`, `minimum`, `maximum`, `minItems`, `maxItems`, `minLength`, `maxLength`, `minProperties`, `maxProperties`, `additionalProperties`, `propertyOrdering` | the documented subset |
//! | boolean schema `true`/`false`, or a non-object where a schema belongs | `{}` | |
//! | schema with `properties` but no `type` | `type: "object"` added | |
//!
//! Expansion is bounded: after [`MAX_NODES`] emitted schema nodes, further subschemas become
//! `{"type":"object"}` so a hostile `$ref` DAG cannot blow up memory.

use serde_json::{Map, Value};

/// Nested `$ref` expansions allowed on one path.
pub(crate) const MAX_REF_DEPTH: usize = 16;
/// Nesting depth of plain subschemas allowed.
const MAX_DEPTH: usize = 64;
/// Total schema nodes one sanitised schema may have.
pub(crate) const MAX_NODES: usize = 20_000;

const TYPES: &[&str] = &[
    "string", "number", "integer", "boolean", "array", "object", "null",
];
const FORMATS: &[&str] = &[
    "date-time",
    "date",
    "time",
    "int32",
    "int64",
    "float",
    "double",
    "enum",
];

/// Sanitise a JSON Schema for Gemini (see the module table).
pub(crate) fn sanitize(schema: &Value) -> Value {
    let mut w = Walker {
        root: schema,
        refs: Vec::new(),
        nodes: 0,
    };
    w.walk(schema, 0)
}

struct Walker<'a> {
    root: &'a Value,
    refs: Vec<String>,
    nodes: usize,
}

fn object_type() -> Value {
    let mut m = Map::new();
    m.insert("type".into(), Value::String("object".into()));
    Value::Object(m)
}

impl<'a> Walker<'a> {
    fn walk(&mut self, v: &'a Value, depth: usize) -> Value {
        self.nodes += 1;
        if self.nodes > MAX_NODES || depth > MAX_DEPTH {
            return object_type();
        }
        let Value::Object(obj) = v else {
            // `true`, `false`, or garbage where a schema belongs.
            return Value::Object(Map::new());
        };
        if let Some(Value::String(r)) = obj.get("$ref") {
            return self.expand_ref(r, obj, depth);
        }
        let mut out = self.keywords(obj, depth);

        if let Some(Value::Array(branches)) = obj.get("allOf") {
            for b in branches {
                let b = self.walk(b, depth + 1);
                merge_into(&mut out, b);
            }
        }
        // A one-branch union is just that branch.
        if let Some(Value::Array(any)) = out.get("anyOf") {
            if any.len() == 1 {
                if let Some(Value::Array(mut any)) = out.remove("anyOf") {
                    if let Some(only) = any.pop() {
                        merge_into(&mut out, only);
                    }
                }
            }
        }
        finish(&mut out);
        Value::Object(out)
    }

    fn expand_ref(&mut self, r: &str, obj: &'a Map<String, Value>, depth: usize) -> Value {
        let target = if self.refs.len() >= MAX_REF_DEPTH || self.refs.iter().any(|x| x == r) {
            None
        } else {
            resolve_pointer(self.root, r)
        };
        let mut out = match target {
            Some(t) => {
                self.refs.push(r.to_string());
                let t = self.walk(t, depth + 1);
                self.refs.pop();
                match t {
                    Value::Object(m) => m,
                    _ => Map::new(),
                }
            }
            None => {
                let mut m = Map::new();
                m.insert("type".into(), Value::String("object".into()));
                m
            }
        };
        // Annotation siblings of `$ref` (`description`, `title`, `default`, `nullable`) win over
        // the target's; structural siblings are ignored, as JSON Schema draft 7 does.
        for (k, v) in obj {
            let keep = match k.as_str() {
                "description" | "title" => v.is_string(),
                "nullable" => v.is_boolean(),
                "default" => true,
                _ => false,
            };
            if keep {
                out.insert(k.clone(), v.clone());
            }
        }
        finish(&mut out);
        Value::Object(out)
    }

    /// Copy and sanitise the whitelisted keywords of one schema object.
    fn keywords(&mut self, obj: &'a Map<String, Value>, depth: usize) -> Map<String, Value> {
        let mut out = Map::new();
        for (k, v) in obj {
            match k.as_str() {
                "type" => {
                    if let Some(t) = clean_type(v) {
                        out.insert(k.clone(), t);
                    }
                }
                "properties" => {
                    if let Value::Object(props) = v {
                        let mut p = Map::new();
                        for (name, s) in props {
                            p.insert(name.clone(), self.walk(s, depth + 1));
                        }
                        out.insert(k.clone(), Value::Object(p));
                    }
                }
                "items" => match v {
                    Value::Array(tuple) => {
                        let t = tuple.iter().map(|s| self.walk(s, depth + 1)).collect();
                        out.insert("prefixItems".into(), Value::Array(t));
                    }
                    Value::Object(_) => {
                        out.insert(k.clone(), self.walk(v, depth + 1));
                    }
                    _ => {}
                },
                "prefixItems" => {
                    if let Value::Array(tuple) = v {
                        let t = tuple.iter().map(|s| self.walk(s, depth + 1)).collect();
                        out.insert(k.clone(), Value::Array(t));
                    }
                }
                "anyOf" | "oneOf" => {
                    if let Value::Array(branches) = v {
                        let mut all: Vec<Value> = match out.remove("anyOf") {
                            Some(Value::Array(a)) => a,
                            _ => Vec::new(),
                        };
                        all.extend(branches.iter().map(|s| self.walk(s, depth + 1)));
                        if !all.is_empty() {
                            out.insert("anyOf".into(), Value::Array(all));
                        }
                    }
                }
                "additionalProperties" => match v {
                    Value::Bool(_) => {
                        out.insert(k.clone(), v.clone());
                    }
                    Value::Object(_) => {
                        out.insert(k.clone(), self.walk(v, depth + 1));
                    }
                    _ => {}
                },
                "enum" => {
                    if let Value::Array(vals) = v {
                        if !vals.is_empty() {
                            out.insert(k.clone(), v.clone());
                        }
                    }
                }
                "const" => {
                    if !obj.contains_key("enum") {
                        out.insert("enum".into(), Value::Array(vec![v.clone()]));
                    }
                    if !obj.contains_key("type") {
                        if let Some(t) = json_type_of(v) {
                            out.insert("type".into(), Value::String(t.into()));
                        }
                    }
                }
                "required" => {
                    if let Value::Array(names) = v {
                        let names: Vec<Value> =
                            names.iter().filter(|n| n.is_string()).cloned().collect();
                        out.insert(k.clone(), Value::Array(names));
                    }
                }
                "format" | "description" | "title" | "nullable" | "default" | "minimum"
                | "maximum" | "minItems" | "maxItems" | "minLength" | "maxLength"
                | "minProperties" | "maxProperties" | "propertyOrdering"
                    if annotation_ok(k, v) =>
                {
                    out.insert(k.clone(), v.clone());
                }
                // Everything else (`$schema`, `$id`, `$defs`, `definitions`, `$comment`,
                // `pattern`, `examples`, `uniqueItems`, `propertyNames`, `patternProperties`,
                // `unevaluated*`, `dependent*`, `if`/`then`/`else`, `not`, `allOf` (merged by
                // the caller), vendor `x-*` keys, ...) is dropped.
                _ => {}
            }
        }
        out
    }
}

/// Whether a plain keyword's value is of the kind Gemini expects (else it is dropped).
fn annotation_ok(k: &str, v: &Value) -> bool {
    match k {
        "format" => v.as_str().is_some_and(|f| FORMATS.contains(&f)),
        "description" | "title" => v.is_string(),
        "nullable" => v.is_boolean(),
        "default" => true,
        "minimum" | "maximum" => v.is_number(),
        "propertyOrdering" => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
        _ => v.is_u64(),
    }
}

/// Keep known type names; a one-element array becomes a plain string.
fn clean_type(v: &Value) -> Option<Value> {
    match v {
        Value::String(s) => {
            let s = s.to_ascii_lowercase();
            TYPES.contains(&s.as_str()).then_some(Value::String(s))
        }
        Value::Array(ts) => {
            let mut kept: Vec<Value> = Vec::new();
            for t in ts {
                if let Some(s) = t.as_str() {
                    let s = s.to_ascii_lowercase();
                    if TYPES.contains(&s.as_str()) && !kept.iter().any(|k| k == s.as_str()) {
                        kept.push(Value::String(s));
                    }
                }
            }
            match kept.len() {
                0 => None,
                1 => kept.pop(),
                _ => Some(Value::Array(kept)),
            }
        }
        _ => None,
    }
}

fn json_type_of(v: &Value) -> Option<&'static str> {
    Some(match v {
        Value::String(_) => "string",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::Null => "null",
        Value::Array(_) | Value::Object(_) => return None,
    })
}

/// Merge a sanitised schema into `out`: `properties` and `required` are united, any other
/// keyword is only taken when `out` lacks it.
fn merge_into(out: &mut Map<String, Value>, other: Value) {
    let Value::Object(other) = other else { return };
    for (k, v) in other {
        match (k.as_str(), out.get_mut(&k), v) {
            ("properties", Some(Value::Object(mine)), Value::Object(theirs)) => {
                for (pk, pv) in theirs {
                    mine.entry(pk).or_insert(pv);
                }
            }
            ("required", Some(Value::Array(mine)), Value::Array(theirs)) => {
                for r in theirs {
                    if !mine.contains(&r) {
                        mine.push(r);
                    }
                }
            }
            (_, Some(_), _) => {}
            (_, None, v) => {
                out.insert(k, v);
            }
        }
    }
}

/// Final per-node fix-ups: infer `type: object`, prune `required`.
fn finish(out: &mut Map<String, Value>) {
    if out.contains_key("properties") && !out.contains_key("type") && !out.contains_key("anyOf") {
        out.insert("type".into(), Value::String("object".into()));
    }
    let names: Option<Vec<String>> = match out.get("properties") {
        Some(Value::Object(p)) => Some(p.keys().cloned().collect()),
        _ => None,
    };
    if let Some(Value::Array(req)) = out.get_mut("required") {
        match &names {
            Some(names) => req.retain(|r| r.as_str().is_some_and(|r| names.iter().any(|n| n == r))),
            None => req.clear(),
        }
        if req.is_empty() {
            out.remove("required");
        }
    }
}

/// Resolve a local JSON pointer ref (`#/$defs/X`, `#/definitions/X`, `#/properties/a/items`, `#`).
fn resolve_pointer<'v>(root: &'v Value, r: &str) -> Option<&'v Value> {
    let ptr = r.strip_prefix('#')?;
    if ptr.is_empty() {
        return Some(root);
    }
    let ptr = ptr.strip_prefix('/')?;
    let mut cur = root;
    for raw in ptr.split('/') {
        let tok = raw.replace("~1", "/").replace("~0", "~");
        cur = match cur {
            Value::Object(m) => m.get(&tok)?,
            Value::Array(a) => a.get(tok.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// A tool's parameter schema as Gemini's `parametersJsonSchema`: sanitised, or `None` when it
/// declares no parameters (a schema without properties declares a function without parameters).
pub(crate) fn parameters(schema: &Value) -> Option<Value> {
    let s = sanitize(schema);
    let has_props = s
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty());
    (has_props || s.get("anyOf").is_some()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn drops_schema_meta_keywords() {
        let s = json!({"$schema": "http://json-schema.org/draft-07/schema#", "$id": "x", "$comment": "c",
            "type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]});
        assert_eq!(
            sanitize(&s),
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]})
        );
    }

    #[test]
    fn keeps_additional_properties() {
        let s = json!({"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": false});
        assert_eq!(sanitize(&s)["additionalProperties"], json!(false));
        let s = json!({"type": "object", "additionalProperties": {"type": "string", "examples": ["x"]}});
        assert_eq!(
            sanitize(&s)["additionalProperties"],
            json!({"type": "string"})
        );
    }

    #[test]
    fn inlines_defs_refs() {
        let s = json!({"type": "object",
            "properties": {"p": {"$ref": "#/$defs/Point", "description": "where"},
                           "q": {"$ref": "#/definitions/Name"}},
            "$defs": {"Point": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}},
            "definitions": {"Name": {"type": "string"}}});
        let out = sanitize(&s);
        assert_eq!(
            out["properties"]["p"],
            json!({"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"], "description": "where"})
        );
        assert_eq!(out["properties"]["q"], json!({"type": "string"}));
        assert!(out.get("$defs").is_none());
        assert!(out.get("definitions").is_none());
    }

    #[test]
    fn cycles_stop_at_object() {
        let s = json!({"$defs": {"Node": {"type": "object", "properties": {
                "value": {"type": "string"}, "next": {"$ref": "#/$defs/Node"}}}},
            "type": "object", "properties": {"head": {"$ref": "#/$defs/Node"}}});
        let out = sanitize(&s);
        assert_eq!(
            out["properties"]["head"]["properties"]["value"],
            json!({"type": "string"})
        );
        assert_eq!(
            out["properties"]["head"]["properties"]["next"],
            json!({"type": "object"})
        );
    }

    #[test]
    fn root_self_reference_is_a_cycle() {
        let s = json!({"type": "object", "properties": {"child": {"$ref": "#"}}});
        let out = sanitize(&s);
        assert_eq!(
            out["properties"]["child"]["properties"]["child"],
            json!({"type": "object"})
        );
    }

    #[test]
    fn unresolvable_ref_becomes_object() {
        let s = json!({"type": "object", "properties": {"a": {"$ref": "https://example.com/s.json"},
            "b": {"$ref": "#/$defs/Missing"}}});
        let out = sanitize(&s);
        assert_eq!(out["properties"]["a"], json!({"type": "object"}));
        assert_eq!(out["properties"]["b"], json!({"type": "object"}));
    }

    #[test]
    fn ref_dag_explosion_is_bounded() {
        // Each level references the previous twice: 2^30 nodes if expanded naively.
        let mut defs = serde_json::Map::new();
        defs.insert("L0".into(), json!({"type": "string"}));
        for i in 1..30 {
            let prev = format!("#/$defs/L{}", i - 1);
            defs.insert(
                format!("L{i}"),
                json!({"type": "object", "properties": {"a": {"$ref": prev}, "b": {"$ref": prev}}}),
            );
        }
        let s = json!({"$defs": defs, "$ref": "#/$defs/L29"});
        let out = sanitize(&s);
        let text = out.to_string();
        assert!(text.len() < 4_000_000, "len {}", text.len());
    }

    #[test]
    fn const_becomes_enum_with_type() {
        let s = json!({"type": "object", "properties": {"kind": {"const": "circle"}, "n": {"const": 3, "type": "integer"}}});
        let out = sanitize(&s);
        assert_eq!(
            out["properties"]["kind"],
            json!({"type": "string", "enum": ["circle"]})
        );
        assert_eq!(
            out["properties"]["n"],
            json!({"type": "integer", "enum": [3]})
        );
    }

    #[test]
    fn nullable_type_arrays_kept() {
        let s = json!({"type": "object", "properties": {"a": {"type": ["string", "null"]}, "b": {"type": ["integer"]}}});
        let out = sanitize(&s);
        assert_eq!(out["properties"]["a"]["type"], json!(["string", "null"]));
        assert_eq!(out["properties"]["b"]["type"], json!("integer"));
    }

    #[test]
    fn one_of_becomes_any_of_and_single_branch_is_inlined() {
        let s = json!({"oneOf": [{"type": "string"}, {"type": "null"}]});
        assert_eq!(
            sanitize(&s),
            json!({"anyOf": [{"type": "string"}, {"type": "null"}]})
        );
        let s = json!({"description": "d", "anyOf": [{"type": "string"}]});
        assert_eq!(sanitize(&s), json!({"description": "d", "type": "string"}));
    }

    #[test]
    fn all_of_is_merged() {
        let s = json!({"allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "integer"}}, "required": ["b"]}]});
        let out = sanitize(&s);
        assert_eq!(out["type"], "object");
        assert_eq!(out["properties"]["a"]["type"], "string");
        assert_eq!(out["properties"]["b"]["type"], "integer");
        assert_eq!(out["required"], json!(["a", "b"]));
        assert!(out.get("allOf").is_none());
    }

    #[test]
    fn drops_rejected_keywords() {
        let s = json!({"type": "object", "properties": {
            "tags": {"type": "array", "items": {"type": "string", "pattern": "^a"}, "uniqueItems": true, "minItems": 1},
            "map": {"type": "object", "propertyNames": {"pattern": "x"}, "patternProperties": {"^x": {}},
                    "unevaluatedProperties": false, "dependentRequired": {}},
            "cond": {"if": {}, "then": {}, "else": {}, "not": {}, "type": "string", "examples": ["e"], "x-foo": 1}}});
        let out = sanitize(&s);
        assert_eq!(
            out["properties"]["tags"],
            json!({"type": "array", "items": {"type": "string"}, "minItems": 1})
        );
        assert_eq!(out["properties"]["map"], json!({"type": "object"}));
        assert_eq!(out["properties"]["cond"], json!({"type": "string"}));
    }

    #[test]
    fn filters_formats() {
        let s = json!({"type": "object", "properties": {"u": {"type": "string", "format": "uri"},
            "t": {"type": "string", "format": "date-time"}}});
        let out = sanitize(&s);
        assert!(out["properties"]["u"].get("format").is_none());
        assert_eq!(out["properties"]["t"]["format"], "date-time");
    }

    #[test]
    fn prunes_required_to_known_properties() {
        let s = json!({"type": "object", "properties": {"a": {}}, "required": ["a", "ghost"]});
        assert_eq!(sanitize(&s)["required"], json!(["a"]));
        let s = json!({"type": "object", "properties": {"a": {}}, "required": ["ghost"]});
        assert!(sanitize(&s).get("required").is_none());
    }

    #[test]
    fn tuple_items_become_prefix_items() {
        let s = json!({"type": "array", "items": [{"type": "string"}, {"type": "integer"}]});
        assert_eq!(
            sanitize(&s),
            json!({"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]})
        );
    }

    #[test]
    fn boolean_schemas_become_empty() {
        let s = json!({"type": "object", "properties": {"any": true}});
        assert_eq!(sanitize(&s)["properties"]["any"], json!({}));
    }

    #[test]
    fn infers_object_type() {
        let s = json!({"properties": {"a": {"type": "string"}}});
        assert_eq!(sanitize(&s)["type"], "object");
    }

    #[test]
    fn pointer_escapes() {
        let root = json!({"a/b": {"c~d": 1}, "arr": [10, 20]});
        assert_eq!(resolve_pointer(&root, "#/a~1b/c~0d"), Some(&json!(1)));
        assert_eq!(resolve_pointer(&root, "#/arr/1"), Some(&json!(20)));
        assert_eq!(resolve_pointer(&root, "other.json#/a"), None);
    }
}
