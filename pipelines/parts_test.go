package pipelines

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/formats"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
		err  string
	}{
		{"0", 0, ""},
		{"1048576", 1 << 20, ""},
		{"256MiB", 256 << 20, ""},
		{"256mib", 256 << 20, ""},
		{"1GB", 1_000_000_000, ""},
		{"1gb", 1_000_000_000, ""},
		{"64KiB", 64 << 10, ""},
		{"64K", 64 << 10, ""},
		{"512B", 512, ""},
		{"1.5GiB", 3 << 29, ""},
		{" 2 MB ", 2_000_000, ""},
		{"1_000_000", 1_000_000, ""},
		{"-1MiB", 0, "must not be negative"},
		{"MiB", 0, "bad size"},
		{"256 megs", 0, "bad size"},
		{"", 0, "bad size"},
		{"9999999TiB", 0, "too large"},
		{"1e30", 0, "too large"},
		{"NaN", 0, "bad size"},
	}
	for _, tc := range tests {
		got, err := ParseSize(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseSize(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %v, %v; want %v", tc.in, int64(got), err, int64(tc.want))
		}
	}
}

func TestSizeStringRoundTrip(t *testing.T) {
	for _, s := range []Size{0, 1, 1000, 1024, 1 << 20, 256 << 20, 1_000_000_000, 3 << 29, 1<<40 + 1, 5 << 40} {
		got, err := ParseSize(s.String())
		if err != nil || got != s {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", s.String(), got, err, s)
		}
	}
	if got := Size(256 << 20).String(); got != "256MiB" {
		t.Errorf("String = %q", got)
	}
}

func TestExpand(t *testing.T) {
	env := func(k string) (string, bool) {
		v, ok := map[string]string{"A": "x", "EMPTY": "", "DB_PASSWORD": "p"}[k]
		return v, ok
	}
	tests := []struct {
		in, want string
		secret   bool
		err      string
	}{
		{"plain", "plain", false, ""},
		{"${A}", "x", false, ""},
		{"a-${A}-b", "a-x-b", false, ""},
		{"${B:-dflt}", "dflt", false, ""},
		{"${EMPTY:-dflt}", "dflt", false, ""},
		{"${EMPTY}", "", false, ""},
		{"${A:-dflt}", "x", false, ""},
		{"$$", "$", false, ""},
		{"$${A}", "${A}", false, ""},
		{"cost $5", "cost $5", false, ""},
		{"end$", "end$", false, ""},
		{"${DB_PASSWORD}", "p", true, ""},
		{"${B}", "", false, "environment variable B is not set"},
		{"${A", "", false, "unterminated"},
		{"${1X}", "", false, "bad environment variable reference"},
		{"${}", "", false, "bad environment variable reference"},
		{"${A B}", "", false, "bad environment variable reference"},
	}
	for _, tc := range tests {
		got, secret, err := expand(tc.in, env)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("expand(%q) = %q, %v; want error containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want || secret != tc.secret {
			t.Errorf("expand(%q) = %q, %v, %v; want %q, %v", tc.in, got, secret, err, tc.want, tc.secret)
		}
	}
}

func TestLayout(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2024, 3, 9, 7, 45, 30, 123, time.UTC)
	tests := []struct {
		layout, want string
		start, end   time.Time
	}{
		{"dt=YYYY-MM-DD/hr=HH", "dt=2024-03-09/hr=07",
			time.Date(2024, 3, 9, 7, 0, 0, 0, time.UTC), time.Date(2024, 3, 9, 8, 0, 0, 0, time.UTC)},
		{"dt=YYYYMMDD", "dt=20240309",
			time.Date(2024, 3, 9, 0, 0, 0, 0, time.UTC), time.Date(2024, 3, 10, 0, 0, 0, 0, time.UTC)},
		{"year=YYYY/month=MM", "year=2024/month=03",
			time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)},
		{"y=YYYY", "y=2024",
			time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"ts=YYYY-MM-DD-HHmm", "ts=2024-03-09-0745",
			time.Date(2024, 3, 9, 7, 45, 0, 0, time.UTC), time.Date(2024, 3, 9, 7, 46, 0, 0, time.UTC)},
		{"comment=mmm/all", "comment=mmm/all", time.Time{}, time.Time{}},
		{"v1", "v1", time.Time{}, time.Time{}},
	}
	for _, tc := range tests {
		l, err := ParseLayout(tc.layout)
		if err != nil {
			t.Errorf("ParseLayout(%q): %v", tc.layout, err)
			continue
		}
		if got := l.Format(at); got != tc.want {
			t.Errorf("%q.Format = %q, want %q", tc.layout, got, tc.want)
		}
		start := l.Truncate(at)
		if !start.Equal(tc.start) || !l.End(start).Equal(tc.end) {
			t.Errorf("%q: partition [%v, %v), want [%v, %v)", tc.layout, start, l.End(start), tc.start, tc.end)
		}
	}

	// In a zone: the day starts at local midnight; on the day daylight
	// saving starts (2024-03-31 in Berlin) it lasts 23 hours.
	l, err := ParseLayout("dt=YYYY-MM-DD")
	if err != nil {
		t.Fatal(err)
	}
	local := time.Date(2024, 3, 31, 12, 0, 0, 0, berlin)
	start := l.Truncate(local)
	if got := l.End(start).Sub(start); got != 23*time.Hour {
		t.Errorf("DST day lasts %v, want 23h", got)
	}
	if got := l.Format(time.Date(2024, 3, 30, 23, 30, 0, 0, time.UTC).In(berlin)); got != "dt=2024-03-31" {
		t.Errorf("Berlin folder for 23:30 UTC = %q", got)
	}
	// The repeated hour when daylight saving ends keeps its own partition.
	h, _ := ParseLayout("dt=YYYY-MM-DD/hr=HH")
	second := time.Date(2024, 10, 27, 0, 30, 0, 0, time.UTC).In(berlin) // 02:30 CET, the second 02:30
	if s := h.Truncate(second); !s.Equal(time.Date(2024, 10, 27, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("Truncate(second 02:30) = %v", s.UTC())
	}
}

func TestLayoutErrors(t *testing.T) {
	tests := []struct{ layout, err string }{
		{"", "empty layout"},
		{"/dt=YYYY", "empty folder name"},
		{"dt=YYYY/", "empty folder name"},
		{"a//b", "empty folder name"},
		{"../YYYY", `".." folder`},
		{"_tmp/YYYY", "hidden"},
		{".x/YYYY", "hidden"},
		{"dt=YYYY-MM-DDD", `unknown token "D"`},
		{"dt=YYY", `unknown token "YYY"`},
		{"Date=YYYY", `unknown token "D"`},
		{"hr=HH", "HH without YYYY"},
		{"dt=YYYY-DD", "DD without MM"},
		{"t=YYYY:MM", "not allowed in paths"},
	}
	for _, tc := range tests {
		_, err := ParseLayout(tc.layout)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ParseLayout(%q) = %v; want error containing %q", tc.layout, err, tc.err)
		}
	}
}

func TestLocation(t *testing.T) {
	for _, tz := range []string{"", "UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"} {
		if _, err := (PartitionBy{Timezone: tz}).Location(); err != nil {
			t.Errorf("Location(%q): %v", tz, err)
		}
	}
	for _, tz := range []string{"Local", "Mars/Base", "utc+2"} {
		if _, err := (PartitionBy{Timezone: tz}).Location(); err == nil {
			t.Errorf("Location(%q) succeeded", tz)
		}
	}
}

func TestSuggest(t *testing.T) {
	tests := []struct{ key, want string }{
		{"compresion", `did you mean "compression"`},
		{"URL", `did you mean "url"`},
		{"row_group_size", `did you mean "row_group_bytes"`},
		{"brokers", "brokers is valid at source.brokers"},
		{"zzz", "valid keys here: compression"},
	}
	valid := []string{"url", "compression", "roll", "row_group_bytes", "meta_columns", "success_grace"}
	for _, tc := range tests {
		if got, _ := suggest(tc.key, valid, "sink"); !strings.Contains(got, tc.want) {
			t.Errorf("suggest(%q) = %q, want it to contain %q", tc.key, got, tc.want)
		}
	}
}

func TestValidateBuiltInCode(t *testing.T) {
	// A spec built in code (no file) validates with "pipeline NAME" in
	// place of a position.
	s := &Spec{Name: "x", Source: Source{Brokers: []string{"b:1"}, Topics: []string{"t"}}, Sink: Sink{URL: "/tmp/x"}}
	if err := s.Defaults().Validate(); err != nil {
		t.Fatalf("valid spec: %v", err)
	}
	s.Source.Start = "sometime"
	err := s.Validate()
	if err == nil || !strings.HasPrefix(err.Error(), "pipeline x: source.start: bad value") {
		t.Fatalf("Validate = %v", err)
	}
}

func TestAliasBomb(t *testing.T) {
	// A billion-laughs document must fail fast with few errors, not
	// expand 10^9 nodes.
	var b strings.Builder
	b.WriteString("x0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "x%d: &a%d [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	b.WriteString("name: bomb\nsource: {brokers: [\"h:1\"], topics: *a9}\nsink: {url: /x, meta_columns: *a9}\n")
	_, err := LoadBytesEnv("bomb.yaml", []byte(b.String()), testEnv)
	if err == nil {
		t.Fatal("loaded")
	}
	if n := strings.Count(err.Error(), "\n") + 1; n > maxErrors+1 {
		t.Fatalf("%d errors", n)
	}
}

func TestEnvTypedValues(t *testing.T) {
	env := func(k string) (string, bool) {
		v, ok := map[string]string{"N": "8", "ON": "true", "R": "0.5", "AGE": "90s", "SZ": "1GiB"}[k]
		return v, ok
	}
	doc := `name: x
source: {brokers: ["h:1"], topics: [t], tls: {enabled: "${ON}"}}
format: {on_error: skip, max_error_ratio: "${R}"}
sink:
  url: /x
  roll: {records: "${N}", age: '${AGE}', bytes: "${SZ}"}
max_workers: ${N}
`
	s, err := LoadBytesEnv("env.yaml", []byte(doc), env)
	if err != nil {
		t.Fatal(err)
	}
	if s.MaxWorkers != 8 || s.Sink.Roll.Records != 8 || !s.Source.TLS.Enabled || s.Format.MaxErrorRatio != 0.5 ||
		s.Sink.Roll.Age != 90*time.Second || s.Sink.Roll.Bytes != 1<<30 {
		t.Fatalf("got %+v", s)
	}
	// Without ${...}, a quoted number is a string: a type error.
	_, err = LoadBytesEnv("q.yaml", []byte("name: x\nmax_workers: \"8\"\n"), env)
	if err == nil || !strings.Contains(err.Error(), `q.yaml:2:14: max_workers: want an integer, got "8"`) {
		t.Fatalf("quoted number: %v", err)
	}
}

func TestParseSchedule(t *testing.T) {
	from := time.Date(2024, 6, 1, 10, 20, 0, 0, time.UTC)
	tests := []struct {
		expr string
		next time.Time
	}{
		{"15 * * * *", time.Date(2024, 6, 1, 11, 15, 0, 0, time.UTC)}, // UTC, not the machine's zone
		{"@daily", time.Date(2024, 6, 2, 0, 0, 0, 0, time.UTC)},
		{"@every 15m", from.Add(15 * time.Minute)},
		{"@every 1s", from.Add(time.Second)},
		{"@every 1d", from.Add(24 * time.Hour)},
		{"CRON_TZ=Europe/Berlin @every 90s", from.Add(90 * time.Second)},
		{"CRON_TZ=Europe/Berlin 0 13 * * *", time.Date(2024, 6, 1, 11, 0, 0, 0, time.UTC)},
	}
	for _, tc := range tests {
		s, err := ParseSchedule(tc.expr)
		if err != nil {
			t.Errorf("ParseSchedule(%q): %v", tc.expr, err)
			continue
		}
		if got := s.Next(from); !got.Equal(tc.next) {
			t.Errorf("ParseSchedule(%q).Next = %v, want %v", tc.expr, got.UTC(), tc.next)
		}
	}
	for _, bad := range []string{"", "TZ=0", "CRON_TZ=UTC", "61 * * * *", "* * *", "CRON_TZ=Mars/X 0 * * * *", "@sometimes",
		// robfig/cron would run each of these every second.
		"@every -5m", "@every 0s", "@every 1ns", "@every 999ms", "@every 1500ms", "@every", "@every x"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("ParseSchedule(%q) succeeded", bad)
		}
	}
}

// Load leaves every parsed value on the spec, so the loader and the
// scheduler never parse the YAML's strings again.
func TestCompiled(t *testing.T) {
	s, err := LoadBytes("c.yaml", []byte(`name: c
source: {brokers: ["127.0.0.1:9092"], topics: [t], on_gap: skip}
format: {type: json, on_error: dead_letter, json: {schema: [{name: id, type: int64}]}}
partition_by: {layout: "day=YYYYMMDD", timezone: Europe/Berlin}
sink: {url: /tmp/c, compression: zstd}
schedule: "@every 90s"
`))
	if err != nil {
		t.Fatal(err)
	}
	c := s.Compiled()
	if c == nil {
		t.Fatal("Load returned a spec without its parsed values")
	}
	if c.Layout == nil || c.Zone.String() != "Europe/Berlin" || c.Codec != formats.CodecZstd ||
		c.OnError != ErrorDeadLetter || c.OnGap != GapSkip || c.Schedule == nil || c.Format == nil {
		t.Errorf("compiled = %+v", c)
	}
	if got := c.Format.Config().JSON.InferRows; got != formats.DefaultInferRows {
		t.Errorf("format defaults not applied: infer_rows %d", got)
	}
	s.PartitionBy.Layout = "dt=YYYY-MM-DDD"
	if s.Validate() == nil || s.Compiled() != nil {
		t.Error("a spec that fails Validate kept its old parsed values")
	}
}

// Load reads and parses the format's schema_file once, relative to the
// pipeline file's folder: the decoders come from that parse (the file may
// be gone by then), and Compiled says which file it was.
func TestSchemaFileParsedAtLoad(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "schemas"), 0o755); err != nil {
		t.Fatal(err)
	}
	schema := filepath.Join(dir, "schemas", "fields.yaml")
	if err := os.WriteFile(schema, []byte("- {name: id, type: int64, required: true}\n- {name: at, type: timestamp, format: epoch_ms}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(path, []byte(`name: p
source: {brokers: ["127.0.0.1:9092"], topics: [t]}
format: {type: json, json: {schema_file: schemas/fields.yaml}}
partition_by: {time: at}
sink: {url: /tmp/p}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	c := s.Compiled().Format
	if got := c.SchemaFile(); got != schema {
		t.Errorf("SchemaFile() = %q, want %q", got, schema)
	}
	if err := os.Remove(schema); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		d, err := c.NewDecoder(formats.DecoderOptions{})
		if err != nil {
			t.Fatalf("a decoder after Load: %v", err)
		}
		if got := d.Schema().String(); got != "<id!:int64,at:timestamp>" {
			t.Errorf("decoder schema %s", got)
		}
	}
	// The file gone, the next Load says so, at the key.
	_, err = Load(path)
	if err == nil || !strings.Contains(err.Error(), path+":3:42: format.json.schema_file: open "+schema+": no such file or directory") {
		t.Errorf("Load without the schema file: %v", err)
	}
}
