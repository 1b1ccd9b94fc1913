//! A trigger URL's query and the router: arbitrary text never panics; a query that parses
//! names only values it held, in their raw alphabet, and any route is 8 hex characters.
#![no_main]

use hookgate::trigger::{parse_query, Target};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = hookgate::router::route(text);
    if let Ok(q) = parse_query(Some(text)) {
        match q.target {
            Target::Token(t) => assert!(text.contains(t) && !t.contains('%') && !t.contains('+')),
            Target::Legacy { key, project } => {
                assert!(text.contains(key) && text.contains(project));
                assert!(key.bytes().all(|b| b.is_ascii_alphanumeric()));
                assert!(project.bytes().all(|b| b.is_ascii_alphanumeric()));
            }
        }
        if let Some(r) = q.route {
            assert!(r.len() == 8 && r.bytes().all(|b| b.is_ascii_hexdigit()));
        }
    }
});
