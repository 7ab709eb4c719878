//! `MultiRegionApi`: `LookupEvents` over several regions of one account, as one event source.
//!
//! A query searches the regions [`super::regions::plan`] picks (the configured ones, plus the
//! partition's global region when global services' events can match, or exactly the tool's
//! `regions`). One region is a plain `LookupEvents` query whose tokens pass through. Several are
//! queried in parallel, each through its own client and its region's shared 2 requests/s limiter
//! ([`CloudTrailApi`]), and merged newest first by [`super::merge`]. A region that fails fails
//! the whole call with an error naming the region and AWS's message
//! ([`SourceError::InRegion`]): an answer never silently leaves a region out.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::{Region, SdkConfig};
use jiff::SignedDuration;
use tokio::task::JoinSet;
use tracing::Instrument;

use super::api::{CloudTrailApi, RETENTION_DAYS};
use super::merge::{self, Merge, Step};
use super::regions::{allowed, is_region_name, plan};
use super::{EventSource, Filter, Page, Query, Scope, SourceError};

/// LookupEvents in the configured regions of one account.
#[derive(Debug, Clone)]
pub struct MultiRegionApi {
    id: String,
    configured: Vec<String>,
    /// A client per region that may be searched (the configured ones and their global regions).
    clients: BTreeMap<String, CloudTrailApi>,
}

impl MultiRegionApi {
    /// Clients with adaptive retries (4 attempts) for `regions`, or the region of `sdk` when
    /// `regions` is empty.
    pub fn new(sdk: &SdkConfig, regions: &[String]) -> Result<Self, SourceError> {
        Self::with_retry(sdk, regions, RetryConfig::adaptive().with_max_attempts(4))
    }

    /// Clients with the given retry policy (tests shorten the backoff).
    pub fn with_retry(
        sdk: &SdkConfig,
        regions: &[String],
        retry: RetryConfig,
    ) -> Result<Self, SourceError> {
        let mut configured: Vec<String> = if regions.is_empty() {
            let region = sdk.region().ok_or_else(|| {
                SourceError::InvalidQuery(
                    "no AWS region is configured for the CloudTrail API".into(),
                )
            })?;
            vec![region.to_string()]
        } else {
            regions.iter().map(|r| r.trim().to_owned()).collect()
        };
        if let Some(bad) = configured.iter().find(|r| !is_region_name(r)) {
            return Err(SourceError::InvalidQuery(format!(
                "`{bad}` is not a region name (expected names like us-east-1)"
            )));
        }
        configured.sort();
        configured.dedup();
        let mut clients = BTreeMap::new();
        for region in allowed(&configured) {
            let config = sdk.to_builder().region(Region::new(region.clone())).build();
            clients.insert(region, CloudTrailApi::with_retry(&config, retry.clone())?);
        }
        Ok(Self {
            id: format!("api:{}", configured.join(",")),
            configured,
            clients,
        })
    }

    /// The regions configured for this source, sorted.
    pub fn configured(&self) -> &[String] {
        &self.configured
    }

    fn plan(&self, filter: Option<&Filter>, scope: &Scope) -> Result<Vec<String>, SourceError> {
        if !scope.accounts.is_empty() {
            return Err(SourceError::ScopeUnsupported {
                what: "accounts",
                why: "LookupEvents reads the one account this server runs in; search an organization trail with the athena source".into(),
            });
        }
        plan(&self.configured, &scope.regions, filter)
    }

    fn client(&self, region: &str) -> &CloudTrailApi {
        self.clients
            .get(region)
            .expect("plans only name regions with a client")
    }

    /// The query one region gets: the same window and filter, no scope.
    fn regional(query: &Query, next_token: Option<String>, max_results: usize) -> Query {
        Query {
            max_results,
            next_token,
            scope: Scope::default(),
            ..query.clone()
        }
    }

    async fn merged(&self, query: &Query, searched: &[String]) -> Result<Page, SourceError> {
        let in_region = |region: &str, error: SourceError| SourceError::InRegion {
            region: region.to_owned(),
            searched: searched.to_vec(),
            source: Box::new(error),
        };
        let mut merge = Merge::new(searched, query.next_token.as_deref())?;
        let max = query.max_results.max(1);
        let mut events = Vec::with_capacity(max.min(256));
        while let Step::Fetch(pages) = merge.take(&mut events, max) {
            // Every region's page at once; each waits for its own region's limiter only.
            // Dropping the set (on the first error) aborts the other requests.
            let mut requests = JoinSet::new();
            for (region, token) in pages {
                let client = self.client(&region).clone();
                let regional = Self::regional(query, token, merge::PAGE);
                requests.spawn(
                    async move {
                        let page = client.lookup(&regional).await;
                        (region, page)
                    }
                    .instrument(tracing::Span::current()),
                );
            }
            while let Some(done) = requests.join_next().await {
                let (region, page) = match done {
                    Ok(done) => done,
                    Err(join) => std::panic::resume_unwind(join.into_panic()),
                };
                let page = page.map_err(|e| in_region(&region, e))?;
                merge.load(&region, page.events, page.next_token);
            }
        }
        Ok(Page {
            events,
            next_token: merge.token(),
            ..Page::default()
        })
    }
}

#[async_trait]
impl EventSource for MultiRegionApi {
    fn id(&self) -> &str {
        &self.id
    }

    fn retention(&self) -> Option<SignedDuration> {
        Some(SignedDuration::from_hours(24 * RETENTION_DAYS))
    }

    async fn lookup(&self, query: &Query) -> Result<Page, SourceError> {
        let searched = self.plan(query.filter.as_ref(), &query.scope)?;
        match searched.as_slice() {
            [region] => {
                let regional = Self::regional(query, query.next_token.clone(), query.max_results);
                self.client(region)
                    .lookup(&regional)
                    .await
                    .map_err(|error| SourceError::InRegion {
                        region: region.clone(),
                        searched: searched.clone(),
                        source: Box::new(error),
                    })
            }
            _ => self.merged(query, &searched).await,
        }
    }

    fn regions_searched(
        &self,
        filter: Option<&Filter>,
        scope: &Scope,
    ) -> Result<Option<Vec<String>>, SourceError> {
        self.plan(filter, scope).map(Some)
    }

    fn scan_page(&self) -> usize {
        // A few pages of every region per call: a smaller page would fetch the regions' partly
        // read pages again on every call (see `merge`).
        merge::PAGE * 2 * self.clients.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdk(region: Option<&str>) -> SdkConfig {
        let mut builder =
            SdkConfig::builder().behavior_version(aws_config::BehaviorVersion::latest());
        if let Some(region) = region {
            builder = builder.region(Region::new(region.to_owned()));
        }
        builder.build()
    }

    #[test]
    fn configured_regions_default_to_the_sdk_region_and_are_checked() {
        let api = MultiRegionApi::new(&sdk(Some("eu-west-1")), &[]).unwrap();
        assert_eq!(api.id(), "api:eu-west-1");
        assert_eq!(api.configured(), ["eu-west-1"]);
        // The global region gets a client too.
        assert_eq!(
            api.clients.keys().collect::<Vec<_>>(),
            ["eu-west-1", "us-east-1"]
        );
        let regions = [
            "us-west-2".to_owned(),
            "eu-west-1".to_owned(),
            "us-west-2".to_owned(),
        ];
        let api = MultiRegionApi::new(&sdk(None), &regions).unwrap();
        assert_eq!(api.id(), "api:eu-west-1,us-west-2");
        let err = MultiRegionApi::new(&sdk(None), &["mars-1".to_owned()]).unwrap_err();
        assert!(
            err.to_string().contains("`mars-1` is not a region name"),
            "{err}"
        );
        let err = MultiRegionApi::new(&sdk(None), &[]).unwrap_err();
        assert!(err.to_string().contains("no AWS region"), "{err}");
    }

    #[test]
    fn accounts_are_refused_and_regions_planned() {
        let api = MultiRegionApi::new(&sdk(Some("eu-west-1")), &[]).unwrap();
        let scope = Scope {
            accounts: vec!["123456789012".into()],
            regions: Vec::new(),
        };
        let err = api.regions_searched(None, &scope).unwrap_err();
        assert!(matches!(
            err,
            SourceError::ScopeUnsupported {
                what: "accounts",
                ..
            }
        ));
        assert_eq!(
            api.regions_searched(None, &Scope::default())
                .unwrap()
                .unwrap(),
            ["eu-west-1", "us-east-1"]
        );
    }
}
