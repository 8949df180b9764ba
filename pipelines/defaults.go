package pipelines

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // timezones work on machines without a zoneinfo database

	"github.com/sluicehq/sluice/formats"
)

// Defaults for keys a file leaves out (see docs/pipelines.md).
const (
	DefaultStart         = StartEarliest
	DefaultOnError       = OnErrorFail
	DefaultOnGap         = OnGapFail
	DefaultTime          = TimeRecord
	DefaultTimezone      = "UTC"
	DefaultCompression   = "snappy"
	DefaultRollRecords   = 1_000_000
	DefaultRollBytes     = 256 << 20
	DefaultRollAge       = 10 * time.Minute
	DefaultRowGroupBytes = 64 << 20
	DefaultSuccessGrace  = 10 * time.Minute
	DefaultHiveDatabase  = "default"
	DefaultConcurrency   = ConcurrencyForbid
	DefaultRetryBackoff  = 30 * time.Second
	DefaultHistoryKeep   = 200
	DefaultHistoryMaxAge = 30 * 24 * time.Hour
	// MaxRetryBackoff caps the doubling wait between retries.
	MaxRetryBackoff = time.Hour
)

// Defaults fills every key the file left unset with its default and
// returns s, now the effective spec.
func (s *Spec) Defaults() *Spec {
	if s.Version == 0 {
		s.Version = Version
	}
	if s.Source.Group == "" && s.Name != "" {
		if s.given("source.group") {
			s.markGivenEmpty("source.group", fmt.Sprintf("%q", "sluice-"+s.Name))
		} else {
			s.Source.Group = "sluice-" + s.Name
		}
	}
	if s.Source.TLS != nil && s.src != nil && !s.given("source.tls.enabled") {
		s.Source.TLS.Enabled = true // a tls: section turns TLS on
	}
	defaultTo(s, "source.start", &s.Source.Start, DefaultStart)
	defaultTo(s, "source.on_gap", &s.Source.OnGap, DefaultOnGap)
	s.Format.Config = s.Format.Config.WithDefaults()
	defaultTo(s, "format.on_error", &s.Format.OnError, DefaultOnError)
	defaultTo(s, "partition_by.time", &s.PartitionBy.Time, DefaultTime)
	defaultTo(s, "partition_by.layout", &s.PartitionBy.Layout, DefaultLayout)
	defaultTo(s, "partition_by.timezone", &s.PartitionBy.Timezone, DefaultTimezone)
	defaultTo(s, "sink.compression", &s.Sink.Compression, DefaultCompression)
	defaultTo(s, "sink.roll.records", &s.Sink.Roll.Records, DefaultRollRecords)
	defaultTo(s, "sink.roll.bytes", &s.Sink.Roll.Bytes, DefaultRollBytes)
	defaultTo(s, "sink.roll.age", &s.Sink.Roll.Age, DefaultRollAge)
	defaultTo(s, "sink.row_group_bytes", &s.Sink.RowGroupBytes, DefaultRowGroupBytes)
	if s.Sink.MetaColumns == nil {
		s.Sink.MetaColumns = formats.DefaultMetaColumns()
	}
	if s.Sink.SuccessGrace == 0 && !s.given("sink.success_grace") {
		s.Sink.SuccessGrace = DefaultSuccessGrace
	}
	defaultTo(s, "hive.database", &s.Hive.Database, DefaultHiveDatabase)
	defaultTo(s, "concurrency", &s.Concurrency, DefaultConcurrency)
	defaultTo(s, "retry_backoff", &s.RetryBackoff, DefaultRetryBackoff)
	defaultTo(s, "history.keep", &s.History.Keep, DefaultHistoryKeep)
	defaultTo(s, "history.max_age", &s.History.MaxAge, DefaultHistoryMaxAge)
	if s.Hive.Table == "" && s.Name != "" && s.given("hive.table") {
		s.markGivenEmpty("hive.table", "the pipeline name with '-' and '.' as '_'")
	} else if s.Hive.Table == "" && s.Name != "" {
		s.Hive.Table = strings.ToLower(strings.NewReplacer("-", "_", ".", "_").Replace(s.Name))
	}
	return s
}

// given reports whether the file set path explicitly.
func (s *Spec) given(path string) bool { return s.src != nil && s.src.set[path] }

var (
	nameRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)
	topicRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,249}$`)
	identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
	// fieldNoteRE matches the " (user_id)" formats adds after a list index.
	fieldNoteRE = regexp.MustCompile(` \([^)]*\)`)
)

// validator collects Validate's errors with positions from the source.
type validator struct {
	s    *Spec
	errs Errors
	// skip holds paths already reported by explicitZeros.
	skip map[string]bool
	// c collects the parsed values; it becomes the spec's Compiled if no
	// error was found.
	c Compiled
}

// at reports a problem with the value at path (or, if the file does not
// give path, at its nearest given parent's key).
func (v *validator) at(path, format string, args ...any) {
	if isSecretPath(path) || (v.s.src != nil && v.s.src.secrets[path]) {
		// By convention the first argument is the value: hide it.
		if len(args) > 0 {
			if _, ok := args[0].(string); ok {
				args[0] = hiddenValue{}
			}
		}
	}
	v.add(path, fmt.Sprintf(format, args...))
}

// add reports msg at path as it is.
func (v *validator) add(path, msg string) {
	if v.skip[path] {
		return
	}
	e := &Error{Path: path, Msg: msg}
	if src := v.s.src; src != nil {
		e.File = src.file
		for p := path; p != ""; p = parent(p) {
			if q, ok := src.values[p]; ok && p == path {
				e.Line, e.Column = q.line, q.col
				break
			}
			if q, ok := src.keys[p]; ok {
				e.Line, e.Column = q.line, q.col
				break
			}
		}
	}
	if e.File == "" {
		e.File = "pipeline"
		if v.s.Name != "" {
			e.File = "pipeline " + v.s.Name
		}
	}
	v.errs = append(v.errs, e)
}

// hiddenValue prints in place of a secret value, whatever the verb.
type hiddenValue struct{}

func (hiddenValue) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte("(a secret value, hidden)")) }

// required reports a missing key.
func (v *validator) required(path, what string) {
	v.add(path, "missing: "+what)
}

func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// Validate checks values and their combinations on the effective spec
// (call Defaults first; Load does), and reads and parses the format's
// schema_file, relative to the pipeline file's folder. It returns Errors
// or nil.
func (s *Spec) Validate() error {
	v := &validator{s: s}
	v.explicitZeros()
	if s.Version != Version {
		v.at("version", "unsupported version %d (this sluice reads version %d)", s.Version, Version)
	}
	switch {
	case s.Name == "":
		v.required("name", "the pipeline's name, like name: pageviews")
	case !nameRE.MatchString(s.Name):
		v.at("name", "bad name %q: letters, digits, '.', '_' and '-', starting with a letter or digit", s.Name)
	}
	s.validateSource(v)
	s.validateFormat(v)
	s.validatePartitionBy(v)
	s.validateSink(v)
	if s.MaxWorkers < 0 {
		v.at("max_workers", "must be 0 (one per partition) or more, got %d", s.MaxWorkers)
	}
	s.validateSchedule(v)
	if !identRE.MatchString(s.Hive.Database) {
		v.at("hive.database", "bad Hive database name %q: letters, digits and _, not starting with a digit", s.Hive.Database)
	}
	if s.Hive.Table != "" && !identRE.MatchString(s.Hive.Table) {
		v.at("hive.table", "bad Hive table name %q: letters, digits and _, not starting with a digit", s.Hive.Table)
	}
	s.compiled = nil
	if len(v.errs) == 0 {
		s.compiled = &v.c
		return nil
	}
	sortErrors(v.errs)
	return v.errs
}

func (s *Spec) validateSource(v *validator) {
	src := s.Source
	if len(src.Brokers) == 0 {
		v.required("source.brokers", "the seed brokers, like brokers: [\"127.0.0.1:9092\"]")
	}
	for i, b := range src.Brokers {
		p := fmt.Sprintf("source.brokers[%d]", i)
		host, port, err := net.SplitHostPort(b)
		if err != nil || host == "" {
			v.at(p, "bad broker address %q: want host:port", b)
			continue
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			v.at(p, "bad broker address %q: port must be 1-65535", b)
		}
	}
	if len(src.Topics) == 0 {
		v.required("source.topics", "one or more topics, like topics: [pageviews]")
	}
	seen := map[string]bool{}
	for i, t := range src.Topics {
		p := fmt.Sprintf("source.topics[%d]", i)
		switch {
		case !topicRE.MatchString(t) || t == "." || t == "..":
			v.at(p, "bad topic name %q: 1-249 letters, digits, '.', '_' and '-'", t)
		case seen[t]:
			v.at(p, "topic %q is listed twice", t)
		}
		seen[t] = true
	}
	if src.Group == "" && s.Name != "" {
		v.required("source.group", "a consumer group")
	}
	oneOf(v, "source.start", src.Start, StartEarliest, StartLatest)
	oneOf(v, "source.on_gap", src.OnGap, OnGapFail, OnGapSkip)
	if src.OnGap == OnGapSkip {
		v.c.OnGap = GapSkip
	}
	if t := src.TLS; t != nil {
		if (t.CertFile == "") != (t.KeyFile == "") {
			v.at("source.tls", "give both cert_file and key_file for a client certificate, or neither")
		}
		if !t.Enabled && (t.CAFile != "" || t.CertFile != "" || t.ServerName != "" || t.InsecureSkipVerify) {
			v.at("source.tls.enabled", "is false but TLS options are given: remove enabled: false, or the options")
		}
	}
	if a := src.SASL; a != nil {
		oneOf(v, "source.sasl.mechanism", a.Mechanism, "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
		if a.Username == "" {
			v.required("source.sasl.username", "the SASL user")
		}
		if a.Password == "" {
			v.required("source.sasl.password", "the SASL password (use ${VAR} to read it from the environment)")
		}
	}
}

// validateFormat compiles the format, reading and parsing its schema_file
// once: a relative path is in the pipeline file's folder (the working
// directory for a spec built in code), as the loader took it before.
func (s *Spec) validateFormat(v *validator) {
	dir := ""
	if s.src != nil {
		dir = filepath.Dir(s.src.file)
	}
	fc, err := s.Format.Config.CompileFiles(dir)
	v.c.Format = fc
	v.c.OnError = parseErrorPolicy(s.Format.OnError)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			// formats names keys as "format.json.schema[0] (user_id).type: msg".
			key, msg, ok := strings.Cut(line, ": ")
			if !ok || !strings.HasPrefix(key, "format") {
				v.at("format", "%s", line)
				continue
			}
			key = fieldNoteRE.ReplaceAllString(key, "")
			v.at(key, "%s", msg)
		}
	}
	oneOf(v, "format.on_error", s.Format.OnError, OnErrorFail, OnErrorSkip, OnErrorDeadLetter)
	r := s.Format.MaxErrorRatio
	switch {
	case r < 0 || r > 1:
		v.at("format.max_error_ratio", "must be between 0 and 1 (a fraction of the records read), got %v", r)
	case r > 0 && s.Format.OnError == OnErrorFail:
		v.at("format.max_error_ratio", "has no effect with on_error: fail (the first bad record fails the run); set on_error: skip or dead_letter")
	}
}

func (s *Spec) validatePartitionBy(v *validator) {
	p := s.PartitionBy
	if p.Time != TimeRecord && p.Time != TimeIngest {
		if strings.HasPrefix(p.Time, "_") {
			v.at("partition_by.time", "unknown %q: want a field of the record, _timestamp (record time) or _ingest (load time)", p.Time)
		} else if fields := schemaFields(s.Format.Config); fields != nil && !fields[p.Time] {
			v.at("partition_by.time", "no field %q in the format's schema", p.Time)
		}
	}
	var err error
	if v.c.Layout, err = ParseLayout(p.Layout); err != nil {
		v.at("partition_by.layout", "%v", err)
	}
	if v.c.Zone, err = p.Location(); err != nil {
		v.at("partition_by.timezone", "%v", err)
	}
}

// schemaFields is the set of field names a declared schema has, or nil
// when the schema is inferred or read from a file.
func schemaFields(c formats.Config) map[string]bool {
	var names []string
	switch c.Type {
	case formats.TypeJSON:
		for _, f := range c.JSON.Schema {
			names = append(names, f.Name)
		}
	case formats.TypeCSV:
		names = append(names, c.CSV.Columns...)
		for _, f := range c.CSV.Schema {
			names = append(names, f.Name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

func (s *Spec) validateSink(v *validator) {
	k := s.Sink
	if k.URL == "" {
		v.required("sink.url", "where to land files: hdfs://host:port/path, file:///path or a path")
	} else if err := checkSinkURL(k.URL); err != nil {
		v.at("sink.url", "%v", err)
	}
	var err error
	if v.c.Codec, err = formats.ParseCodec(k.Compression); err != nil {
		v.at("sink.compression", "unknown compression %q: want snappy, zstd, gzip, lz4 or none", k.Compression)
	}
	if k.Roll.Records <= 0 {
		v.at("sink.roll.records", "must be at least 1, got %d", k.Roll.Records)
	}
	if k.Roll.Bytes <= 0 {
		v.at("sink.roll.bytes", "must be more than 0")
	}
	if k.Roll.Age <= 0 {
		v.at("sink.roll.age", "must be more than 0, got %v", k.Roll.Age)
	}
	if k.RowGroupBytes <= 0 {
		v.at("sink.row_group_bytes", "must be more than 0")
	}
	if k.SuccessGrace < 0 {
		v.at("sink.success_grace", "must not be negative, got %v", k.SuccessGrace)
	}
	seen := map[string]bool{}
	for i, c := range k.MetaColumns {
		p := fmt.Sprintf("sink.meta_columns[%d]", i)
		switch c {
		case formats.MetaTopic, formats.MetaPartition, formats.MetaOffset, formats.MetaTimestamp, formats.MetaKey:
		default:
			v.at(p, "unknown meta column %q: want _topic, _partition, _offset, _timestamp or _key", c)
			continue
		}
		if seen[c] {
			v.at(p, "meta column %q is listed twice", c)
		}
		seen[c] = true
	}
}

// checkSinkURL checks a sink URL's shape without connecting.
func checkSinkURL(raw string) error {
	if !strings.Contains(raw, "://") {
		if strings.Trim(raw, "/") == "" {
			return fmt.Errorf("sink url %q names the root folder: give a folder for this pipeline", raw)
		}
		return nil // a local path
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("bad sink url: %v", errors.Unwrap(err))
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return fmt.Errorf("bad sink url %q: a file URL names a local path, file:///path (three slashes)", raw)
		}
	case "hdfs":
		if u.Port() != "" {
			if n, err := strconv.Atoi(u.Port()); err != nil || n < 1 || n > 65535 {
				return fmt.Errorf("bad sink url %q: port must be 1-65535", raw)
			}
		}
	default:
		return fmt.Errorf("unsupported sink url scheme %q: want hdfs://host:port/path, file:///path or a plain path", u.Scheme)
	}
	if p := strings.Trim(u.Path, "/"); p == "" {
		return fmt.Errorf("sink url %q names the root folder: give a folder for this pipeline", raw)
	}
	return nil
}

func oneOf(v *validator, path, got string, want ...string) {
	for _, w := range want {
		if got == w {
			return
		}
	}
	list := strings.Join(want[:len(want)-1], ", ") + " or " + want[len(want)-1]
	hint := ""
	for _, w := range want {
		if strings.EqualFold(got, w) || editDistance(got, w) <= 2 {
			hint = fmt.Sprintf(" (did you mean %q?)", w)
			break
		}
	}
	v.at(path, "bad value %q: want %s%s", got, list, hint)
}

// validateSchedule checks the scheduling keys.
func (s *Spec) validateSchedule(v *validator) {
	zoneOK := true
	if s.ScheduleTimezone != "" {
		if _, err := time.LoadLocation(s.ScheduleTimezone); err != nil {
			zoneOK = false
			v.at("schedule_timezone", "unknown time zone %q: want an IANA name like Europe/Berlin or America/New_York", s.ScheduleTimezone)
		}
	}
	sched, err := s.ParsedSchedule()
	if s.Schedule != "" {
		v.c.Schedule = sched
	}
	switch {
	case s.Schedule == "" && s.ScheduleTimezone != "":
		v.at("schedule_timezone", "set without a schedule: add schedule: (a cron expression) or remove it")
	case s.Schedule == "" || err == nil || !zoneOK:
	case errors.Is(err, errZoneTwice):
		v.at("schedule_timezone", "%v", err)
	case strings.Contains(s.Schedule, "@every"):
		v.at("schedule", "bad schedule %q: %v", s.Schedule, err)
	default:
		v.at("schedule", "bad cron expression %q: %v (want 5 fields \"min hour day month weekday\", or @hourly, @daily, @every 15m; CRON_TZ=Zone may prefix it)", s.Schedule, err)
	}
	oneOf(v, "concurrency", s.Concurrency, ConcurrencyForbid, ConcurrencyQueue)
	for _, d := range []struct {
		path string
		val  time.Duration
	}{{"jitter", s.Jitter}, {"starting_deadline", s.StartingDeadline}, {"retry_backoff", s.RetryBackoff}, {"timeout", s.Timeout}, {"history.max_age", s.History.MaxAge}} {
		if d.val < 0 {
			v.at(d.path, "must not be negative, got %s", d.val)
		}
	}
	if s.Retries < 0 {
		v.at("retries", "must be 0 (no retries) or more, got %d", s.Retries)
	}
	if s.History.Keep < 0 {
		v.at("history.keep", "must be 1 or more, got %d", s.History.Keep)
	}
}
