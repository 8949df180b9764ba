package pipelines

import (
	"time"

	"github.com/robfig/cron/v3"

	"github.com/sluicehq/sluice/formats"
)

// ErrorPolicy is format.on_error, parsed.
type ErrorPolicy uint8

// The values of format.on_error.
const (
	ErrorFail       ErrorPolicy = iota // fail: stop the run on a bad record
	ErrorSkip                          // skip: count and drop bad records
	ErrorDeadLetter                    // dead_letter: write bad records to <sink>/_errors/
)

// GapPolicy is source.on_gap, parsed.
type GapPolicy uint8

// The values of source.on_gap.
const (
	GapFail GapPolicy = iota // fail: error if retention deleted the resume offset
	GapSkip                  // skip: jump to the oldest retained offset, logging the gap
)

// Compiled is a valid spec's values in the types the loader and the
// scheduler use. Validate parses each once and keeps the result here, so
// nothing downstream parses or validates the spec again.
type Compiled struct {
	Layout   *Layout           // partition_by.layout
	Zone     *time.Location    // partition_by.timezone
	Codec    formats.Codec     // sink.compression
	Format   *formats.Compiled // format, defaults applied, schema parsed
	OnError  ErrorPolicy       // format.on_error
	OnGap    GapPolicy         // source.on_gap
	Schedule cron.Schedule     // schedule in schedule_timezone; nil: on demand only
}

// Compiled returns the spec's parsed values, or nil unless Validate (which
// Load runs) has passed on this spec.
func (s *Spec) Compiled() *Compiled { return s.compiled }

func parseErrorPolicy(v string) ErrorPolicy {
	switch v {
	case OnErrorSkip:
		return ErrorSkip
	case OnErrorDeadLetter:
		return ErrorDeadLetter
	}
	return ErrorFail
}
