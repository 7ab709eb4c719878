//! What one answer cost: its token counts, model and tool calls and duration ([`RunStats`]),
//! priced from a per-model table ([`Prices`]), and written as a CloudWatch Embedded Metric Format
//! line ([`emf_line`]) that CloudWatch Logs turns into metrics with no agent in the task.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::conversation::Usage;
use crate::events::RunEnd;

/// Counts of one run, sent in the `done` event and kept with the answer (a reload shows them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStats {
    pub model_calls: u32,
    pub tool_calls: u32,
    pub duration_ms: u64,
    /// Estimated cost in US dollars from the configured prices; `None` when the model has no
    /// price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

/// US dollars per million tokens of each kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    pub cache_read: f64,
    pub cache_write: f64,
}

impl Price {
    /// What `usage` costs at this price.
    pub fn cost(&self, usage: &Usage) -> f64 {
        (usage.input_tokens as f64 * self.input
            + usage.output_tokens as f64 * self.output
            + usage.cache_read_input_tokens as f64 * self.cache_read
            + usage.cache_write_input_tokens as f64 * self.cache_write)
            / 1_000_000.0
    }
}

/// Prices by model: the first entry whose pattern the model id contains wins.
#[derive(Debug, Clone, PartialEq)]
pub struct Prices(Vec<(String, Price)>);

/// The built-in table: Bedrock on-demand list prices (USD per million tokens, input / output /
/// cache read / cache write) of the models this agent is meant for, as published in November
/// 2026. Override or extend with `--prices` (AGENT_PRICES).
pub const DEFAULT_PRICES: &str = "anthropic.claude-sonnet-4=3/15/0.3/3.75,\
anthropic.claude-3-7-sonnet=3/15/0.3/3.75,\
anthropic.claude-haiku-4-5=1/5/0.1/1.25,\
anthropic.claude-3-5-haiku=0.8/4/0.08/1,\
anthropic.claude-opus-4-5=5/25/0.5/6.25,\
anthropic.claude-opus-4=15/75/1.5/18.75,\
amazon.nova-pro=0.8/3.2/0.2/0,\
amazon.nova-lite=0.06/0.24/0.015/0,\
amazon.nova-micro=0.035/0.14/0.00875/0";

/// Why a price table cannot be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PriceError {
    #[error(
        "price entry `{0}` is not `<model id part>=<input>/<output>[/<cache read>/<cache write>]` (USD per million tokens)"
    )]
    Entry(String),
}

impl Prices {
    /// Reads `pattern=in/out[/cacheRead/cacheWrite]` entries separated by commas. Cache prices
    /// default to the input price (no discount assumed).
    pub fn parse(spec: &str) -> Result<Self, PriceError> {
        let mut table = Vec::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = || PriceError::Entry(entry.to_owned());
            let (pattern, numbers) = entry.split_once('=').ok_or_else(bad)?;
            let numbers: Vec<f64> = numbers
                .split('/')
                .map(|n| n.trim().parse::<f64>())
                .collect::<Result<_, _>>()
                .map_err(|_| bad())?;
            if pattern.trim().is_empty()
                || !matches!(numbers.len(), 2 | 4)
                || numbers.iter().any(|n| !n.is_finite() || *n < 0.0)
            {
                return Err(bad());
            }
            let input = numbers[0];
            table.push((
                pattern.trim().to_owned(),
                Price {
                    input,
                    output: numbers[1],
                    cache_read: numbers.get(2).copied().unwrap_or(input),
                    cache_write: numbers.get(3).copied().unwrap_or(input),
                },
            ));
        }
        Ok(Self(table))
    }

    /// `custom` entries first (they win), then the built-in table.
    pub fn with_defaults(custom: &str) -> Result<Self, PriceError> {
        let mut prices = Self::parse(custom)?;
        prices.0.extend(Self::parse(DEFAULT_PRICES)?.0);
        Ok(prices)
    }

    /// The price of model `id` (an inference profile id matches its model's entry).
    pub fn for_model(&self, id: &str) -> Option<Price> {
        self.0
            .iter()
            .find(|(pattern, _)| id.contains(pattern.as_str()))
            .map(|(_, price)| *price)
    }
}

impl Default for Prices {
    fn default() -> Self {
        Self::parse(DEFAULT_PRICES).unwrap_or(Self(Vec::new()))
    }
}

/// The CloudWatch namespace of the agent's metrics.
pub const NAMESPACE: &str = "OpsAgent";

/// One Embedded Metric Format line for an answer: metrics `InputTokens`, `OutputTokens`,
/// `CacheReadTokens`, `CacheWriteTokens`, `ModelCalls`, `ToolCalls`, `Duration` (ms), `Answers`,
/// `Errors` and `CostUSD` (when priced), under dimension `Model` and again with no dimension
/// (the totals the budget alarm watches).
pub fn emf_line(
    timestamp_ms: i64,
    model: &str,
    usage: &Usage,
    stats: &RunStats,
    end: RunEnd,
) -> String {
    let mut metrics = vec![
        ("InputTokens", "Count", json!(usage.input_tokens)),
        ("OutputTokens", "Count", json!(usage.output_tokens)),
        (
            "CacheReadTokens",
            "Count",
            json!(usage.cache_read_input_tokens),
        ),
        (
            "CacheWriteTokens",
            "Count",
            json!(usage.cache_write_input_tokens),
        ),
        ("ModelCalls", "Count", json!(stats.model_calls)),
        ("ToolCalls", "Count", json!(stats.tool_calls)),
        ("Duration", "Milliseconds", json!(stats.duration_ms)),
        ("Answers", "Count", json!(1)),
        ("Errors", "Count", json!(u8::from(end == RunEnd::Error))),
    ];
    if let Some(cost) = stats.cost_usd {
        metrics.push(("CostUSD", "None", json!(cost)));
    }
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
        .collect();
    let mut line = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Model"], []],
                "Metrics": definitions,
            }],
        },
        "Model": model,
    });
    if let Value::Object(map) = &mut line {
        for (name, _, value) in metrics {
            map.insert(name.to_owned(), value);
        }
    }
    line.to_string()
}

/// Why a line is not a readable EMF object.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EmfError {
    #[error("not an EMF object: {0}")]
    Shape(&'static str),
    #[error("metric `{0}` is declared but has no numeric value")]
    MissingValue(String),
}

/// The metrics an EMF object declares, by name, with their values: what CloudWatch extracts
/// from the line (the declared names looked up at the top level).
pub fn read_emf(line: &Value) -> Result<std::collections::HashMap<String, f64>, EmfError> {
    let directives = line
        .pointer("/_aws/CloudWatchMetrics")
        .and_then(Value::as_array)
        .ok_or(EmfError::Shape("no _aws.CloudWatchMetrics array"))?;
    line.pointer("/_aws/Timestamp")
        .and_then(Value::as_i64)
        .ok_or(EmfError::Shape("no integer _aws.Timestamp"))?;
    let mut metrics = std::collections::HashMap::new();
    for directive in directives {
        directive
            .get("Namespace")
            .and_then(Value::as_str)
            .ok_or(EmfError::Shape("a directive has no Namespace"))?;
        for dimensions in directive
            .get("Dimensions")
            .and_then(Value::as_array)
            .ok_or(EmfError::Shape("a directive has no Dimensions"))?
        {
            for name in dimensions.as_array().into_iter().flatten() {
                let name = name.as_str().unwrap_or_default();
                if line.get(name).is_none_or(|v| !v.is_string()) {
                    return Err(EmfError::Shape("a dimension has no string value"));
                }
            }
        }
        for metric in directive
            .get("Metrics")
            .and_then(Value::as_array)
            .ok_or(EmfError::Shape("a directive has no Metrics"))?
        {
            let name = metric
                .get("Name")
                .and_then(Value::as_str)
                .ok_or(EmfError::Shape("a metric has no Name"))?;
            let value = line
                .get(name)
                .and_then(Value::as_f64)
                .ok_or_else(|| EmfError::MissingValue(name.to_owned()))?;
            metrics.insert(name.to_owned(), value);
        }
    }
    Ok(metrics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emf_line_reads_back_as_the_answers_metrics() {
        let usage = Usage {
            input_tokens: 500,
            output_tokens: 40,
            total_tokens: 2540,
            cache_read_input_tokens: 1_800,
            cache_write_input_tokens: 200,
        };
        let stats = RunStats {
            model_calls: 3,
            tool_calls: 2,
            duration_ms: 1234,
            cost_usd: Some(0.25),
        };
        let line = emf_line(1_700_000_000_000, "m", &usage, &stats, RunEnd::EndTurn);
        assert!(!line.contains('\n'), "one line");
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["Model"], "m");
        let metrics = read_emf(&value).unwrap();
        let expected = [
            ("InputTokens", 500.0),
            ("OutputTokens", 40.0),
            ("CacheReadTokens", 1800.0),
            ("CacheWriteTokens", 200.0),
            ("ModelCalls", 3.0),
            ("ToolCalls", 2.0),
            ("Duration", 1234.0),
            ("Answers", 1.0),
            ("Errors", 0.0),
            ("CostUSD", 0.25),
        ];
        assert_eq!(metrics.len(), expected.len());
        for (name, number) in expected {
            assert_eq!(metrics[name], number, "{name}");
        }
        let failed = emf_line(0, "m", &usage, &RunStats::default(), RunEnd::Error);
        let failed = read_emf(&serde_json::from_str(&failed).unwrap()).unwrap();
        assert_eq!(failed["Errors"], 1.0);
        assert!(!failed.contains_key("CostUSD"), "no price, no cost metric");
        assert!(read_emf(&json!({"InputTokens": 1})).is_err());
    }

    #[test]
    fn the_default_table_prices_the_default_model_and_profiles() {
        let prices = Prices::default();
        let sonnet = prices
            .for_model(crate::config::DEFAULT_BEDROCK_MODEL)
            .unwrap();
        assert_eq!(sonnet.input, 3.0);
        assert!(
            prices
                .for_model("us.anthropic.claude-haiku-4-5-20251001-v1:0")
                .is_some()
        );
        assert_eq!(prices.for_model("offline planner"), None);
    }

    #[test]
    fn cost_counts_each_kind_of_token_at_its_price() {
        let price = Price {
            input: 3.0,
            output: 15.0,
            cache_read: 0.3,
            cache_write: 3.75,
        };
        let usage = Usage {
            input_tokens: 1_000,
            output_tokens: 100,
            total_tokens: 0,
            cache_read_input_tokens: 10_000,
            cache_write_input_tokens: 2_000,
        };
        // 0.003 + 0.0015 + 0.003 + 0.0075
        assert!((price.cost(&usage) - 0.015).abs() < 1e-12);
    }

    #[test]
    fn custom_prices_win_and_bad_entries_are_named() {
        let prices = Prices::with_defaults("claude-sonnet-4-5=1/2").unwrap();
        let p = prices
            .for_model("global.anthropic.claude-sonnet-4-5-x")
            .unwrap();
        assert_eq!((p.input, p.output, p.cache_read), (1.0, 2.0, 1.0));
        assert_eq!(Prices::parse("x=1"), Err(PriceError::Entry("x=1".into())));
        assert!(Prices::parse("x=1/-2").is_err());
        assert!(Prices::parse("=1/2").is_err());
    }
}
