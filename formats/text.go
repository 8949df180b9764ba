package formats

import (
	"encoding/base64"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"
	"unicode/utf8"
)

// Conversions from text (CSV fields, JSON strings and number literals) to
// typed values, shared by the decoders. Each returns a reason on failure,
// never a silently altered value.

func parseInt64Text(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, fmt.Errorf("%s is out of the int64 range", s)
		}
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	return n, nil
}

func parseInt32Text(s string) (int32, error) {
	n, err := parseInt64Text(s)
	if err != nil {
		return 0, err
	}
	if n < math.MinInt32 || n > math.MaxInt32 {
		return 0, fmt.Errorf("%s is out of the int32 range", s)
	}
	return int32(n), nil
}

func parseFloatText(s string, bits int) (float64, error) {
	f, err := strconv.ParseFloat(s, bits)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, fmt.Errorf("%s is out of the float%d range", s, bits)
		}
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return f, nil
}

func parseBoolText(s string) (bool, error) {
	switch s {
	case "true", "TRUE", "True", "1":
		return true, nil
	case "false", "FALSE", "False", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (true, false, 1 or 0)", s)
}

// smallDecimal is the allocation-free path of parseDecimalText for plain
// literals ("-12.3") of a decimal with precision <= 18; ok is false when
// the general path must decide (exponents, too many digits, errors).
func smallDecimal(b []byte, precision, scale int) (Value, bool) {
	if precision > 18 || len(b) == 0 || len(b) > 20 {
		return Value{}, false
	}
	i := 0
	neg := b[0] == '-'
	if neg {
		i++
	}
	var n int64
	digits, frac := 0, -1
	seen := false
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= '0' && c <= '9':
			seen = true
			if n != 0 || c != '0' {
				digits++
			}
			n = n*10 + int64(c-'0')
			if frac >= 0 {
				frac++
			}
		case c == '.' && frac < 0:
			frac = 0
		default:
			return Value{}, false
		}
	}
	if frac < 0 {
		frac = 0
	}
	if !seen || frac > scale {
		return Value{}, false
	}
	for ; frac < scale; frac++ {
		n *= 10
		if n != 0 {
			digits++
		}
	}
	if digits > precision {
		return Value{}, false
	}
	if neg {
		n = -n
	}
	return DecimalInt64(n), true
}

// parseDecimalText reads an exact decimal ("-12.34", "1e3", "0.5") into
// the unscaled integer of decimal(precision, scale). More fractional
// digits than scale, or more integer digits than precision-scale, is an
// error: nothing is rounded.
func parseDecimalText(s string, precision, scale int) (Value, error) {
	i := 0
	neg := false
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		neg = s[i] == '-'
		i++
	}
	var digits []byte
	frac := 0
	seenDigit, seenPoint := false, false
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			seenDigit = true
			digits = append(digits, c)
			if seenPoint {
				frac++
			}
			continue
		case c == '.' && !seenPoint:
			seenPoint = true
			continue
		}
		break
	}
	if !seenDigit {
		return Value{}, fmt.Errorf("%q is not a decimal number", s)
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > 1000 || e < -1000 {
			return Value{}, fmt.Errorf("%q is not a decimal number", s)
		}
		exp = e
		i = len(s)
	}
	if i != len(s) {
		return Value{}, fmt.Errorf("%q is not a decimal number", s)
	}
	frac -= exp // digits * 10^-frac
	// Drop trailing zeros beyond the scale (1.500 fits decimal(p,1)).
	for frac > scale && len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		frac--
	}
	if frac > scale {
		return Value{}, fmt.Errorf("%s has %d digits after the point, decimal(%d,%d) allows %d", s, frac, precision, scale, scale)
	}
	for ; frac < scale; frac++ {
		digits = append(digits, '0')
	}
	// Strip leading zeros to count significant digits.
	j := 0
	for j < len(digits)-1 && digits[j] == '0' {
		j++
	}
	digits = digits[j:]
	if len(digits) > precision && !(len(digits) == 1 && digits[0] == '0') {
		return Value{}, fmt.Errorf("%s needs %d digits, decimal(%d,%d) holds %d", s, len(digits), precision, scale, precision)
	}
	if precision <= 18 {
		n, _ := strconv.ParseInt(string(digits), 10, 64)
		if neg {
			n = -n
		}
		return DecimalInt64(n), nil
	}
	x, _ := new(big.Int).SetString(string(digits), 10)
	if neg {
		x.Neg(x)
	}
	return DecimalValue(x, precision), nil
}

// parseDateText reads YYYY-MM-DD into days since the epoch.
func parseDateText(s string) (Value, error) {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return Value{}, fmt.Errorf("%q is not a date (YYYY-MM-DD)", s)
	}
	return DateValue(int32(t.Unix() / 86400)), nil
}

// parseTimestampText reads a timestamp given as text in the field's format.
func parseTimestampText(s, format string) (Value, error) {
	switch format {
	case "", TimeRFC3339:
		us, err := parseRFC3339Micros(s)
		if err != nil {
			return Value{}, err
		}
		return TimestampMicros(us), nil
	case TimeEpochS:
		return epochSeconds(s)
	case TimeEpochMS, TimeEpochUS:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return Value{}, fmt.Errorf("%q is not an integer %s timestamp", s, format)
		}
		if format == TimeEpochUS {
			return TimestampMicros(n), nil
		}
		if n > math.MaxInt64/1000 || n < math.MinInt64/1000 {
			return Value{}, fmt.Errorf("%s is out of the timestamp range", s)
		}
		return TimestampMicros(n * 1000), nil
	}
	return Value{}, fmt.Errorf("unknown time format %q", format)
}

// epochSeconds reads seconds since the epoch, integer or with a fraction
// of up to 6 digits (more would be silently truncated: an error).
func epochSeconds(s string) (Value, error) {
	v, err := parseDecimalText(s, 18, 6)
	if err != nil {
		return Value{}, fmt.Errorf("%q is not an epoch_s timestamp with at most microsecond precision", s)
	}
	return TimestampMicros(v.Int()), nil
}

// parseRFC3339Micros parses an RFC 3339 timestamp to microseconds since
// the epoch. The common shape 2006-01-02T15:04:05[.ffffff](Z|±hh:mm) is
// parsed by hand; anything else goes through time.Parse. Sub-microsecond
// digits that are not zero are an error (they would be lost).
func parseRFC3339Micros(s string) (int64, error) {
	if us, ok := fastRFC3339(s); ok {
		return us, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("%q is not an RFC 3339 timestamp", s)
	}
	if t.Nanosecond()%1000 != 0 {
		return 0, fmt.Errorf("%q has sub-microsecond digits; timestamps hold microseconds", s)
	}
	return t.UnixMicro(), nil
}

func digits2(s string, i int) (int, bool) {
	a, b := s[i]-'0', s[i+1]-'0'
	if a > 9 || b > 9 {
		return 0, false
	}
	return int(a)*10 + int(b), true
}

func fastRFC3339(s string) (int64, bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	y1, ok1 := digits2(s, 0)
	y2, ok2 := digits2(s, 2)
	mo, ok3 := digits2(s, 5)
	d, ok4 := digits2(s, 8)
	h, ok5 := digits2(s, 11)
	mi, ok6 := digits2(s, 14)
	se, ok7 := digits2(s, 17)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59 {
		return 0, false
	}
	i := 19
	us := 0
	if s[i] == '.' {
		i++
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if n < 6 {
				us = us*10 + int(s[i]-'0')
			} else if s[i] != '0' {
				return 0, false // sub-microsecond: let the slow path report it
			}
			n++
			i++
		}
		if n == 0 {
			return 0, false
		}
		for ; n < 6; n++ {
			us *= 10
		}
	}
	off := 0
	switch {
	case i == len(s)-1 && (s[i] == 'Z' || s[i] == 'z'):
	case i == len(s)-6 && (s[i] == '+' || s[i] == '-') && s[i+3] == ':':
		oh, ok1 := digits2(s, i+1)
		om, ok2 := digits2(s, i+4)
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return 0, false
		}
		off = (oh*60 + om) * 60
		if s[i] == '-' {
			off = -off
		}
	default:
		return 0, false
	}
	year := y1*100 + y2
	if d > daysIn(mo, year) {
		return 0, false
	}
	days := daysFromCivil(year, mo, d)
	secs := days*86400 + int64(h*3600+mi*60+se) - int64(off)
	return secs*1_000_000 + int64(us), true
}

func daysIn(m, y int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil is Howard Hinnant's days_from_civil.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era*146097 + doe - 719468)
}

func decodeBase64Text(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not base64: %v", err)
	}
	return b, nil
}

// clone copies b (nil stays nil).
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

// invalidUTF8At returns the offset of the first invalid UTF-8 byte of b.
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}
