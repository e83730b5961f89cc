//! Integration tests of reelforest-serve: the JSON API through the whole router ([`api`]),
//! hot reload on a running server ([`reload`]), and the pages in a real headless Chromium
//! ([`browser`], driven by the small DevTools client in [`cdp`]). All of them share one
//! generated warehouse with a trained model ([`fixture`]).

mod api;
mod browser;
mod cdp;
mod fixture;
mod reload;
