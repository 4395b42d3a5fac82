//! The OpenAPI 3 document of the JSON API (`/api/openapi.json`).

use axum::Json;
use serde_json::{json, Value};

use crate::auth::CurrentUser;

fn param(name: &str, location: &str, schema: Value, description: &str) -> Value {
    json!({ "name": name, "in": location, "required": location == "path", "schema": schema, "description": description })
}

fn get(summary: &str, params: Vec<Value>, ok: Value) -> Value {
    json!({ "get": {
        "summary": summary,
        "parameters": params,
        "responses": {
            "200": { "description": "OK", "content": { "application/json": { "schema": ok } } },
            "400": { "description": "bad request", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
            "401": { "description": "not signed in", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
            "404": { "description": "not found", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
            "503": { "description": "no data yet", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }
        }
    }})
}

fn binary(summary: &str, params: Vec<Value>, mime: &str) -> Value {
    let mut v = get(summary, params, json!({}));
    v["get"]["responses"]["200"] = json!({ "description": "OK", "content": { mime: { "schema": { "type": "string", "format": "binary" } } } });
    v
}

/// An operation for admins only: 403 documented too.
fn admin(mut v: Value) -> Value {
    for (_, op) in v.as_object_mut().into_iter().flatten() {
        op["responses"]["403"] = json!({ "description": "admins only", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    }
    v
}

/// `/api/v1/attackers`: read (analyst) and flag by hand (admin).
fn attackers() -> Value {
    let mut v = get("flagged attackers: why, since, until, redirected where (the detector's state; 503 without `--redis`)", vec![], json!({ "$ref": "#/components/schemas/Attackers" }));
    let mut post = admin(get("flag an attacker by hand (admin): the policy version bumps and agents get it", vec![], json!({})))["get"].clone();
    post["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": {
        "type": "object", "required": ["address"], "example": { "address": "198.51.100.7", "seconds": 60 }, "properties": {
            "address": { "type": "string", "description": "IPv4 or IPv6 address" },
            "seconds": { "type": "integer", "minimum": 1, "maximum": crate::detector_state::MAX_FLAG_SECONDS, "description": "how long (a day when missing)" } } } } } });
    let created = post["responses"]["200"].take();
    post["responses"].as_object_mut().map(|r| r.remove("200"));
    post["responses"]["201"] = created;
    post["responses"]["201"]["content"]["application/json"]["schema"] = json!({ "$ref": "#/components/schemas/Version" });
    v["post"] = post;
    v
}

pub fn spec() -> Value {
    let s = |t: &str| json!({ "type": t });
    let search_params = || {
        vec![
            param("q", "query", s("string"), "query in the language of docs/query.md"),
            param("kind", "query", json!({ "type": "string", "enum": ["sessions", "flows", "events"] }), "what to search"),
            param("from", "query", s("string"), "start, e.g. 2024-05-01T10:00:00Z or now-24h"),
            param("to", "query", s("string"), "end"),
        ]
    };
    let mut page_params = search_params();
    page_params.push(param("offset", "query", json!({ "type": "integer", "minimum": 0, "maximum": 10000 }), ""));
    page_params.push(param("limit", "query", json!({ "type": "integer", "minimum": 1, "maximum": 500 }), ""));
    let mut hist_params = search_params();
    hist_params.push(param("buckets", "query", json!({ "type": "integer", "minimum": 1, "maximum": 1000 }), ""));
    let id = || param("id", "path", s("string"), "session id");
    let key = || param("key", "path", s("string"), "flow key");
    let paging = || {
        vec![
            param("offset", "query", json!({ "type": "integer", "minimum": 0, "maximum": 10000 }), ""),
            param("limit", "query", json!({ "type": "integer", "minimum": 1, "maximum": 500 }), ""),
        ]
    };
    let page = json!({ "$ref": "#/components/schemas/Page" });
    let obj = json!({ "type": "object" });
    let unflag = admin(get(
        "unflag an attacker by hand (admin); 404 when not flagged",
        vec![param("address", "path", s("string"), "IPv4 or IPv6 address")],
        json!({ "$ref": "#/components/schemas/Version" }),
    ))["get"]
        .clone();
    json!({
        "openapi": "3.0.3",
        "info": { "title": "Kyoka forensics API", "version": env!("CARGO_PKG_VERSION"),
                  "description": "Everything the Kyoka forensics pages show. Authenticate with `Authorization: Bearer TOKEN` (`kyoka token create --user NAME`)." },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": { "type": "object", "required": ["error"], "properties": { "error": s("string"), "column": s("integer") } },
                "Page": { "type": "object", "required": ["total", "offset", "hits"], "properties": {
                    "total": s("integer"), "offset": s("integer"), "hits": { "type": "array", "items": obj.clone() } } },
                "Version": { "type": "object", "required": ["address", "version"], "properties": {
                    "address": s("string"), "version": s("integer"), "seconds": s("integer") } },
                "Attackers": { "type": "object", "required": ["version", "mode", "attackers"], "properties": {
                    "version": s("integer"), "mode": s("string"),
                    "default_sandbox": { "type": "object", "nullable": true },
                    "attackers": { "type": "array", "items": { "type": "object", "required": ["address", "reason", "since", "expires"], "properties": {
                        "address": s("string"), "reason": s("string"), "since": s("integer"), "expires": s("integer"),
                        "sandbox": { "type": "object", "properties": { "id": s("string"), "endpoints": { "type": "array", "items": obj.clone() } } } } } } } },
                "Histogram": { "type": "object", "required": ["start_us", "width_us", "counts", "total"], "properties": {
                    "start_us": s("integer"), "width_us": s("integer"), "total": s("integer"),
                    "counts": { "type": "array", "items": s("integer") } } }
            }
        },
        "security": [{ "bearer": [] }],
        "paths": {
            "/api/v1/me": get("the signed-in user", vec![], obj.clone()),
            "/api/v1/stats": get("what the data folder holds", vec![], obj.clone()),
            "/api/v1/search": get("one page of sessions, flows or events, newest first", page_params, page.clone()),
            "/api/v1/histogram": get("matches over time", hist_params, json!({ "$ref": "#/components/schemas/Histogram" })),
            "/api/v1/overview": get("totals, events over time, top sources, protocols, credentials, commands", vec![], obj.clone()),
            "/api/v1/sessions/{id}": get("a session's summary and flows", vec![id()], obj.clone()),
            "/api/v1/sessions/{id}/timeline": get("a session's events in time order, one page", vec![
                id(),
                param("offset", "query", json!({ "type": "integer", "minimum": 0, "maximum": 1_000_000 }), ""),
                param("limit", "query", json!({ "type": "integer", "minimum": 1, "maximum": 500 }), ""),
            ], page.clone()),
            "/api/v1/sessions/{id}/density": get("packets per flow over the session's time", vec![id(), param("buckets", "query", json!({ "type": "integer", "minimum": 1, "maximum": 2000 }), "")], obj.clone()),
            "/api/v1/sessions/{id}/pcap": binary("the session's packets as stored", vec![id()], "application/vnd.tcpdump.pcap"),
            "/api/v1/flows/{key}": get("a flow's summary", vec![key()], obj.clone()),
            "/api/v1/flows/{key}/packets": get("a flow's packets (hex and text), one page", { let mut v = vec![key()]; v.extend(paging()); v }, obj.clone()),
            "/api/v1/flows/{key}/stream": get("a flow's reassembled stream", vec![key()], obj.clone()),
            "/api/v1/flows/{key}/pcap": binary("the flow's packets as stored", vec![key()], "application/vnd.tcpdump.pcap"),
            "/api/v1/pcap": binary("the packets of every flow the search matches", search_params(), "application/vnd.tcpdump.pcap"),
            "/api/v1/artifacts/{sha256}": binary("an extracted file", vec![param("sha256", "path", s("string"), "")], "application/octet-stream"),
            "/api/v1/saved": get("your saved queries", vec![], obj.clone()),
            "/api/v1/attackers": attackers(),
            "/api/v1/attackers/{address}": { "delete": unflag },
            "/api/v1/detections": get("the latest detections, newest first", vec![param("limit", "query", json!({ "type": "integer", "minimum": 1, "maximum": 1000 }), "")], obj.clone()),
            "/api/v1/policy": admin(get("the detector's mode, whitelist, default sandbox and rules (admin)", vec![], obj.clone())),
            "/api/v1/agents": admin(get("each agent's host, version, mode and last heartbeat (admin)", vec![], obj.clone()))
        }
    })
}

pub async fn document(_u: CurrentUser) -> Json<Value> {
    Json(spec())
}
