# Sourced by e2e scripts: the pipeline the loader's e2e and benchmarks use
# (the JSON events of e2e/loader/gen with a declared schema, hourly folders
# by event_time), printed on stdout.
#   event_pipeline NAME TOPIC SINK ROLL [GROUP] [EXTRA]
# BROKER is the seed broker; GROUP, if given, the consumer group; EXTRA more
# top-level keys (a schedule:, for instance).
event_pipeline() {
  local name=$1 topic=$2 sink=$3 roll=$4 group=${5:-} extra=${6:-}
  cat <<YAML
name: $name
${extra}
source:
  brokers: ["$BROKER"]
  topics: [$topic]
${group:+  group: $group}
format:
  type: json
  json:
    schema:
      - {name: user_id, type: int64, required: true}
      - {name: session_id, type: string}
      - {name: event, type: string}
      - {name: page, type: string}
      - {name: referrer, type: string}
      - {name: country, type: string}
      - {name: duration_ms, type: int64}
      - {name: amount, type: double}
      - {name: mobile, type: boolean}
      - {name: event_time, type: timestamp, format: epoch_ms}
  on_error: fail
partition_by:
  time: event_time
  layout: "dt=YYYY-MM-DD/hr=HH"
sink:
  url: $sink
  roll: $roll
  success_grace: 0s
YAML
}
