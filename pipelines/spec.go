// Package pipelines parses and checks pipeline files: the YAML spec
// (version 1) that tells the loader what to read (source), how to decode it
// (format), how to lay it out (partition_by) and where to land it (sink).
//
// Load and LoadBytes are strict: an unknown key (with the nearest valid key
// suggested), a value of the wrong type or a bad value is reported as
// file:line:column, and every problem in a file is reported at once as
// [Errors]. ${VAR} and ${VAR:-default} are expanded from the environment in
// values (never in keys). The returned spec has defaults applied
// ([Spec.Defaults]) and has passed [Spec.Validate], which parses each value
// once into [Spec.Compiled] (layout, zone, codec, format with its schema,
// error and gap policies, schedule): the loader and the scheduler take
// those as they are, and never parse or validate the spec again. Every key
// and default is documented in docs/pipelines.md.
package pipelines

import (
	"time"

	"github.com/sluicehq/sluice/formats"
)

// Version is the spec version this package reads.
const Version = 1

// Enumerated values of the spec.
const (
	StartEarliest = "earliest" // source.start: from the oldest retained offset
	StartLatest   = "latest"   // source.start: from the high watermark at first run

	OnErrorFail       = "fail"        // format.on_error: stop the run on a bad record
	OnErrorSkip       = "skip"        // format.on_error: count and drop bad records
	OnErrorDeadLetter = "dead_letter" // format.on_error: write bad records to <sink>/_errors/

	OnGapFail = "fail" // source.on_gap: error if retention deleted the resume offset
	OnGapSkip = "skip" // source.on_gap: jump to the oldest retained offset, logging the gap

	ConcurrencyForbid = "forbid" // concurrency: a tick during a run is skipped
	ConcurrencyQueue  = "queue"  // concurrency: one tick waits for the run to end

	TimeRecord = "_timestamp" // partition_by.time: the Kafka record timestamp
	TimeIngest = "_ingest"    // partition_by.time: the time the loader read the record

	DefaultLayout = "dt=YYYY-MM-DD/hr=HH" // partition_by.layout default
)

// Spec is one pipeline file. Zero values mean "use the default" until
// [Spec.Defaults] is applied; Load applies it.
type Spec struct {
	// Version of the spec; only 1 exists. Optional.
	Version int `yaml:"version"`
	// Name identifies the pipeline (lowercase letters, digits, '-', '_').
	Name string `yaml:"name"`
	// Source is the Kafka-protocol cluster and topics to read.
	Source Source `yaml:"source"`
	// Format says how to decode record values.
	Format Format `yaml:"format"`
	// PartitionBy lays rows out in Hive-style time folders.
	PartitionBy PartitionBy `yaml:"partition_by"`
	// Sink is where Parquet files land.
	Sink Sink `yaml:"sink"`
	// MaxWorkers caps the partition workers run at once; 0 means one per
	// partition.
	MaxWorkers int `yaml:"max_workers"`
	// Schedule is a cron expression (robfig/cron standard syntax,
	// CRON_TZ= prefix, @every/@daily descriptors) for the scheduler; empty
	// means run only on demand.
	Schedule string `yaml:"schedule"`
	// ScheduleTimezone is the IANA zone the schedule's times are in;
	// default UTC. A CRON_TZ= prefix in Schedule does the same (not both).
	ScheduleTimezone string `yaml:"schedule_timezone"`
	// Concurrency says what a tick does while the previous run is still
	// going: forbid (default: it is recorded as skipped) or queue (at most
	// one run waits and starts when the current one ends).
	Concurrency string `yaml:"concurrency"`
	// Jitter delays each scheduled start by a random time up to this.
	Jitter time.Duration `yaml:"jitter"`
	// StartingDeadline: a tick that cannot start within this of its time
	// is recorded as missed; 0 means no deadline.
	StartingDeadline time.Duration `yaml:"starting_deadline"`
	// Catchup starts one run, on start-up, for the ticks missed while no
	// scheduler was running (recording how many it covers); default false
	// ignores them.
	Catchup bool `yaml:"catchup"`
	// Retries is how many times a failed run is retried; default 0.
	Retries int `yaml:"retries"`
	// RetryBackoff is the wait before the first retry, doubling each time
	// (with jitter) up to MaxRetryBackoff; default 30s.
	RetryBackoff time.Duration `yaml:"retry_backoff"`
	// Timeout cancels a run that takes longer; 0 means no limit. Files
	// already published stay; the next run resumes after them.
	Timeout time.Duration `yaml:"timeout"`
	// History bounds the run history kept for this pipeline.
	History History `yaml:"history"`
	// Hive names the table whose DDL is kept in <sink>/_hive/table.sql.
	Hive Hive `yaml:"hive"`

	// src is where the spec came from: positions of keys and values for
	// Validate's errors, which keys were given, which values are secret.
	// Nil for a spec built in code.
	src *source
	// compiled is set by a Validate that passed.
	compiled *Compiled
}

// Source is the Kafka-protocol cluster to read from.
type Source struct {
	Brokers []string `yaml:"brokers"` // seed brokers, host:port; required
	Topics  []string `yaml:"topics"`  // one or more topics; required
	Group   string   `yaml:"group"`   // consumer group; default sluice-<name>
	Start   string   `yaml:"start"`   // earliest (default) | latest
	OnGap   string   `yaml:"on_gap"`  // fail (default) | skip
	TLS     *TLS     `yaml:"tls"`     // optional; nil means plaintext
	SASL    *SASL    `yaml:"sasl"`    // optional; nil means no authentication
}

// TLS configures an encrypted connection to the brokers.
type TLS struct {
	Enabled            bool   `yaml:"enabled"`
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// SASL configures authentication to the brokers. Password is a secret:
// [Spec.Redacted] hides it.
type SASL struct {
	Mechanism string `yaml:"mechanism"` // PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
	Username  string `yaml:"username"`
	Password  string `yaml:"password"`
}

// Format is the decoding section: the formats package's Config plus the
// loader's handling of records that fail to decode.
type Format struct {
	formats.Config `yaml:",inline"`
	// OnError is fail (default) | skip | dead_letter.
	OnError string `yaml:"on_error"`
	// MaxErrorRatio fails the run once bad records exceed this fraction of
	// the records read (0 < r <= 1); 0 means no limit. Only meaningful
	// with on_error skip or dead_letter.
	MaxErrorRatio float64 `yaml:"max_error_ratio"`
}

// PartitionBy chooses the time that places a row and the folder layout.
type PartitionBy struct {
	// Time is a field of the decoded record, _timestamp (default, the
	// Kafka record time) or _ingest (the time the loader read it).
	Time string `yaml:"time"`
	// Layout is the folder pattern; tokens YYYY MM DD HH mm, everything
	// else literal. Default dt=YYYY-MM-DD/hr=HH. See ParseLayout.
	Layout string `yaml:"layout"`
	// Timezone is an IANA zone name; default UTC.
	Timezone string `yaml:"timezone"`
}

// Sink is where and how Parquet files are written.
type Sink struct {
	// URL is file:///path, a plain path, or hdfs://host:port/path.
	URL string `yaml:"url"`
	// Compression is the Parquet codec: snappy (default) | zstd | gzip |
	// lz4 | none.
	Compression string `yaml:"compression"`
	// Roll says when an open file is closed and published.
	Roll Roll `yaml:"roll"`
	// RowGroupBytes is the target Parquet row-group size; default 64MiB.
	// A worker's memory stays within about twice this, plus a page per
	// column for each further open time partition.
	RowGroupBytes Size `yaml:"row_group_bytes"`
	// MetaColumns are added to every row; default _topic, _partition,
	// _offset, _timestamp. An empty list turns them off; _key may be added.
	MetaColumns []string `yaml:"meta_columns"`
	// SuccessGrace is how long after a time partition's end every worker's
	// watermark must be before its _SUCCESS file is written; default 10m.
	SuccessGrace time.Duration `yaml:"success_grace"`
}

// Roll thresholds: a file is published when any one is reached.
type Roll struct {
	Records int64         `yaml:"records"` // default 1,000,000
	Bytes   Size          `yaml:"bytes"`   // default 256MiB
	Age     time.Duration `yaml:"age"`     // default 10m
}

// History bounds a pipeline's kept runs: the newest Keep runs, and none
// older than MaxAge.
type History struct {
	Keep   int           `yaml:"keep"`    // default 200
	MaxAge time.Duration `yaml:"max_age"` // default 30d
}

// Hive names the table the sink's DDL describes.
type Hive struct {
	Database string `yaml:"database"` // default "default"
	Table    string `yaml:"table"`    // default the pipeline name with '-' as '_'
}
