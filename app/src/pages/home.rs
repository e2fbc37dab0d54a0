use leptos::prelude::*;
use leptos_meta::Title;

/// The landing page of the dashboard.
#[component]
pub fn Home() -> impl IntoView {
    view! {
        <Title text="" />
        <section class="hero">
            <h1>"AuditStore"</h1>
            <p class="lead">
                "Tamper-evident audit trails for your application: every event is chained, \
                 committed to a Merkle tree and covered by a signed checkpoint, so anyone can \
                 prove it was neither altered nor removed."
            </p>
            <p>
                <a class="button" href="/login">"Sign in to the dashboard"</a>
            </p>
        </section>
        <section class="cards" aria-label="What the dashboard offers">
            <article class="card">
                <h2>"Ledgers"</h2>
                <p>"Per-customer, append-only event ledgers with a hash chain and an RFC 9162 Merkle tree."</p>
            </article>
            <article class="card">
                <h2>"Verification in your browser"</h2>
                <p>"Proofs are checked on your machine against a signed checkpoint, without trusting the server."</p>
            </article>
            <article class="card">
                <h2>"Encryption at rest"</h2>
                <p>"Event content is sealed with per-ledger AES-256-GCM keys wrapped by a local key or AWS KMS."</p>
            </article>
        </section>
    }
}
