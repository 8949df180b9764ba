package pipelines

// Size is a byte count written in YAML as an integer or with a unit:
// 256MiB, 1GB, 64KiB, 512B (KB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB
// powers of 1024).
type Size int64
