//! The HTML document around the app, rendered only on the server.

use leptos::prelude::*;
use leptos_meta::MetaTags;

use crate::App;

/// The full HTML document: head (metadata, stylesheet, hydration scripts) and
/// the app in the body. The hydration scripts carry the per-request CSP nonce
/// that the server put into the context, so no `unsafe-inline` is needed.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let pkg = options.site_pkg_dir.clone();
    let output = options.output_name.clone();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <link rel="stylesheet" href=format!("/{pkg}/{output}.css") />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}
