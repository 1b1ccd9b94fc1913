//! What a hostile or broken Cattle could answer: arbitrary bytes never panic the client's
//! decoding of its collections, resources and errors.
#![no_main]

use hookgate::cattle::wire::{
    Collection, ErrorBody, GenericObject, Host, HostTemplate, Project, ScaledService, Service,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<Collection<Service>>(data);
    let _ = serde_json::from_slice::<Collection<GenericObject>>(data);
    let _ = serde_json::from_slice::<Collection<Host>>(data);
    let _ = serde_json::from_slice::<Collection<HostTemplate>>(data);
    let _ = serde_json::from_slice::<Collection<Project>>(data);
    let _ = serde_json::from_slice::<ErrorBody>(data);
    let _ = serde_json::from_slice::<ScaledService>(data);
    if let Ok(go) = serde_json::from_slice::<GenericObject>(data) {
        let _ = go.is_live();
        let _ = hookgate::legacy::listed(&go);
    }
});
