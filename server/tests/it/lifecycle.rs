//! Retention policies and legal holds over the /v1 API, on SQLite and
//! PostgreSQL: who may set them, what is refused with which status, and
//! what the system ledger records.

use reqwest::Method;
use serde_json::{json, Value};

use crate::api::{account, servers, Account};

/// The metadata of the system ledger's events with `action`, newest first.
async fn recorded(account: &Account, action: &str) -> Vec<Value> {
    let system = account.system_ledger().await;
    let reader = account.key("read", Some(vec![&system])).await;
    let (status, page) = account.get(&format!("/v1/ledgers/{system}/events?action={action}"), &reader).await;
    assert_eq!(status, 200, "{page}");
    page["events"].as_array().expect("events").iter().map(|e| e["metadata"].clone()).collect()
}

#[tokio::test]
async fn a_retention_policy_is_set_read_and_once_locked_only_lengthened() {
    for server in servers().await {
        let account = account(server).await;
        let ledger = account.ledger("billing").await;
        let path = format!("/v1/ledgers/{ledger}/retention");
        let (status, body) = account.get(&path, &account.admin).await;
        assert_eq!(status, 404, "no policy: {body}");
        assert!(body["detail"].as_str().expect("detail").contains("retention policy"), "{body}");

        // Only admin keys, and bad input names the field and changes nothing.
        let writer = account.key("write", Some(vec![&ledger])).await;
        let (status, _) = account.send(Method::PUT, &path, &writer, Some(json!({"days": 30}))).await;
        assert_eq!(status, 403);
        for (body, field) in [
            (json!({"days": 0}), "days"),
            (json!({"days": 36501}), "days"),
            (json!({"days": "30"}), "days"),
            (json!({"days": 30, "lock": true}), "lock"),
        ] {
            let (status, problem) = account.send(Method::PUT, &path, &account.admin, Some(body.clone())).await;
            assert_eq!(status, 400, "{body}: {problem}");
            assert!(problem.to_string().contains(field), "{body}: {problem}");
        }
        assert_eq!(account.get(&path, &account.admin).await.0, 404, "nothing was set");

        let (status, set) = account.send(Method::PUT, &path, &account.admin, Some(json!({"days": 30}))).await;
        assert_eq!(status, 200, "{set}");
        assert_eq!((set["days"].clone(), set["locked"].clone()), (json!(30), json!(false)));
        assert_eq!(set["set_by"]["type"], "api_key");
        assert!(set["set_at"].as_str().is_some() && set.get("locked_at").is_none(), "{set}");
        let (status, _) = account.send(Method::DELETE, &path, &account.admin, None).await;
        assert_eq!(status, 204, "an unlocked policy can be removed");

        let (status, locked) =
            account.send(Method::PUT, &path, &account.admin, Some(json!({"days": 2555, "locked": true}))).await;
        assert_eq!(status, 200, "{locked}");
        assert!(locked["locked_at"].as_str().is_some(), "{locked}");
        for body in [json!({"days": 30, "locked": true}), json!({"days": 3000, "locked": false})] {
            let (status, problem) = account.send(Method::PUT, &path, &account.admin, Some(body.clone())).await;
            assert_eq!(status, 409, "{body}: {problem}");
            assert!(problem["detail"].as_str().expect("detail").contains("locked at 2555 days"), "{problem}");
        }
        let (status, problem) = account.send(Method::DELETE, &path, &account.admin, None).await;
        assert_eq!(status, 409, "{problem}");
        let (status, longer) =
            account.send(Method::PUT, &path, &account.admin, Some(json!({"days": 3650, "locked": true}))).await;
        assert_eq!(status, 200, "{longer}");
        assert_eq!(longer["locked_at"], locked["locked_at"], "locked once, for good");
        let (_, read) = account.get(&path, &account.admin).await;
        assert_eq!(read, longer);

        let set = recorded(&account, "retention.set").await;
        assert_eq!(set.len(), 3, "{set:?}");
        assert_eq!(set[0]["days"], 3650);
        assert_eq!(set[0]["previous_days"], 2555);
        assert_eq!(recorded(&account, "retention.removed").await.len(), 1);
        let refused = recorded(&account, "retention.change_refused").await;
        assert_eq!(refused.len(), 3, "two changes and a removal: {refused:?}");
        assert!(refused.iter().all(|m| m["ledger"] == ledger.as_str()), "{refused:?}");
    }
}

#[tokio::test]
async fn legal_holds_are_placed_listed_and_released_with_a_reason() {
    for server in servers().await {
        let account = account(server).await;
        let billing = account.ledger("billing").await;
        let other = account.ledger("other").await;
        let holds = format!("/v1/ledgers/{billing}/holds");
        let body = json!({"case": "SEC-2026-17", "reason": "subpoena of 3 Nov",
                          "scope": {"actor_id": "jane", "from": "2025-01-01T00:00:00+01:00"}});
        let (status, jane) = account.post(&holds, &account.admin, body).await;
        assert_eq!(status, 201, "{jane}");
        assert_eq!(jane["ledger"], billing.as_str());
        assert_eq!(jane["status"], "active");
        assert_eq!(jane["scope"], json!({"actor_id": "jane", "from": "2024-12-31T23:00:00.000Z"}));
        let id = jane["id"].as_str().expect("id").to_owned();

        for (body, field) in [
            (json!({"case": "", "reason": "r"}), "case"),
            (json!({"case": "c"}), "reason"),
            (
                json!({"case": "c", "reason": "r", "scope": {"from": "2025-02-01T00:00:00Z", "to": "2025-01-01T00:00:00Z"}}),
                "scope.to",
            ),
            (json!({"case": "c", "reason": "r", "scope": {"from": "last week"}}), "scope.from"),
            (json!({"case": "c", "reason": "r", "scope": {"actor": "jane"}}), "actor"),
        ] {
            let (status, problem) = account.post(&holds, &account.admin, body.clone()).await;
            assert_eq!(status, 400, "{body}: {problem}");
            assert!(problem.to_string().contains(field), "{body}: {problem}");
        }

        let whole = json!({"case": "Audit 2026", "reason": "annual audit"});
        let writer = account.key("write", None).await;
        assert_eq!(account.post("/v1/holds", &writer, whole.clone()).await.0, 403, "holds are an admin matter");
        let (status, everything) = account.post("/v1/holds", &account.admin, whole).await;
        assert_eq!(status, 201, "{everything}");
        assert_eq!((everything["ledger"].clone(), everything["scope"].clone()), (Value::Null, json!({})));
        let everything_id = everything["id"].as_str().expect("id").to_owned();

        let ids = |list: &Value| -> Vec<String> {
            list["holds"].as_array().expect("holds").iter().map(|h| h["id"].as_str().expect("id").to_owned()).collect()
        };
        let (_, listed) = account.get(&holds, &account.admin).await;
        assert_eq!(ids(&listed), [everything_id.clone(), id.clone()]);
        let (_, listed) = account.get(&format!("/v1/ledgers/{other}/holds"), &account.admin).await;
        assert_eq!(ids(&listed), [everything_id.as_str()], "only the account-wide hold applies there");
        let (_, listed) = account.get("/v1/holds", &account.admin).await;
        assert_eq!(ids(&listed), [everything_id.clone(), id.clone()]);
        let (status, one) = account.get(&format!("/v1/holds/{id}"), &account.admin).await;
        assert_eq!((status, &one), (200, &jane));
        let stranger = account.server.bootstrap("stranger").await;
        let stranger = stranger["admin_key"].as_str().expect("admin key");
        let (status, _) = account.get(&format!("/v1/holds/{id}"), stranger).await;
        assert_eq!(status, 404, "another account's hold is not found");
        let (status, _) = account.post(&format!("/v1/holds/{id}/release"), stranger, json!({"reason": "x"})).await;
        assert_eq!(status, 404);
        let reader = account.key("read", None).await;
        assert_eq!(account.get("/v1/holds", &reader).await.0, 403, "holds are an admin matter");

        let release = format!("/v1/holds/{id}/release");
        let (status, problem) = account.post(&release, &account.admin, json!({})).await;
        assert_eq!(status, 400, "a release needs a reason: {problem}");
        let (status, released) = account.post(&release, &account.admin, json!({"reason": "case closed"})).await;
        assert_eq!(status, 200, "{released}");
        assert_eq!(
            (released["status"].clone(), released["release_reason"].clone()),
            (json!("released"), json!("case closed"))
        );
        assert!(released["released_at"].as_str().is_some());
        let (status, problem) = account.post(&release, &account.admin, json!({"reason": "again"})).await;
        assert_eq!(status, 409, "{problem}");
        let (_, active) = account.get(&format!("{holds}?active=true"), &account.admin).await;
        assert_eq!(ids(&active), [everything_id.as_str()]);
        let (status, _) = account.get(&format!("{holds}?active=maybe"), &account.admin).await;
        assert_eq!(status, 400);

        let placed = recorded(&account, "legal_hold.placed").await;
        assert_eq!(placed.len(), 2, "{placed:?}");
        assert_eq!(placed[1]["case"], "SEC-2026-17");
        let released = recorded(&account, "legal_hold.released").await;
        assert_eq!(released.len(), 1);
        assert_eq!(released[0]["reason"], "case closed");
    }
}
