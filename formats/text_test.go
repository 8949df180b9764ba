package formats

import (
	"testing"
	"time"
)

// FuzzSmallDecimal: the allocation-free decimal path agrees with the
// general one whenever it answers.
func FuzzSmallDecimal(f *testing.F) {
	for _, s := range []string{"0", "-0", "12.34", "0.05", "1.", ".", "-", "00012.300", "999999999999999999", "1e3", "-12.345", "99999999.99"} {
		f.Add(s, 10, 2)
	}
	f.Fuzz(func(t *testing.T, s string, precision, scale int) {
		if precision < 1 || precision > 18 || scale < 0 || scale > precision {
			return
		}
		fast, ok := smallDecimal([]byte(s), precision, scale)
		if !ok {
			return
		}
		slow, err := parseDecimalText(s, precision, scale)
		if err != nil {
			t.Fatalf("%q decimal(%d,%d): fast path gave %v, general path error %v", s, precision, scale, fast, err)
		}
		if fast.Int() != slow.Int() {
			t.Fatalf("%q decimal(%d,%d): fast %d, general %d", s, precision, scale, fast.Int(), slow.Int())
		}
	})
}

func TestRFC3339(t *testing.T) {
	for _, s := range []string{"2024-05-01T12:00:00Z", "2024-05-01T12:00:00.5+02:00", "1970-01-01T00:00:00.000001Z", "2000-02-29T23:59:59.999999-11:30", "1900-03-01T00:00:00Z"} {
		us, err := parseRFC3339Micros(s)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := parseTimestampSlow(s)
		if us != want {
			t.Errorf("%s: fast %d, time.Parse %d", s, us, want)
		}
	}
	for _, s := range []string{"2024-02-30T00:00:00Z", "2024-05-01T24:00:00Z", "2024-05-01T12:00:00", "2024-05-01 12:00:00Z"} {
		if _, ok := fastRFC3339(s); ok && s != "2024-05-01 12:00:00Z" {
			t.Errorf("%s: fast path accepted it", s)
		}
	}
}

// parseTimestampSlow is time.Parse's answer, for tests of the fast path.
func parseTimestampSlow(s string) (int64, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, err
	}
	return t.UnixMicro(), nil
}
