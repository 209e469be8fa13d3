//! The server's cost per round trip and the machine's disturbance flag of one run,
//! read straight from the result's JSON (`server.rt_per_cpu_s`,
//! `server.cpu_us_per_rt`, `server.context_switches_per_rt`, `machine.disturbed`),
//! so compare reads them whether or not this build's `RunResult` knows the fields.
//!
//! Older results have none of them: every figure is then None (the metric is not
//! compared) and the run counts as undisturbed. A field of the wrong type, or a
//! figure that is negative or not finite, is an error naming the field.

use serde::Deserialize;

/// What a run says about the server's cost and the machine.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cost {
    /// `server.rt_per_cpu_s`: round trips per server CPU-second (higher is better).
    pub rt_per_cpu: Option<f64>,
    /// `server.cpu_us_per_rt`: server CPU µs per round trip.
    pub cpu_us_per_rt: Option<f64>,
    /// `server.context_switches_per_rt`: context switches per round trip.
    pub cs_per_rt: Option<f64>,
    /// `machine.disturbed`: something else used the machine during the run; such a
    /// run (and its pair) is left out of the intervals.
    pub disturbed: bool,
}

#[derive(Deserialize)]
struct WithServer {
    #[serde(default)]
    server: Option<RawServer>,
}

#[derive(Deserialize)]
struct WithMachine {
    #[serde(default)]
    machine: Option<RawMachine>,
}

#[derive(Default, Deserialize)]
struct RawServer {
    #[serde(default)]
    rt_per_cpu_s: Option<f64>,
    #[serde(default)]
    cpu_us_per_rt: Option<f64>,
    #[serde(default)]
    context_switches_per_rt: Option<f64>,
}

#[derive(Deserialize)]
struct RawMachine {
    #[serde(default)]
    disturbed: bool,
}

/// Reads the cost fields of a result's text; Err is (field, message).
pub fn read(text: &str) -> Result<Cost, (String, String)> {
    // One pass per section, so an error names the section it is in.
    let named =
        |field: &'static str| move |e: serde_json::Error| (field.to_string(), e.to_string());
    let server = serde_json::from_str::<WithServer>(text).map_err(named("server"))?.server;
    let machine = serde_json::from_str::<WithMachine>(text).map_err(named("machine"))?.machine;
    let server = server.unwrap_or_default();
    let figures = [
        ("server.rt_per_cpu_s", server.rt_per_cpu_s),
        ("server.cpu_us_per_rt", server.cpu_us_per_rt),
        ("server.context_switches_per_rt", server.context_switches_per_rt),
    ];
    for (field, value) in figures {
        if let Some(v) = value.filter(|v| !(v.is_finite() && *v >= 0.0)) {
            return Err((field.to_string(), format!("expected a number >= 0, found {v}")));
        }
    }
    Ok(Cost {
        rt_per_cpu: server.rt_per_cpu_s,
        cpu_us_per_rt: server.cpu_us_per_rt,
        cs_per_rt: server.context_switches_per_rt,
        disturbed: machine.is_some_and(|m| m.disturbed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields are read when present; an older result has none and is undisturbed.
    #[test]
    fn reads_present_and_absent() {
        let text = r#"{"server":{"rt_per_cpu_s":5e5,"cpu_us_per_rt":2.0,
            "context_switches_per_rt":0.1},"machine":{"disturbed":true},"other":[1]}"#;
        let c = read(text).expect("cost");
        assert_eq!(c.rt_per_cpu, Some(5e5));
        assert_eq!((c.cpu_us_per_rt, c.cs_per_rt, c.disturbed), (Some(2.0), Some(0.1), true));
        assert_eq!(read(r#"{"schema_version":1}"#).expect("old"), Cost::default());
        assert_eq!(read(r#"{"server":null,"machine":null}"#).expect("nulls"), Cost::default());
    }

    /// A wrong type or a negative figure names its field.
    #[test]
    fn bad_fields_named() {
        let (field, _) = read(r#"{"server":{"rt_per_cpu_s":"fast"}}"#).expect_err("type");
        assert_eq!(field, "server");
        let (field, _) = read(r#"{"server":{"cpu_us_per_rt":-1}}"#).expect_err("negative");
        assert_eq!(field, "server.cpu_us_per_rt");
        let (field, _) = read(r#"{"machine":{"disturbed":3}}"#).expect_err("type");
        assert_eq!(field, "machine");
    }
}
