//! The browser entry point. `hydrate()` is called by the module script that
//! the server-rendered page loads from `/pkg/auditstore.js`; it attaches the
//! reactive system to the HTML the server already sent instead of
//! re-rendering it.

use wasm_bindgen::prelude::wasm_bindgen;

/// Hydrates the dashboard rendered by the server.
#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
