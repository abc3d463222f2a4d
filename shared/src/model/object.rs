use super::{Api, Deployment, Domain, Integration, Route, Stage};
use crate::Version;
use serde::{Deserialize, Serialize};

/// Every kind of object the control plane stores and replicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Api,
    Route,
    Integration,
    Deployment,
    Stage,
    Domain,
}

impl ObjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Api => "api",
            ObjectKind::Route => "route",
            ObjectKind::Integration => "integration",
            ObjectKind::Deployment => "deployment",
            ObjectKind::Stage => "stage",
            ObjectKind::Domain => "domain",
        }
    }
}

/// The identity of an object: kind + id (ids of objects inside an API are prefixed by the API
/// id, so they are unique across the cluster).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectKey {
    pub kind: ObjectKind,
    pub id: String,
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind.as_str(), self.id)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Object {
    Api(Api),
    Route(Route),
    Integration(Integration),
    Deployment(Deployment),
    Stage(Stage),
    Domain(Domain),
}

impl Object {
    pub fn key(&self) -> ObjectKey {
        let (kind, id) = match self {
            Object::Api(a) => (ObjectKind::Api, a.id.clone()),
            Object::Route(r) => (ObjectKind::Route, format!("{}/{}", r.api_id, r.id)),
            Object::Integration(i) => (ObjectKind::Integration, format!("{}/{}", i.api_id, i.id)),
            Object::Deployment(d) => (ObjectKind::Deployment, format!("{}/{}", d.api_id, d.id)),
            Object::Stage(s) => (ObjectKind::Stage, s.id()),
            Object::Domain(d) => (ObjectKind::Domain, d.name.clone()),
        };
        ObjectKey { kind, id }
    }
}

/// One stored version of an object; `object: None` is a tombstone (a delete that must
/// replicate before it is forgotten).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub key: ObjectKey,
    pub version: Version,
    pub object: Option<Object>,
}
