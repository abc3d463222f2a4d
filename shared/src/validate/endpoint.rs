//! Endpoint type settings of an API: a regional API names its home region; only private APIs
//! list private networks.

use super::{Result, err};
use crate::cidr::Cidr;
use crate::model::{Api, EndpointType};

pub(super) fn check(api: &Api, me: &str) -> Result {
    match (api.endpoint_type, &api.home_region) {
        (EndpointType::Regional, None) => {
            return Err(err(me, "home_region", "is required for a regional API"));
        }
        (EndpointType::Regional, Some(region)) if region.trim().is_empty() => {
            return Err(err(me, "home_region", "must not be empty"));
        }
        (EndpointType::Edge | EndpointType::Private, Some(_)) => {
            return Err(err(
                me,
                "home_region",
                "only regional APIs have a home region",
            ));
        }
        _ => {}
    }
    if !api.private_networks.is_empty() && api.endpoint_type != EndpointType::Private {
        return Err(err(
            me,
            "private_networks",
            "only private APIs list private networks",
        ));
    }
    for (i, network) in api.private_networks.iter().enumerate() {
        network
            .parse::<Cidr>()
            .map_err(|m| err(me, format!("private_networks[{i}]"), m))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::model::{Api, ApiKind, EndpointType};

    fn api(kind: EndpointType) -> Api {
        let mut api = Api::new("pets", "pets", ApiKind::Http);
        api.endpoint_type = kind;
        api
    }

    #[test]
    fn regional_apis_need_a_home_region_and_only_they_have_one() {
        let e = api(EndpointType::Regional).validate().unwrap_err();
        assert_eq!(
            e.to_string(),
            "api pets: home_region: is required for a regional API"
        );
        let mut edge = api(EndpointType::Edge);
        edge.home_region = Some("us-east".into());
        assert_eq!(edge.validate().unwrap_err().field, "home_region");
        let mut regional = api(EndpointType::Regional);
        regional.home_region = Some("us-east".into());
        regional.validate().unwrap();
    }

    #[test]
    fn private_networks_are_cidrs_on_private_apis_only() {
        let mut private = api(EndpointType::Private);
        private.private_networks = vec!["10.0.0.0/8".into(), "nonsense".into()];
        assert_eq!(private.validate().unwrap_err().field, "private_networks[1]");
        private.private_networks.pop();
        private.validate().unwrap();
        let mut edge = api(EndpointType::Edge);
        edge.private_networks = vec!["10.0.0.0/8".into()];
        assert_eq!(edge.validate().unwrap_err().field, "private_networks");
    }
}
