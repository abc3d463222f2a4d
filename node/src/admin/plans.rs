//! Usage plans: `/usageplans` CRUD, the keys attached to a plan, and their usage and quota
//! (AWS GetUsage and UpdateUsage).

use super::objects::{create, inner, not_found, one, parse};
use super::{Failure, Reply, bad_request};
use crate::body::json_response;
use crate::control::{Control, new_id};
use crate::pipeline::throttle::calendar::{self, DAY_MS, SystemClock, WallClock};
use crate::pipeline::throttle::{Limiter, QuotaStanding};
use bytes::Bytes;
use edgeway_shared::admin::{PlanKeyInfo, PlanKeyRequest, QuotaInfo, UsageReport, UsageUpdate};
use edgeway_shared::{Object, ObjectKind, UsagePlan, UsagePlanKey};
use http::{Method, StatusCode};

/// The longest usage report, in days (the history the limiter keeps).
const MAX_REPORT_DAYS: i64 = 90;

#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub control: &'a Control,
    pub limiter: &'a dyn Limiter,
}

/// Routes `/usageplans/...`; `segments` come after `usageplans`.
pub async fn route(
    ctx: Ctx<'_>,
    method: &Method,
    segments: &[&str],
    query: &str,
    body: Bytes,
) -> Reply {
    let control = ctx.control;
    match (method, segments) {
        (&Method::GET, []) => {
            let plans = control.store().list(ObjectKind::UsagePlan, "");
            Ok(json_response(
                200,
                &plans.iter().map(inner).collect::<Vec<_>>(),
            ))
        }
        (&Method::POST, []) => {
            let mut plan: UsagePlan = parse(&body)?;
            if plan.id.is_empty() {
                plan.id = new_id();
            }
            create(control, Object::UsagePlan(plan)).await
        }
        (_, [id]) => {
            one(control, method, ObjectKind::UsagePlan, id, || {
                let mut plan: UsagePlan = parse(&body)?;
                plan.id = id.to_string();
                Ok(Object::UsagePlan(plan))
            })
            .await
        }
        (_, [id, "keys", rest @ ..]) => keys(ctx, method, id, rest, body).await,
        (&Method::GET, [id, "usage"]) => usage(ctx, id, query).await,
        _ => Err(not_found(format!(
            "{method} /usageplans/{}",
            segments.join("/")
        ))),
    }
}

/// `/usageplans/{id}/keys[/{key_id}[/usage]]`.
async fn keys(ctx: Ctx<'_>, method: &Method, id: &str, rest: &[&str], body: Bytes) -> Reply {
    let control = ctx.control;
    match (method, rest) {
        (&Method::GET, []) => {
            let plan = plan(control, id)?;
            let mut keys: Vec<PlanKeyInfo> = Vec::new();
            for k in key_ids(control, id) {
                keys.extend(key_info(ctx, &plan, &k).await);
            }
            Ok(json_response(200, &keys))
        }
        (&Method::POST, []) => {
            let request: PlanKeyRequest = parse(&body)?;
            let plan_key = UsagePlanKey {
                plan_id: id.to_string(),
                key_id: request.key_id,
            };
            create(control, Object::UsagePlanKey(plan_key)).await
        }
        (&Method::GET, [key_id]) => {
            let plan = plan(control, id)?;
            attached(control, id, key_id)?;
            let info = key_info(ctx, &plan, key_id)
                .await
                .ok_or_else(|| not_found(format!("api key {key_id}")))?;
            Ok(json_response(200, &info))
        }
        (&Method::DELETE, [key_id]) => {
            attached(control, id, key_id)?;
            control
                .delete(ObjectKind::UsagePlanKey, &format!("{id}/{key_id}"))
                .await?;
            let deleted = format!("api key {key_id} from usage plan {id}");
            Ok(json_response(
                200,
                &serde_json::json!({ "deleted": deleted }),
            ))
        }
        (&Method::PATCH, [key_id, "usage"]) => update_usage(ctx, id, key_id, &body).await,
        _ => Err(not_found(format!(
            "{method} /usageplans/{id}/keys/{}",
            rest.join("/")
        ))),
    }
}

/// AWS UpdateUsage: what is left of the current quota period.
async fn update_usage(ctx: Ctx<'_>, id: &str, key_id: &str, body: &Bytes) -> Reply {
    let plan = plan(ctx.control, id)?;
    attached(ctx.control, id, key_id)?;
    let update: UsageUpdate = parse(body)?;
    let quota = plan.quota.as_ref().ok_or_else(|| {
        Failure(
            StatusCode::CONFLICT,
            "no_quota",
            format!("usage plan {id} has no quota to update"),
        )
    })?;
    let remaining = match (update.remaining, update.reset) {
        (Some(n), false) => Some(n),
        (None, true) => None,
        _ => {
            return Err(bad_request(
                "give either \"remaining\": N or \"reset\": true",
            ));
        }
    };
    ctx.limiter
        .set_quota_remaining(id, key_id, quota, remaining)
        .await
        .map_err(|e| {
            Failure(
                StatusCode::SERVICE_UNAVAILABLE,
                "limiter_unavailable",
                format!("quota not changed: {e}"),
            )
        })?;
    let info = key_info(ctx, &plan, key_id)
        .await
        .ok_or_else(|| not_found(format!("api key {key_id}")))?;
    Ok(json_response(200, &info))
}

fn plan(control: &Control, id: &str) -> Result<UsagePlan, Failure> {
    match control.get(ObjectKind::UsagePlan, id)? {
        Object::UsagePlan(plan) => Ok(plan),
        _ => Err(not_found(format!("usage plan {id}"))),
    }
}

fn attached(control: &Control, plan_id: &str, key_id: &str) -> Result<(), Failure> {
    control
        .get(ObjectKind::UsagePlanKey, &format!("{plan_id}/{key_id}"))
        .map(|_| ())
        .map_err(|_| not_found(format!("api key {key_id} in usage plan {plan_id}")))
}

/// The ids of the keys attached to a plan.
fn key_ids(control: &Control, plan_id: &str) -> Vec<String> {
    control
        .store()
        .list(ObjectKind::UsagePlanKey, &format!("{plan_id}/"))
        .into_iter()
        .filter_map(|o| match o {
            Object::UsagePlanKey(k) if k.plan_id == plan_id => Some(k.key_id),
            _ => None,
        })
        .collect()
}

async fn key_info(ctx: Ctx<'_>, plan: &UsagePlan, key_id: &str) -> Option<PlanKeyInfo> {
    let Ok(Object::ApiKey(key)) = ctx.control.get(ObjectKind::ApiKey, key_id) else {
        return None;
    };
    let mut quota = None;
    if let Some(q) = plan.quota {
        let standing: QuotaStanding = ctx.limiter.quota(&plan.id, key_id, &q).await;
        quota = Some(QuotaInfo {
            limit: q.limit,
            period: q.period,
            offset: q.offset,
            remaining: standing.remaining,
            period_start: rfc3339(standing.period_start_ms),
            period_end: rfc3339(standing.period_end_ms),
        });
    }
    Some(PlanKeyInfo {
        plan_id: plan.id.clone(),
        key_id: key.id,
        name: key.name,
        enabled: key.enabled,
        quota,
    })
}

fn rfc3339(ms: i64) -> String {
    let seconds = ms.div_euclid(1000);
    let (day, second) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (h, m, s) = (second / 3600, second / 60 % 60, second % 60);
    format!("{}T{h:02}:{m:02}:{s:02}Z", calendar::format_day(day))
}

/// AWS GetUsage: `[used, remaining]` per key per day.
async fn usage(ctx: Ctx<'_>, id: &str, query: &str) -> Reply {
    let plan = plan(ctx.control, id)?;
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| {
                percent_encoding::percent_decode_str(v)
                    .decode_utf8_lossy()
                    .into_owned()
            })
    };
    let date = |name: &str| {
        let text =
            param(name).ok_or_else(|| bad_request(format!("{name}: is required (YYYY-MM-DD)")))?;
        calendar::parse_day(&text)
            .ok_or_else(|| bad_request(format!("{name}: '{text}' is not a date (YYYY-MM-DD)")))
    };
    let (first, last) = (date("start_date")?, date("end_date")?);
    if last < first || last - first >= MAX_REPORT_DAYS {
        return Err(bad_request(format!(
            "end_date: must be on or after start_date, at most {MAX_REPORT_DAYS} days in all"
        )));
    }
    let keys = match param("key_id") {
        Some(key) => {
            attached(ctx.control, id, &key)?;
            vec![key]
        }
        None => key_ids(ctx.control, id),
    };
    let mut items = std::collections::BTreeMap::new();
    for key in keys {
        let days = key_days(ctx, &plan, &key, first, last).await;
        items.insert(key, days);
    }
    Ok(json_response(
        200,
        &UsageReport {
            usage_plan_id: id.to_string(),
            start_date: calendar::format_day(first),
            end_date: calendar::format_day(last),
            items,
        },
    ))
}

/// One key's days. A day without requests carries the quota left from the day before within
/// one quota period; today's value is the live one.
async fn key_days(
    ctx: Ctx<'_>,
    plan: &UsagePlan,
    key: &str,
    first: i64,
    last: i64,
) -> Vec<(u64, Option<u64>)> {
    let recorded = ctx
        .limiter
        .usage(&plan.id, key, first - MAX_REPORT_DAYS, last);
    let today = SystemClock.now_ms().div_euclid(DAY_MS);
    let Some(quota) = plan.quota else {
        return (first..=last)
            .map(|d| (recorded.get(&d).map_or(0, |u| u.used), None))
            .collect();
    };
    let live = ctx.limiter.quota(&plan.id, key, &quota).await.remaining;
    let period_of = |day: i64| calendar::period_at(&quota, (day + 1) * DAY_MS - 1).tag;
    // Seed the carried value from the latest record before the report starts.
    let mut carry = recorded
        .range(..first)
        .next_back()
        .and_then(|(d, u)| Some((period_of(*d), u.remaining?)));
    (first..=last)
        .map(|day| {
            let period = period_of(day);
            let used = recorded.get(&day).map_or(0, |u| u.used);
            let remaining = if day == today {
                live
            } else if let Some(left) = recorded.get(&day).and_then(|u| u.remaining) {
                left
            } else {
                match carry {
                    Some((p, left)) if p == period => left,
                    _ => quota.limit,
                }
            };
            carry = Some((period, remaining));
            (used, Some(remaining))
        })
        .collect()
}
