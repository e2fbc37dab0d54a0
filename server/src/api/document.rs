//! The finishing pass over the generated OpenAPI 3.1 document: what holds for every operation
//! is stated once here rather than in each handler's annotation, so no route can forget it.
//!
//! - Every response has its `description` (required by OpenAPI 3.1 §4.8.17.1).
//! - Every error response is `application/problem+json` with the `Problem` schema (RFC 9457),
//!   which is what [`super::error::ApiError`] answers.
//! - Each operation lists the errors it can answer: 401, 403, 429, 500 and 503 when it needs a
//!   key; 404 when its path names something; 400 when it takes a query or a body; 408 and 413
//!   when it takes a body; 503 for every read (reads are shed under ingest load).

use serde_json::{json, Map, Value};

/// The generated document with the rules above applied.
pub fn finish(mut document: Value) -> Value {
    if let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else { continue };
            for (method, operation) in item.iter_mut() {
                if let Some(operation) = operation.as_object_mut() {
                    finish_operation(path, method, operation);
                }
            }
        }
    }
    document
}

fn finish_operation(path: &str, method: &str, operation: &mut Map<String, Value>) {
    let authenticated = operation.get("security").and_then(Value::as_array).is_some_and(|s| !s.is_empty());
    let has_query = operation
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|params| params.iter().any(|p| p["in"] == "query"));
    let has_body = operation.contains_key("requestBody");
    let mut errors = vec![500];
    if authenticated {
        errors.extend([401, 403, 429, 503]);
    }
    if path.contains('{') {
        errors.push(404);
    }
    if has_query || has_body || path.contains('{') {
        errors.push(400);
    }
    if has_body {
        errors.extend([408, 413]);
    }
    if method == "get" {
        errors.push(503);
    }
    let responses = operation.entry("responses").or_insert_with(|| json!({}));
    let Some(responses) = responses.as_object_mut() else { return };
    for status in errors {
        responses.entry(status.to_string()).or_insert_with(|| json!({}));
    }
    for (status, response) in responses.iter_mut() {
        let Some(response) = response.as_object_mut() else { continue };
        let code: u16 = status.parse().unwrap_or(0);
        if response.get("description").and_then(Value::as_str).is_none_or(str::is_empty) {
            response.insert("description".into(), Value::String(reason(code).into()));
        }
        if code >= 400 {
            response.insert(
                "content".into(),
                json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}),
            );
            if matches!(code, 429 | 503) {
                response.insert(
                    "headers".into(),
                    json!({"Retry-After": {"description": "seconds to wait before retrying",
                                           "schema": {"type": "integer", "minimum": 0}}}),
                );
            }
        }
    }
}

/// The description of a status without one of its own.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => "The request is invalid; `field` names the offending input where there is one",
        401 => "Missing or invalid API key (`Authorization: Bearer <secret>`)",
        403 => "The key may not do this (its permission or the ledger's kind)",
        404 => "Not found, or outside the key's account or scope",
        405 => "Events are immutable",
        408 => "The request body did not arrive in time",
        409 => "Conflicts with what is stored",
        410 => "The ledger's keys were destroyed",
        413 => "The request body or batch is too large",
        422 => "Well-formed but cannot be satisfied",
        429 => "Rate limit exceeded, or too many failed authentications from this address",
        500 => "Internal error (logged), or an integrity check of stored data failed",
        503 => "Overloaded, shutting down, or the key provider is unavailable; retry after `Retry-After`",
        _ => "Response",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_response_gets_a_description_and_errors_are_problem_documents() {
        let document = json!({"paths": {
            "/ledgers/{ledger}/events": {"post": {
                "security": [{"bearer": []}], "requestBody": {},
                "responses": {"201": {"description": "committed"}, "409": {"content": {"application/json": {}}}}
            }},
            "/checkpoint-key": {"get": {"responses": {"200": {}}}}
        }});
        let done = finish(document);
        let post = &done["paths"]["/ledgers/{ledger}/events"]["post"]["responses"];
        for status in ["400", "401", "403", "404", "408", "409", "413", "429", "500", "503"] {
            assert!(post[status]["description"].as_str().is_some_and(|d| !d.is_empty()), "{status}");
            assert_eq!(
                post[status]["content"],
                json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}),
                "{status}"
            );
        }
        assert_eq!(post["201"]["description"], "committed", "a description of its own is kept");
        assert!(post["429"]["headers"]["Retry-After"].is_object());
        let public = &done["paths"]["/checkpoint-key"]["get"]["responses"];
        assert_eq!(public["200"]["description"], "OK");
        assert!(public.get("401").is_none(), "a public route needs no key");
        assert!(public.get("503").is_some(), "reads may be shed");
    }
}
