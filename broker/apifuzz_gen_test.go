package broker_test

// The request generator of TestAPIFuzz: any kmsg request, its fields filled
// by reflection with values that matter to a broker (names that exist, that
// do not, that are empty, huge or repeated; counts that are zero, negative
// or huge; valid and broken record batches; unknown tagged fields).

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fuzzGen makes random requests from one seeded source.
type fuzzGen struct {
	rng     *rand.Rand
	topics  []string   // topics that exist, then names that may be created
	ids     [][16]byte // IDs of topics that exist
	groups  []string
	members []string
	// left is what the request being built may still grow by (array
	// elements plus string and byte lengths), so that a request stays a
	// few megabytes however its counts fall.
	left int
}

// requestBudget bounds the size of one generated request, roughly.
const requestBudget = 3 << 20

var tagsType = reflect.TypeOf(kmsg.Tags{})

// request returns a random request of key at version.
func (g *fuzzGen) request(key, version int16) kmsg.Request {
	req := kmsg.RequestForKey(key)
	g.left = requestBudget
	g.fill(reflect.ValueOf(req).Elem(), "", 0)
	req.SetVersion(version)
	return req
}

func (g *fuzzGen) one(n int) bool { return g.rng.IntN(n) == 0 }

func (g *fuzzGen) fill(v reflect.Value, name string, depth int) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == tagsType {
			v.Set(reflect.ValueOf(g.tags()))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if f.IsExported() && f.Name != "Version" {
				g.fill(v.Field(i), f.Name, depth+1)
			}
		}
	case reflect.Pointer:
		if g.one(4) {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		p := reflect.New(v.Type().Elem())
		g.fill(p.Elem(), name, depth)
		v.Set(p)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes(g.bytes(name))
			g.left -= v.Len()
			return
		}
		n, dup := g.count(depth)
		if n < 0 {
			v.Set(reflect.Zero(v.Type())) // a null array
			return
		}
		s := reflect.MakeSlice(v.Type(), 0, min(n, 1024))
		size := 0 // of the element repeated
		for i := 0; i < n && g.left > 0; i++ {
			if dup && i > 0 {
				if size == 0 {
					size = approxSize(s.Index(0))
				}
				s = reflect.Append(s, s.Index(0))
				g.left -= size
				continue
			}
			s = reflect.Append(s, reflect.Zero(v.Type().Elem()))
			g.fill(s.Index(i), name, depth+1)
			g.left--
		}
		v.Set(s)
	case reflect.Array:
		if v.Len() == 16 && v.Type().Elem().Kind() == reflect.Uint8 {
			id := g.uuid(name)
			reflect.Copy(v, reflect.ValueOf(id[:]))
		}
	case reflect.String:
		v.SetString(g.str(name))
		g.left -= v.Len()
	case reflect.Bool:
		v.SetBool(g.one(2))
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(g.int(name, v.Type().Bits()))
	case reflect.Float64:
		v.SetFloat(g.rng.NormFloat64())
	}
}

// approxSize is about how many bytes v encodes to.
func approxSize(v reflect.Value) int {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return 1
		}
		return approxSize(v.Elem())
	case reflect.Struct:
		n := 1
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				n += approxSize(v.Field(i))
			}
		}
		return n
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return 4 + v.Len()
		}
		n := 4
		for i := 0; i < v.Len(); i++ {
			n += approxSize(v.Index(i))
		}
		return n
	case reflect.String:
		return 2 + v.Len()
	}
	return 4
}

// count picks an array length: null, empty, a few, many, or one element
// repeated many times (dup).
func (g *fuzzGen) count(depth int) (n int, dup bool) {
	switch r := g.rng.IntN(100); {
	case r < 5:
		return -1, false
	case r < 20:
		return 0, false
	case r < 75:
		return 1 + g.rng.IntN(3), false
	case r < 88:
		return 4 + g.rng.IntN(20), false
	case r < 96:
		return 100 + g.rng.IntN(5000/(depth+1)), true
	default:
		return 100 + g.rng.IntN(2000/(depth+1)), false
	}
}

func (g *fuzzGen) pick(pool []string) string { return pool[g.rng.IntN(len(pool))] }

// str picks a string for a field, by what the field names.
func (g *fuzzGen) str(name string) string {
	if g.one(12) {
		return g.wild()
	}
	switch {
	case strings.Contains(name, "Topic") && !strings.Contains(name, "Regex"), name == "TopicNames":
		return g.pick(g.topics)
	case name == "ResourceName":
		return g.pick(append([]string{"", "0", "1"}, g.topics...))
	case strings.Contains(name, "Group") || strings.Contains(name, "CoordinatorKey") || strings.Contains(name, "Transaction"):
		return g.pick(g.groups)
	case strings.Contains(name, "MemberID") || strings.Contains(name, "InstanceID"):
		return g.pick(g.members)
	case name == "Name" || name == "ConfigNames":
		return g.pick(fuzzConfigNames)
	case name == "Value":
		return g.pick(fuzzConfigValues)
	case name == "ProtocolType":
		return g.pick([]string{"consumer", "connect", ""})
	case name == "Protocol":
		return g.pick([]string{"range", "roundrobin", "cooperative-sticky", "sticky"})
	case name == "ServerAssignor":
		return g.pick([]string{"uniform", "range", "nope"})
	case strings.Contains(name, "Regex"):
		return g.pick([]string{".*", "f.*", "(a|b)*c", "(", "[[:alpha:]]+", strings.Repeat("(a*)*", 50), "^$"})
	case strings.Contains(name, "Filter"):
		return g.pick([]string{"Stable", "Empty", "Dead", "PreparingRebalance", "classic", "consumer", "stable"})
	}
	return g.wild()
}

// clientID is the request header's client ID: usually short, sometimes
// null, empty or as long as a string can be.
func (g *fuzzGen) clientID() *string {
	var id string
	switch g.rng.IntN(20) {
	case 0:
		return nil
	case 1:
	case 2:
		id = strings.Repeat("c", 32767)
	default:
		id = fmt.Sprintf("fuzz-%d", g.rng.IntN(4))
	}
	return &id
}

// wild is any string: empty, short, long, not UTF-8, not a valid name.
func (g *fuzzGen) wild() string {
	switch g.rng.IntN(8) {
	case 0:
		return ""
	case 1:
		return strings.Repeat("x", 250+g.rng.IntN(30000))
	case 2:
		return string([]byte{0xff, 0xfe, byte(g.rng.IntN(256))})
	case 3:
		return g.pick([]string{".", "..", "a/b", "a b", "__consumer_offsets", "__transaction_state", "ü"})
	default:
		return fmt.Sprintf("w%d", g.rng.IntN(64))
	}
}

// fuzzConfigNames are topic and broker config keys, and some that are not.
var fuzzConfigNames = []string{
	"retention.ms", "retention.bytes", "segment.bytes", "segment.ms", "cleanup.policy",
	"max.message.bytes", "compression.type", "min.insync.replicas", "message.timestamp.type",
	"log.retention.ms", "log.cleaner.enable", "num.partitions", "auto.create.topics.enable",
	"delete.retention.ms", "min.cleanable.dirty.ratio", "no.such.key", "",
}

var fuzzConfigValues = []string{
	"", "0", "1", "-1", "-2", "1000", "86400000", "2147483647", "9223372036854775807", "compact",
	"delete", "compact,delete", "zstd", "gzip", "producer", "true", "false", "LogAppendTime", "0.5", "x",
}

// int picks an integer for a field, by what the field names.
func (g *fuzzGen) int(name string, bits int) int64 {
	small := func(lo, hi int) int64 { return int64(lo + g.rng.IntN(hi-lo+1)) }
	if g.one(20) {
		return g.anyInt(bits) // partition counts too: max.broker.partitions caps them
	}
	if name == "NumPartitions" || name == "Count" {
		return small(-1, 4)
	}
	switch {
	case name == "ReplicationFactor":
		return small(-1, 2)
	case strings.Contains(name, "Millis") || strings.Contains(name, "Timeout"):
		return small(-1, 1500)
	case name == "Partition" || name == "Partitions" || name == "PartitionIndex":
		return small(-1, 8)
	case strings.Contains(name, "Offset") || name == "Timestamp":
		return small(-5, 50)
	case strings.Contains(name, "Epoch") || name == "Generation":
		return small(-2, 3)
	case name == "Acks":
		return small(-2, 2)
	case name == "ResourceType":
		return []int64{2, 2, 4, 4, 0, 8, 16, 1}[g.rng.IntN(8)]
	case name == "Op" || name == "CoordinatorType" || name == "IsolationLevel":
		return small(-1, 3)
	case strings.Contains(name, "Bytes"):
		return []int64{0, 1, 100, 1 << 20, math.MaxInt32, -1}[g.rng.IntN(6)]
	}
	return []int64{0, 1, -1, 2, 7}[g.rng.IntN(5)]
}

func (g *fuzzGen) anyInt(bits int) int64 {
	switch g.rng.IntN(4) {
	case 0:
		return -1 << (bits - 1)
	case 1:
		return 1<<(bits-1) - 1
	}
	return g.rng.Int64() >> (64 - bits)
}

// bytes picks a byte field: record batches for Records, consumer-protocol
// metadata and assignments for groups, else anything.
func (g *fuzzGen) bytes(name string) []byte {
	switch g.rng.IntN(10) {
	case 0:
		return nil
	case 1:
		return []byte{}
	case 2:
		b := make([]byte, g.rng.IntN(200))
		for i := range b {
			b[i] = byte(g.rng.IntN(256))
		}
		return b
	}
	switch name {
	case "Records":
		return g.batch()
	case "ProtocolMetadata", "Metadata":
		m := kmsg.ConsumerMemberMetadata{Version: int16(g.rng.IntN(4)), Topics: []string{g.pick(g.topics), g.pick(g.topics)}}
		return m.AppendTo(nil)
	case "MemberAssignment", "Assignment":
		a := kmsg.ConsumerMemberAssignment{Version: int16(g.rng.IntN(4))}
		a.Topics = []kmsg.ConsumerMemberAssignmentTopic{{Topic: g.pick(g.topics), Partitions: []int32{0, 1, int32(g.rng.IntN(9))}}}
		return a.AppendTo(nil)
	}
	return bytes.Repeat([]byte{byte(g.rng.IntN(256))}, g.rng.IntN(64))
}

// batch is a record batch: valid, compressed, or with one thing wrong.
func (g *fuzzGen) batch() []byte {
	values := make([]string, 1+g.rng.IntN(20))
	for i := range values {
		values[i] = strings.Repeat("v", g.rng.IntN(300))
	}
	b := batch(values...)
	switch g.rng.IntN(10) {
	case 4, 5:
		b = compressBatch(b, []int{1, 3, 4}[g.rng.IntN(3)])
	case 6:
		// A codec the records are not in, 1-7, with a valid CRC.
		b[22] = b[22]&^7 | byte(1+g.rng.IntN(7))
		fixCRC(b)
	case 0:
		b[len(b)-1] ^= 0x55 // bad CRC
	case 1:
		b = b[:g.rng.IntN(len(b))] // torn
	case 2:
		binary.BigEndian.PutUint32(b[57:], uint32(g.anyInt(32))) // record count
	case 3:
		b = append(b, batch("second")...)
	}
	return b
}

func (g *fuzzGen) uuid(name string) [16]byte {
	var id [16]byte
	switch r := g.rng.IntN(10); {
	case strings.Contains(name, "Topic") && r < 6 && len(g.ids) > 0:
		id = g.ids[g.rng.IntN(len(g.ids))]
	case r < 8:
	default:
		for i := range id {
			id[i] = byte(g.rng.IntN(256))
		}
	}
	return id
}

// tags are usually none, sometimes unknown tagged fields.
func (g *fuzzGen) tags() kmsg.Tags {
	var t kmsg.Tags
	if !g.one(15) {
		return t
	}
	for n := 1 + g.rng.IntN(4); n > 0; n-- {
		val := make([]byte, g.rng.IntN(40))
		t.Set(uint32(g.rng.IntN(1<<20)), val)
	}
	return t
}

// batchRecordsAt is where a v2 batch's records start.
const batchRecordsAt = 61

// compressBatch returns b with its records compressed by codec (1 gzip,
// 3 lz4, 4 zstd).
func compressBatch(b []byte, codec int) []byte {
	var buf bytes.Buffer
	switch codec {
	case 1:
		w := gzip.NewWriter(&buf)
		w.Write(b[batchRecordsAt:])
		w.Close()
	case 3:
		w := lz4.NewWriter(&buf)
		w.Write(b[batchRecordsAt:])
		w.Close()
	case 4:
		enc, _ := zstd.NewWriter(nil)
		buf.Write(enc.EncodeAll(b[batchRecordsAt:], nil))
		enc.Close()
	}
	out := append(append([]byte(nil), b[:batchRecordsAt]...), buf.Bytes()...)
	out[22] = out[22]&^7 | byte(codec)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	fixCRC(out)
	return out
}

// fixCRC sets a v2 batch's CRC-32C over its bytes from the attributes on.
func fixCRC(b []byte) {
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
}

// learn keeps member IDs and topic IDs the broker hands out, so that later
// requests name members and topics that exist.
func (g *fuzzGen) learn(resp kmsg.Response) {
	keep := func(pool []string, s string) []string {
		if s == "" || len(s) > 200 {
			return pool
		}
		if len(pool) >= 16 {
			pool[3+g.rng.IntN(len(pool)-3)] = s // the first three stay: "", m0, nobody
			return pool
		}
		return append(pool, s)
	}
	switch r := resp.(type) {
	case *kmsg.JoinGroupResponse:
		g.members = keep(g.members, r.MemberID)
	case *kmsg.ConsumerGroupHeartbeatResponse:
		if r.MemberID != nil {
			g.members = keep(g.members, *r.MemberID)
		}
	case *kmsg.CreateTopicsResponse:
		for _, t := range r.Topics {
			if t.ErrorCode == 0 && len(g.ids) < 32 {
				g.ids = append(g.ids, t.TopicID)
			}
		}
	}
}

// mutate damages an encoded frame (after its 4-byte size): flipped bytes, a
// cut, garbage at the end, or an array count made huge.
func (g *fuzzGen) mutate(frame []byte) []byte {
	body := 14 // size, key, version, correlation id, client id length
	if len(frame) <= body {
		return frame
	}
	switch g.rng.IntN(4) {
	case 0:
		for n := 1 + g.rng.IntN(4); n > 0; n-- {
			frame[body+g.rng.IntN(len(frame)-body)] ^= byte(1 + g.rng.IntN(255))
		}
	case 1:
		frame = frame[:body+g.rng.IntN(len(frame)-body)]
	case 2:
		for n := g.rng.IntN(100); n > 0; n-- {
			frame = append(frame, byte(g.rng.IntN(256)))
		}
	case 3:
		if at := body + g.rng.IntN(len(frame)-body); at+4 <= len(frame) {
			binary.BigEndian.PutUint32(frame[at:], 0x7fffffff)
		}
	}
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
	return frame
}
