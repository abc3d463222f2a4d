use super::*;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use proptest::prelude::*;

fn router(routes: &[(&str, &str)]) -> Router<String> {
    let mut r = Router::default();
    for (method, path) in routes {
        r.insert(method, path, format!("{method} {path}")).unwrap();
    }
    r
}

fn hit(r: &Router<String>, method: &str, path: &str) -> Option<String> {
    r.find(method, path).ok().map(|m| m.entry.value.clone())
}

#[test]
fn static_beats_param_beats_greedy() {
    let r = router(&[
        ("GET", "/pets/dog"),
        ("GET", "/pets/{id}"),
        ("GET", "/{proxy+}"),
    ]);
    assert_eq!(hit(&r, "GET", "/pets/dog").unwrap(), "GET /pets/dog");
    assert_eq!(hit(&r, "GET", "/pets/cat").unwrap(), "GET /pets/{id}");
    assert_eq!(hit(&r, "GET", "/pets/cat/toys").unwrap(), "GET /{proxy+}");
    assert_eq!(hit(&r, "GET", "/").as_deref(), None);
}

#[test]
fn exact_method_beats_any_and_any_matches_every_method() {
    let r = router(&[("GET", "/items"), ("ANY", "/items")]);
    assert_eq!(hit(&r, "GET", "/items").unwrap(), "GET /items");
    assert_eq!(hit(&r, "DELETE", "/items").unwrap(), "ANY /items");
}

#[test]
fn a_method_miss_falls_back_to_a_less_specific_path() {
    let r = router(&[("GET", "/pets/{id}"), ("ANY", "/{proxy+}")]);
    assert_eq!(hit(&r, "POST", "/pets/1").unwrap(), "ANY /{proxy+}");
    assert_eq!(
        r.find("POST", "/nothing").unwrap().params[0].value,
        "nothing"
    );
}

#[test]
fn default_route_catches_the_rest() {
    let r = router(&[("GET", "/a"), ("ANY", "$default")]);
    assert_eq!(hit(&r, "GET", "/a").unwrap(), "GET /a");
    assert_eq!(hit(&r, "GET", "/b/c").unwrap(), "ANY $default");
    assert_eq!(hit(&r, "POST", "/a").unwrap(), "ANY $default");
}

#[test]
fn params_are_decoded_and_greedy_keeps_the_raw_rest() {
    let r = router(&[("GET", "/users/{user}/files/{path+}")]);
    let m = r
        .find("GET", "/users/j%C3%B6rg/files/a%20b/c%2Fd.txt")
        .unwrap();
    assert_eq!(m.params[0].value, "jörg");
    assert_eq!(m.params[1].value, "a b/c/d.txt");
    assert_eq!(m.params[1].raw, "a%20b/c%2Fd.txt");
    assert_eq!(
        m.entry
            .param_names
            .iter()
            .map(|n| n.as_ref())
            .collect::<Vec<_>>(),
        ["user", "path"]
    );
}

#[test]
fn greedy_needs_at_least_one_segment_and_trailing_slash_is_ignored() {
    let r = router(&[("GET", "/files/{proxy+}"), ("GET", "/files")]);
    assert_eq!(hit(&r, "GET", "/files").unwrap(), "GET /files");
    assert_eq!(hit(&r, "GET", "/files/").unwrap(), "GET /files");
    assert_eq!(hit(&r, "GET", "/files/x").unwrap(), "GET /files/{proxy+}");
}

#[test]
fn bad_paths_are_refused() {
    let r = router(&[("ANY", "/{proxy+}")]);
    assert!(matches!(
        r.find("GET", "/a/%FF"),
        Err(MatchError::BadPath(_))
    ));
    assert!(matches!(
        r.find("GET", "/a/../b"),
        Err(MatchError::BadPath(_))
    ));
    assert!(matches!(
        r.find("GET", "/a/%2e%2e/b"),
        Err(MatchError::BadPath(_))
    ));
    assert_eq!(
        router(&[]).find("GET", "/x").unwrap_err(),
        MatchError::NotFound
    );
}

#[test]
fn duplicate_routes_are_refused() {
    let mut r = router(&[("GET", "/a/{x}")]);
    assert!(r.insert("GET", "/a/{y}", String::new()).is_err());
    assert!(r.insert("POST", "/a/{y}", String::new()).is_ok());
}

const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'~');

proptest! {
    /// Any text captured by a parameter comes back exactly, however it had to be encoded.
    #[test]
    fn param_values_round_trip_through_percent_encoding(value in "\\PC{1,24}", tail in proptest::collection::vec("\\PC{1,8}", 1..4)) {
        prop_assume!(value != "." && value != ".." && tail.iter().all(|t| t != "." && t != ".."));
        let r = router(&[("GET", "/v/{value}/{rest+}")]);
        let encoded: Vec<String> = tail.iter().map(|t| utf8_percent_encode(t, SEGMENT).to_string()).collect();
        let path = format!("/v/{}/{}", utf8_percent_encode(&value, SEGMENT), encoded.join("/"));
        let m = r.find("GET", &path).unwrap();
        prop_assert_eq!(&m.params[0].value, &value);
        prop_assert_eq!(&m.params[1].value, &tail.join("/"));
        prop_assert_eq!(m.params[1].raw, encoded.join("/"));
    }

    /// The matcher never panics, whatever the path.
    #[test]
    fn arbitrary_paths_never_panic(path in "/[a-z%0-9/.{}+]{0,40}") {
        let r = router(&[("GET", "/a/{b}"), ("ANY", "/{proxy+}"), ("POST", "/a/b/c")]);
        let _ = r.find("GET", &path);
    }

    /// A static route always wins over a parameter route for its own path.
    #[test]
    fn static_routes_win_for_their_own_path(name in "[a-z]{1,10}") {
        let r = router(&[("GET", "/x/{p}"), ("GET", &format!("/x/{name}"))]);
        prop_assert_eq!(hit(&r, "GET", &format!("/x/{name}")).unwrap(), format!("GET /x/{name}"));
    }
}
