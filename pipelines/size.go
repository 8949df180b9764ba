package pipelines

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Size is a byte count written in YAML as an integer or with a unit:
// 256MiB, 1GB, 64KiB, 512B (KB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB
// powers of 1024; a bare K/M/G/T is binary, as in Kafka's and Hadoop's
// configs). Units are case-insensitive.
type Size int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	// Longest first, so "MiB" is not read as "B".
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40},
	{"b", 1},
}

// ParseSize parses a size such as "256MiB", "1GB", "1.5GiB" or "1048576".
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	num, mult := t, int64(1)
	low := strings.ToLower(t)
	for _, u := range sizeUnits {
		if strings.HasSuffix(low, u.suffix) {
			num, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.mult
			break
		}
	}
	num = strings.ReplaceAll(num, "_", "")
	bad := fmt.Errorf("bad size %q: want bytes or a number with a unit, like 256MiB, 64KiB, 1GB (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)", s)
	if num == "" {
		return 0, bad
	}
	if i, err := strconv.ParseInt(num, 10, 64); err == nil {
		if i < 0 {
			return 0, fmt.Errorf("bad size %q: must not be negative", s)
		}
		if i > math.MaxInt64/mult {
			return 0, fmt.Errorf("bad size %q: too large", s)
		}
		return Size(i * mult), nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, bad
	}
	if f < 0 {
		return 0, fmt.Errorf("bad size %q: must not be negative", s)
	}
	v := f * float64(mult)
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("bad size %q: too large", s)
	}
	return Size(math.Round(v)), nil
}

// String formats s with the largest unit that divides it exactly, binary
// first (256MiB, 1GB), so ParseSize(s.String()) == s.
func (s Size) String() string {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}} {
		if s != 0 && int64(s)%u.mult == 0 {
			return strconv.FormatInt(int64(s)/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(s), 10) + "B"
}

// ParseDuration parses a Go duration (90s, 10m, 1h30m) with one more unit,
// d for 24 hours, which may lead it: 30d, 1d12h.
func ParseDuration(s string) (time.Duration, error) {
	days := int64(0)
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseInt(s[:i], 10, 32)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		days, s = n, s[i+1:]
		if s == "" {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d < 0 && days > 0 {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	return time.Duration(days)*24*time.Hour + d, nil
}
