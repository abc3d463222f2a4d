//! The route matcher: a trie over path segments. Precedence follows Amazon API Gateway: a
//! static segment beats `{param}`, which beats `{proxy+}`; at one path an exact method beats
//! `ANY`; an HTTP API's `$default` route catches what nothing else does.

use edgeway_shared::path::{Segment, parse_template};
use percent_encoding::percent_decode_str;
use smallvec::SmallVec;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// What a route stores: the names of its parameters in path order, and the caller's value.
#[derive(Debug)]
pub struct Entry<T> {
    pub param_names: Vec<Arc<str>>,
    pub value: T,
}

/// A captured path parameter: decoded for mapping, raw for forwarding unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param<'p> {
    pub name: Arc<str>,
    pub value: String,
    pub raw: &'p str,
}

#[derive(Debug)]
pub struct Matched<'r, 'p, T> {
    pub entry: &'r Entry<T>,
    pub params: Vec<Param<'p>>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum MatchError {
    /// No route for this path and method.
    NotFound,
    /// The path is not valid UTF-8 after percent-decoding, or holds `.`/`..` segments.
    BadPath(&'static str),
}

#[derive(Debug)]
struct Methods<T> {
    exact: Vec<(String, Entry<T>)>,
    any: Option<Entry<T>>,
}

impl<T> Default for Methods<T> {
    fn default() -> Self {
        Methods {
            exact: Vec::new(),
            any: None,
        }
    }
}

impl<T> Methods<T> {
    fn get(&self, method: &str) -> Option<&Entry<T>> {
        self.exact
            .iter()
            .find(|(m, _)| m == method)
            .map(|(_, e)| e)
            .or(self.any.as_ref())
    }

    fn insert(&mut self, method: &str, entry: Entry<T>) -> Result<(), String> {
        let taken = if method == "ANY" {
            self.any.is_some()
        } else {
            self.exact.iter().any(|(m, _)| m == method)
        };
        if taken {
            return Err(format!("two routes for {method} at the same path"));
        }
        if method == "ANY" {
            self.any = Some(entry)
        } else {
            self.exact.push((method.to_string(), entry))
        }
        Ok(())
    }
}

#[derive(Debug)]
struct Node<T> {
    statics: HashMap<String, Node<T>>,
    param: Option<Box<Node<T>>>,
    greedy: Methods<T>,
    here: Methods<T>,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node {
            statics: HashMap::new(),
            param: None,
            greedy: Methods::default(),
            here: Methods::default(),
        }
    }
}

#[derive(Debug)]
pub struct Router<T> {
    root: Node<T>,
    default: Option<Entry<T>>,
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Router {
            root: Node::default(),
            default: None,
        }
    }
}

impl<T> Router<T> {
    /// Adds a route; `path` is a template or `$default`.
    pub fn insert(&mut self, method: &str, path: &str, value: T) -> Result<(), String> {
        if path == edgeway_shared::DEFAULT_ROUTE {
            if self.default.is_some() {
                return Err("two $default routes".into());
            }
            self.default = Some(Entry {
                param_names: Vec::new(),
                value,
            });
            return Ok(());
        }
        let mut node = &mut self.root;
        let mut names = Vec::new();
        for segment in parse_template(path)? {
            match segment {
                Segment::Static(s) => node = node.statics.entry(s).or_default(),
                Segment::Param(name) => {
                    names.push(Arc::from(name));
                    node = node.param.get_or_insert_with(Default::default);
                }
                Segment::Greedy(name) => {
                    names.push(Arc::from(name));
                    return node.greedy.insert(
                        method,
                        Entry {
                            param_names: names,
                            value,
                        },
                    );
                }
            }
        }
        node.here.insert(
            method,
            Entry {
                param_names: names,
                value,
            },
        )
    }

    /// Finds the route for a request path (as sent, percent-encoded; no query string).
    pub fn find<'r, 'p>(
        &'r self,
        method: &str,
        path: &'p str,
    ) -> Result<Matched<'r, 'p, T>, MatchError> {
        let raw = split(path);
        let decoded = raw
            .iter()
            .map(|s| decode(s))
            .collect::<Result<Segments<Cow<str>>, _>>()?;
        let mut captures = Segments::new();
        let found = walk(&self.root, &raw, &decoded, 0, method, &mut captures);
        let Some((entry, greedy_from)) = found else {
            return self
                .default
                .as_ref()
                .map(|entry| Matched {
                    entry,
                    params: Vec::new(),
                })
                .ok_or(MatchError::NotFound);
        };
        let mut params: Vec<Param<'p>> = captures
            .iter()
            .zip(&entry.param_names)
            .map(|(&i, name)| Param {
                name: name.clone(),
                value: decoded[i].to_string(),
                raw: raw[i],
            })
            .collect();
        if let Some(from) = greedy_from {
            let name = entry
                .param_names
                .last()
                .expect("greedy routes name their parameter")
                .clone();
            let value = decoded[from..].join("/");
            params.push(Param {
                name,
                value,
                raw: rest_of(path, &raw, from),
            });
        }
        Ok(Matched { entry, params })
    }
}

/// Depth-first in precedence order; returns the entry and, for a greedy match, where it starts.
fn walk<'r, T>(
    node: &'r Node<T>,
    raw: &[&str],
    decoded: &[Cow<'_, str>],
    at: usize,
    method: &str,
    captures: &mut Segments<usize>,
) -> Option<(&'r Entry<T>, Option<usize>)> {
    if at == raw.len() {
        return node.here.get(method).map(|e| (e, None));
    }
    if let Some(child) = node.statics.get(decoded[at].as_ref())
        && let Some(found) = walk(child, raw, decoded, at + 1, method, captures)
    {
        return Some(found);
    }
    if let Some(child) = &node.param {
        captures.push(at);
        if let Some(found) = walk(child, raw, decoded, at + 1, method, captures) {
            return Some(found);
        }
        captures.pop();
    }
    node.greedy.get(method).map(|e| (e, Some(at)))
}

/// `/a/b/` → `["a", "b"]`; `/` → `[]`. One trailing slash is ignored, as AWS does.
/// Per-segment values of one lookup: on the stack for paths of up to 8 segments (every request
/// is matched, and three heap vectors per request showed in profiles).
type Segments<T> = SmallVec<[T; 8]>;

fn split(path: &str) -> Segments<&str> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    if trimmed.is_empty() {
        Segments::new()
    } else {
        trimmed.split('/').collect()
    }
}

fn decode(segment: &str) -> Result<Cow<'_, str>, MatchError> {
    let decoded = percent_decode_str(segment)
        .decode_utf8()
        .map_err(|_| MatchError::BadPath("path is not valid UTF-8"))?;
    if decoded == "." || decoded == ".." {
        return Err(MatchError::BadPath("path holds a '.' or '..' segment"));
    }
    Ok(decoded)
}

/// The raw text of segments `from..` of `path`.
fn rest_of<'p>(path: &'p str, raw: &[&'p str], from: usize) -> &'p str {
    let start = raw[from].as_ptr() as usize - path.as_ptr() as usize;
    let last = raw[raw.len() - 1];
    let end = last.as_ptr() as usize - path.as_ptr() as usize + last.len();
    &path[start..end]
}

#[cfg(test)]
mod tests;
