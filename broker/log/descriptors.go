package log

import "syscall"

// DescriptorLimit returns the process's limit on open descriptors (the
// soft RLIMIT_NOFILE, which the Go runtime raises to the hard limit at
// start), or 0 if it cannot be read.
func DescriptorLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return 0
	}
	if rl.Cur > 1<<30 {
		return 1 << 30 // RLIM_INFINITY
	}
	return int(rl.Cur)
}

// DescriptorBudget is how a broker shares its descriptor limit, so that
// neither many partitions nor many clients can starve the other (or the
// broker itself) of descriptors. The broker's connection limit and its log
// file cache both take their share from SplitDescriptors.
type DescriptorBudget struct {
	// Limit is the process's descriptor limit the budget splits.
	Limit int
	// Reserve is kept back from client connections
	// (connections.fd.reserve): the log files plus Other.
	Reserve int
	// LogFiles is the default capacity of the log file cache
	// (log.open.files.max): segment and index files held open.
	LogFiles int
	// Other is the part of the reserve left for everything else: standard
	// streams, listeners, the data dir lock, the metadata journal,
	// checkpoint, snapshot and probe files being written, the cleaner's
	// new segment files, and the --http listener's connections.
	Other int
	// Connections is what client connections may hold: Limit - Reserve.
	Connections int
}

// Parts of a reserve not given to log files: up to otherDescriptors, but
// never more than half of it.
const otherDescriptors = 64

// minLogFiles is the smallest log file cache SplitDescriptors gives; with
// a reserve too small for it the cache goes over the reserve, since a
// broker cannot serve a partition without opening its files.
const minLogFiles = 8

// defaultDescriptorLimit stands in for a limit that cannot be read.
const defaultDescriptorLimit = 1024

// SplitDescriptors splits limit descriptors (DescriptorLimit; <= 0 means
// unknown, taken as 1024). reserve is connections.fd.reserve, the
// descriptors kept back from client connections; a negative one takes the
// default, a quarter of the limit, at least 128 and at most half. Of the
// reserve, 64 (at most half of it) are left for the broker's other files
// and the rest, at least 8, is the log file cache. With a limit of 512 that
// is 384 connections, 64 log files and 64 others; with 20,000, 15,000
// connections and 4,936 log files.
func SplitDescriptors(limit, reserve int) DescriptorBudget {
	if limit <= 0 {
		limit = defaultDescriptorLimit
	}
	if reserve < 0 {
		reserve = min(max(limit/4, 128), limit/2)
	}
	other := min(otherDescriptors, reserve/2)
	return DescriptorBudget{
		Limit:       limit,
		Reserve:     reserve,
		LogFiles:    max(reserve-other, minLogFiles),
		Other:       other,
		Connections: max(limit-reserve, 0),
	}
}
