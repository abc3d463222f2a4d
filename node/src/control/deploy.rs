//! Deployments: immutable snapshots of an API, made on request, by auto-deploy stages, and by
//! applying a whole API document.

use super::{Control, ControlError, Result, check, children, key, new_id, stored_api};
use crate::store::{Change, State};
use edgeway_shared::admin::{ApiDocument, DeployRequest};
use edgeway_shared::validate::check_routes;
use edgeway_shared::{
    Api, ApiKind, Authorizer, Deployment, Integration, Object, ObjectKey, ObjectKind, Route, Stage,
};
use std::collections::BTreeMap;

/// An API's contents as they will be once `pending` is stored.
struct Contents {
    api: Api,
    routes: Vec<Route>,
    integrations: Vec<Integration>,
    authorizers: Vec<Authorizer>,
    stages: Vec<Stage>,
    deployments: BTreeMap<String, Deployment>,
}

fn contents(view: &State, api_id: &str, pending: &[Change]) -> Result<Contents> {
    let mut objects: BTreeMap<ObjectKey, Object> = children(view, api_id)
        .map(|o| (o.key(), o.clone()))
        .collect();
    let mut api = stored_api(view, api_id).ok();
    for change in pending {
        match change {
            Change::Put(Object::Api(a)) if a.id == api_id => api = Some(a.clone()),
            Change::Put(o) => {
                objects.insert(o.key(), o.clone());
            }
            Change::Delete(k) => {
                objects.remove(k);
            }
        }
    }
    let api = api.ok_or_else(|| ControlError::NotFound(format!("api {api_id}")))?;
    let mut c = Contents {
        api,
        routes: vec![],
        integrations: vec![],
        authorizers: vec![],
        stages: vec![],
        deployments: BTreeMap::new(),
    };
    for object in objects.into_values() {
        match object {
            Object::Route(r) => c.routes.push(r),
            Object::Integration(i) => c.integrations.push(i),
            Object::Stage(s) => c.stages.push(s),
            Object::Authorizer(a) => c.authorizers.push(a),
            Object::Deployment(d) => {
                c.deployments.insert(d.id.clone(), d);
            }
            _ => {}
        }
    }
    Ok(c)
}

impl Contents {
    fn serves_current(&self, stage: &Stage) -> bool {
        stage
            .deployment_id
            .as_ref()
            .and_then(|id| self.deployments.get(id))
            .is_some_and(|d| {
                d.api == self.api
                    && d.routes == self.routes
                    && d.integrations == self.integrations
                    && d.authorizers == self.authorizers
            })
    }

    fn deployment(&self, description: String) -> Result<Deployment> {
        check_routes(
            &self.api,
            &self.routes,
            &self.integrations,
            &self.authorizers,
        )?;
        Ok(Deployment {
            id: new_id(),
            api_id: self.api.id.clone(),
            description,
            created_at: edgeway_shared::version::wall_millis(),
            api: self.api.clone(),
            routes: self.routes.clone(),
            integrations: self.integrations.clone(),
            authorizers: self.authorizers.clone(),
        })
    }

    /// Points `stage` at a new deployment unless it already serves these contents.
    fn deploy_to(&self, mut stage: Stage, description: &str, out: &mut Vec<Change>) -> Result<()> {
        if self.serves_current(&stage) {
            return Ok(());
        }
        let deployment = self.deployment(description.to_string())?;
        stage.deployment_id = Some(deployment.id.clone());
        out.push(Change::Put(Object::Deployment(deployment)));
        out.push(Change::Put(Object::Stage(stage)));
        Ok(())
    }
}

/// New deployments for the auto-deploy stages of an HTTP API, after `pending`.
pub(super) fn auto_deploy(view: &State, api_id: &str, pending: &[Change]) -> Result<Vec<Change>> {
    let Ok(c) = contents(view, api_id, pending) else {
        return Ok(vec![]);
    };
    let mut out = Vec::new();
    if c.api.kind == ApiKind::Http {
        for stage in c.stages.iter().filter(|s| s.auto_deploy) {
            c.deploy_to(stage.clone(), "auto-deploy", &mut out)?;
        }
    }
    Ok(out)
}

/// AWS-style route id from its key: `GET /pets/{id}` → `get-pets-id`, `$connect` → `connect`.
pub fn route_id(route: &Route) -> String {
    let raw = match &route.route_key {
        Some(key) => key.to_ascii_lowercase(),
        None => format!("{} {}", route.method, route.path).to_ascii_lowercase(),
    };
    let slug: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let slug = slug
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    slug.chars().take(64).collect()
}

impl Control {
    /// Snapshots the API as stored now, optionally pointing a stage at it.
    pub async fn deploy(&self, api_id: &str, request: DeployRequest) -> Result<Deployment> {
        let _write = self.writes.lock().await;
        let view = self.store.view();
        let c = contents(&view, api_id, &[])?;
        let deployment = c.deployment(request.description)?;
        let mut changes = vec![Change::Put(Object::Deployment(deployment.clone()))];
        if let Some(name) = request.stage {
            let mut stage =
                existing_stage(&view, api_id, &name).unwrap_or_else(|| new_stage(api_id, &name));
            stage.validate(c.api.kind)?;
            stage.deployment_id = Some(deployment.id.clone());
            changes.push(Change::Put(Object::Stage(stage)));
        }
        self.commit(changes).await?;
        Ok(deployment)
    }

    /// Makes the API exactly what the document says, in one durable write. Applying the same
    /// document again changes nothing.
    pub async fn apply_document(&self, mut doc: ApiDocument) -> Result<()> {
        let _write = self.writes.lock().await;
        let view = self.store.view();
        let api_id = doc.api.id.clone();
        check(&view, &Object::Api(doc.api.clone()))?;
        let kind = doc.api.kind;
        for i in &mut doc.integrations {
            i.api_id = api_id.clone();
            i.validate()?;
        }
        for r in &mut doc.routes {
            r.api_id = api_id.clone();
            if r.id.is_empty() {
                r.id = route_id(r);
            }
            r.validate(kind)?;
        }
        for a in &mut doc.authorizers {
            a.api_id = api_id.clone();
            a.validate()?;
        }
        check_routes(&doc.api, &doc.routes, &doc.integrations, &doc.authorizers)?;
        let mut changes = vec![Change::Put(Object::Api(doc.api.clone()))];
        for mut s in doc.stages.clone() {
            s.api_id = api_id.clone();
            s.validate(kind)?;
            if s.deployment_id.is_none() {
                s.deployment_id =
                    existing_stage(&view, &api_id, &s.name).and_then(|old| old.deployment_id);
            }
            changes.push(Change::Put(Object::Stage(s)));
        }
        changes.extend(
            doc.integrations
                .iter()
                .cloned()
                .map(|i| Change::Put(Object::Integration(i))),
        );
        changes.extend(
            doc.routes
                .iter()
                .cloned()
                .map(|r| Change::Put(Object::Route(r))),
        );
        changes.extend(
            doc.authorizers
                .iter()
                .cloned()
                .map(|a| Change::Put(Object::Authorizer(a))),
        );
        let named: Vec<ObjectKey> = changes
            .iter()
            .filter_map(|c| {
                if let Change::Put(o) = c {
                    Some(o.key())
                } else {
                    None
                }
            })
            .collect();
        let stale = children(&view, &api_id)
            .filter(|o| !matches!(o, Object::Deployment(_)) && !named.contains(&o.key()))
            .map(|o| Change::Delete(o.key()))
            .collect::<Vec<_>>();
        changes.extend(stale);

        let c = contents(&view, &api_id, &changes)?;
        let auto = c
            .stages
            .iter()
            .filter(|s| s.auto_deploy && kind == ApiKind::Http)
            .map(|s| s.name.clone());
        let targets: std::collections::BTreeSet<String> =
            doc.deploy_to.iter().cloned().chain(auto).collect();
        let mut deploys = Vec::new();
        for name in &targets {
            let stage = c
                .stages
                .iter()
                .find(|s| &s.name == name)
                .cloned()
                .unwrap_or_else(|| new_stage(&api_id, name));
            stage.validate(kind)?;
            c.deploy_to(stage, "applied document", &mut deploys)?;
        }
        changes.extend(deploys);
        self.commit(changes).await
    }

    /// The stored document of an API (what `apply_document` would recreate).
    pub fn document(&self, api_id: &str) -> Result<ApiDocument> {
        let c = contents(&self.store.view(), api_id, &[])?;
        Ok(ApiDocument {
            api: c.api,
            integrations: c.integrations,
            routes: c.routes,
            authorizers: c.authorizers,
            stages: c.stages,
            deploy_to: vec![],
        })
    }
}

fn existing_stage(view: &State, api_id: &str, name: &str) -> Option<Stage> {
    match view
        .get(&key(ObjectKind::Stage, format!("{api_id}/{name}")))
        .and_then(|r| r.object.as_ref())
    {
        Some(Object::Stage(s)) => Some(s.clone()),
        _ => None,
    }
}

fn new_stage(api_id: &str, name: &str) -> Stage {
    Stage {
        api_id: api_id.into(),
        name: name.into(),
        deployment_id: None,
        auto_deploy: false,
        variables: Default::default(),
        description: String::new(),
        throttle: None,
        route_throttles: Default::default(),
        cache: None,
        access_log: None,
    }
}
