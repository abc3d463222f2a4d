use super::{
    Api, ApiKey, Authorizer, Deployment, Domain, Integration, Route, Stage, UsagePlan, UsagePlanKey,
};
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
    Authorizer,
    ApiKey,
    UsagePlan,
    UsagePlanKey,
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
            ObjectKind::Authorizer => "authorizer",
            ObjectKind::ApiKey => "api_key",
            ObjectKind::UsagePlan => "usage_plan",
            ObjectKind::UsagePlanKey => "usage_plan_key",
        }
    }

    /// Kinds that live inside an API and go when it goes.
    pub fn is_api_child(self) -> bool {
        matches!(
            self,
            ObjectKind::Route
                | ObjectKind::Integration
                | ObjectKind::Deployment
                | ObjectKind::Stage
                | ObjectKind::Authorizer
        )
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
    Authorizer(Authorizer),
    ApiKey(ApiKey),
    UsagePlan(UsagePlan),
    UsagePlanKey(UsagePlanKey),
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
            Object::Authorizer(a) => (ObjectKind::Authorizer, format!("{}/{}", a.api_id, a.id)),
            Object::ApiKey(k) => (ObjectKind::ApiKey, k.id.clone()),
            Object::UsagePlan(p) => (ObjectKind::UsagePlan, p.id.clone()),
            Object::UsagePlanKey(k) => (
                ObjectKind::UsagePlanKey,
                format!("{}/{}", k.plan_id, k.key_id),
            ),
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
