package formats

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"time"
	"unsafe"
)

// Header is a Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Message is one Kafka record as the loader hands it to a decoder.
type Message struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time
	Key       []byte
	Value     []byte
	Headers   []Header
}

// Names of the metadata columns a Writer can add (WriterOptions.MetaColumns)
// and of the record time a Row answers for in Time.
const (
	MetaTopic     = "_topic"     // string, required
	MetaPartition = "_partition" // int32, required
	MetaOffset    = "_offset"    // int64, required
	MetaTimestamp = "_timestamp" // timestamp, required: the Kafka record time
	MetaKey       = "_key"       // binary, nullable: the Kafka record key
)

// DefaultMetaColumns returns the metadata columns every row carries unless
// the pipeline says otherwise (a new slice each time: callers may change it).
func DefaultMetaColumns() []string {
	return []string{MetaTopic, MetaPartition, MetaOffset, MetaTimestamp}
}

// Row is one decoded message: values following Schema (one per field, in
// order), plus the message's coordinates for the metadata columns. A Row
// does not alias the message's bytes: it stays valid after the message
// buffer is reused.
type Row struct {
	Schema *Schema
	Values []Value

	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time
	Key       []byte
}

// ErrNoTime is returned by Row.Time for a null or missing time field.
var ErrNoTime = errors.New("formats: no time value")

// Get returns the value of the top-level field name and whether the schema
// has that field.
func (r *Row) Get(name string) (Value, bool) {
	i := r.Schema.Index(name)
	if i < 0 {
		return Value{}, false
	}
	return r.Values[i], true
}

// Time returns the time that places the row in a time partition: the
// record time for "_timestamp", else the top-level field name, which must
// be a timestamp, a date (midnight UTC), or a string in RFC 3339. A null
// value is an error wrapping ErrNoTime; the caller decides what to do.
func (r *Row) Time(name string) (time.Time, error) {
	if name == MetaTimestamp {
		return r.Timestamp, nil
	}
	v, ok := r.Get(name)
	if !ok {
		return time.Time{}, fmt.Errorf("formats: time field %q: %w: the schema has no such field", name, ErrNoTime)
	}
	switch v.Kind() {
	case KindNull:
		return time.Time{}, fmt.Errorf("formats: time field %q: %w: it is null at offset %d", name, ErrNoTime, r.Offset)
	case KindTimestamp, KindDate:
		return v.Time(), nil
	case KindString:
		t, err := time.Parse(time.RFC3339Nano, string(v.Bytes()))
		if err != nil {
			return time.Time{}, fmt.Errorf("formats: time field %q at offset %d: not RFC 3339: %q", name, r.Offset, v.Bytes())
		}
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("formats: time field %q is %s, not a timestamp, date or RFC 3339 string", name, v.Kind())
}

// Value is one value of a row: null, a primitive, or a list, map or struct
// of values. The zero Value is null.
type Value struct {
	num  uint64 // boolean, integers, date days, timestamp micros, float bits, small decimal unscaled
	kind Kind
	// ptr and n are the bytes of a string, binary or wide decimal
	// (big-endian two's complement), or the elements of a list (map: keys
	// and values interleaved; struct: members). Two words instead of two
	// slices keep a Value at 24 bytes: rows are mostly Values.
	ptr unsafe.Pointer
	n   uint32
}

// NullValue returns a null.
func NullValue() Value { return Value{} }

// BooleanValue returns a boolean.
func BooleanValue(b bool) Value {
	v := Value{kind: KindBoolean}
	if b {
		v.num = 1
	}
	return v
}

// Int32Value returns an int32.
func Int32Value(i int32) Value { return Value{kind: KindInt32, num: uint64(int64(i))} }

// Int64Value returns an int64.
func Int64Value(i int64) Value { return Value{kind: KindInt64, num: uint64(i)} }

// FloatValue returns a float.
func FloatValue(f float32) Value { return Value{kind: KindFloat, num: uint64(math.Float32bits(f))} }

// DoubleValue returns a double.
func DoubleValue(f float64) Value { return Value{kind: KindDouble, num: math.Float64bits(f)} }

// StringValue returns a string. The bytes are not copied.
func StringValue(s []byte) Value { return bytesValue(KindString, s) }

// BinaryValue returns a binary value. The bytes are not copied.
func BinaryValue(b []byte) Value { return bytesValue(KindBinary, b) }

func bytesValue(k Kind, b []byte) Value {
	if len(b) > math.MaxUint32 {
		panic("formats: value longer than 4 GiB")
	}
	return Value{kind: k, ptr: unsafe.Pointer(unsafe.SliceData(b)), n: uint32(len(b))}
}

func elemsValue(k Kind, e []Value) Value {
	return Value{kind: k, ptr: unsafe.Pointer(unsafe.SliceData(e)), n: uint32(len(e))}
}

// raw returns the bytes of a string, binary or wide decimal.
func (v Value) raw() []byte {
	if v.ptr == nil {
		return nil
	}
	return unsafe.Slice((*byte)(v.ptr), v.n)
}

// list returns the elements of a list, map or struct.
func (v Value) list() []Value {
	if v.ptr == nil {
		return nil
	}
	return unsafe.Slice((*Value)(v.ptr), v.n)
}

// DateValue returns a date, days since 1970-01-01.
func DateValue(days int32) Value { return Value{kind: KindDate, num: uint64(int64(days))} }

// TimestampValue returns a timestamp truncated to microseconds.
func TimestampValue(t time.Time) Value { return TimestampMicros(t.UnixMicro()) }

// TimestampMicros returns a timestamp given in microseconds since the epoch.
func TimestampMicros(us int64) Value { return Value{kind: KindTimestamp, num: uint64(us)} }

// DecimalValue returns a decimal of the given precision from its unscaled
// integer (123.45 in decimal(10,2) is 12345). It does not check the
// precision: decoders do.
func DecimalValue(unscaled *big.Int, precision int) Value {
	if precision <= 18 {
		return Value{kind: KindDecimal, num: uint64(unscaled.Int64())}
	}
	return bytesValue(KindDecimal, bigToTwos(unscaled, decimalBytes(precision)))
}

// DecimalInt64 returns a decimal of precision <= 18 from its unscaled value.
func DecimalInt64(unscaled int64) Value { return Value{kind: KindDecimal, num: uint64(unscaled)} }

// ListValue returns a list of the given elements.
func ListValue(elems ...Value) Value { return elemsValue(KindList, elems) }

// MapValue returns a map; kv holds keys (strings) and values interleaved.
func MapValue(kv ...Value) Value { return elemsValue(KindMap, kv) }

// StructValue returns a struct of the given members, in field order.
func StructValue(members ...Value) Value { return elemsValue(KindStruct, members) }

// Kind returns the value's kind; KindNull for a null.
func (v Value) Kind() Kind { return v.kind }

// IsNull reports whether v is null.
func (v Value) IsNull() bool { return v.kind == KindNull }

// Bool returns a boolean's value.
func (v Value) Bool() bool { return v.num != 0 }

// Int returns the value of an int32, int64 or date (days), a timestamp in
// microseconds, or a decimal of precision <= 18 unscaled.
func (v Value) Int() int64 { return int64(v.num) }

// Float returns the value of a float or double.
func (v Value) Float() float64 {
	if v.kind == KindFloat {
		return float64(math.Float32frombits(uint32(v.num)))
	}
	return math.Float64frombits(v.num)
}

// Bytes returns the bytes of a string or binary value.
func (v Value) Bytes() []byte { return v.raw() }

// Time returns a timestamp or date as a UTC time.
func (v Value) Time() time.Time {
	if v.kind == KindDate {
		return time.Unix(int64(v.num)*86400, 0).UTC()
	}
	return time.UnixMicro(int64(v.num)).UTC()
}

// Unscaled returns a decimal's unscaled integer.
func (v Value) Unscaled() *big.Int {
	if v.n == 0 {
		return big.NewInt(int64(v.num))
	}
	return twosToBig(v.raw())
}

// Len returns the number of elements of a list, entries of a map or members
// of a struct.
func (v Value) Len() int {
	if v.kind == KindMap {
		return int(v.n) / 2
	}
	return int(v.n)
}

// Index returns the i-th element of a list or member of a struct.
func (v Value) Index(i int) Value { return v.list()[i] }

// Entry returns the i-th key and value of a map.
func (v Value) Entry(i int) (key, value Value) { e := v.list(); return e[2*i], e[2*i+1] }

// String renders the value for messages and tests.
func (v Value) String() string {
	switch v.kind {
	case KindNull:
		return "null"
	case KindBoolean:
		return fmt.Sprint(v.Bool())
	case KindInt32, KindInt64:
		return fmt.Sprint(v.Int())
	case KindFloat, KindDouble:
		return fmt.Sprint(v.Float())
	case KindString:
		return fmt.Sprintf("%q", v.raw())
	case KindBinary:
		return fmt.Sprintf("0x%x", v.raw())
	case KindDate:
		return v.Time().Format("2006-01-02")
	case KindTimestamp:
		return v.Time().Format("2006-01-02T15:04:05.999999Z07:00")
	case KindDecimal:
		return "dec:" + v.Unscaled().String()
	case KindList, KindStruct:
		s := "["
		if v.kind == KindStruct {
			s = "{"
		}
		for i, e := range v.list() {
			if i > 0 {
				s += " "
			}
			s += e.String()
		}
		if v.kind == KindStruct {
			return s + "}"
		}
		return s + "]"
	case KindMap:
		s := "map["
		for i := 0; i < len(v.list()); i += 2 {
			if i > 0 {
				s += " "
			}
			s += v.list()[i].String() + ":" + v.list()[i+1].String()
		}
		return s + "]"
	}
	return "?"
}

// decimalBytes is the FIXED_LEN_BYTE_ARRAY length holding any unscaled
// value of the given precision (the table Spark and Hive use).
func decimalBytes(precision int) int {
	if precision >= 0 && precision < len(decimalBytesTable) {
		return decimalBytesTable[precision]
	}
	return decimalBytesFor(precision)
}

var decimalBytesTable = func() (t [MaxDecimalPrecision + 1]int) {
	for p := range t {
		t[p] = decimalBytesFor(p)
	}
	return t
}()

func decimalBytesFor(precision int) int {
	n := 1
	for {
		// Max value with n bytes: 2^(8n-1)-1 >= 10^precision - 1.
		if float64(8*n-1)*math.Log10(2) >= float64(precision) {
			return n
		}
		n++
	}
}

var bigOne = big.NewInt(1)

// bigToTwos renders x as n bytes, big-endian two's complement.
func bigToTwos(x *big.Int, n int) []byte {
	out := make([]byte, n)
	if x.Sign() >= 0 {
		x.FillBytes(out)
		return out
	}
	// Two's complement of a negative: 2^(8n) + x.
	m := new(big.Int).Lsh(bigOne, uint(8*n))
	m.Add(m, x)
	m.FillBytes(out)
	return out
}

// twosToBig reads big-endian two's complement bytes.
func twosToBig(b []byte) *big.Int {
	x := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		m := new(big.Int).Lsh(bigOne, uint(8*len(b)))
		x.Sub(x, m)
	}
	return x
}
