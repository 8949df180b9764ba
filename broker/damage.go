package broker

// Damaged data in partition logs, as broker/log reports it (DamagedRange:
// a segment's byte range kept on disk, the offsets it held, why and who
// found it): on /metrics per partition, and in DescribeLogDirs
// (35_describe_log_dirs.go) for `sluice topic describe`.

import (
	"encoding/json"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/broker/log"
)

var (
	damagedRangesDesc = prometheus.NewDesc("sluice_partition_damaged_ranges",
		"Damaged byte ranges kept in one partition's sealed segments (found by recovery, reads or the scrubber); fetches of their offsets answer CORRUPT_MESSAGE.",
		[]string{"topic", "partition"}, nil)
	damagedBytesDesc = prometheus.NewDesc("sluice_partition_damaged_bytes",
		"Bytes of one partition's segments in damaged ranges.", []string{"topic", "partition"}, nil)
	damagedOffsetsDesc = prometheus.NewDesc("sluice_partition_damaged_offsets",
		"Offsets of one partition that lie in damaged ranges (at most; a range's offsets are bounded by the valid batches around it).",
		[]string{"topic", "partition"}, nil)
)

// partitionDamage reports each partition's damaged ranges at scrape time.
type partitionDamage struct{ s *Server }

func (p *partitionDamage) Describe(ch chan<- *prometheus.Desc) {
	ch <- damagedRangesDesc
	ch <- damagedBytesDesc
	ch <- damagedOffsetsDesc
}

func (p *partitionDamage) Collect(ch chan<- prometheus.Metric) {
	for _, part := range p.s.allPartitions() {
		var bytes, offsets int64
		dmg := part.log.Damage()
		for _, r := range dmg {
			bytes += r.Bytes()
			offsets += r.Offsets()
		}
		labels := []string{part.topic, strconv.Itoa(int(part.index))}
		ch <- prometheus.MustNewConstMetric(damagedRangesDesc, prometheus.GaugeValue, float64(len(dmg)), labels...)
		ch <- prometheus.MustNewConstMetric(damagedBytesDesc, prometheus.GaugeValue, float64(bytes), labels...)
		ch <- prometheus.MustNewConstMetric(damagedOffsetsDesc, prometheus.GaugeValue, float64(offsets), labels...)
	}
}

// DamagedRangesTag is the tagged field of a DescribeLogDirs response
// partition (flexible versions, 2+) in which Sluice puts the partition's
// damaged ranges, as JSON (an array of log.DamagedRange). Kafka defines no
// tags there; clients that do not know this one skip it, as tagged fields
// are meant to be. The number is far above any Kafka would assign.
const DamagedRangesTag = 0x51ce

// EncodeDamagedRanges is the value of the DamagedRangesTag field.
func EncodeDamagedRanges(rs []log.DamagedRange) []byte {
	b, _ := json.Marshal(rs) // plain data: cannot fail
	return b
}

// DecodeDamagedRanges reads a DamagedRangesTag field.
func DecodeDamagedRanges(b []byte) ([]log.DamagedRange, error) {
	var rs []log.DamagedRange
	err := json.Unmarshal(b, &rs)
	return rs, err
}
