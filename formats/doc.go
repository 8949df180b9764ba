// Package formats turns Kafka messages into typed rows and rows into Parquet
// files that Spark, Hive, Trino, DuckDB and pyarrow read.
//
// The pieces, in the order the loader uses them:
//
//   - [Config] is the pipeline's `format:` section (type json, csv, avro or
//     raw, with per-type options and the schema-evolution policy).
//   - [NewDecoder] builds a [Decoder] from a Config. Decoding one [Message]
//     yields a [*Row] (values plus the [*Schema] they follow) or a
//     [*DecodeError] naming the field path and the reason. A decoder never
//     panics and never turns a bad value into a null.
//   - [Resolve] compares a row's schema with the schema of the file that is
//     open and says, under the pipeline's [Compatibility], whether the row
//     fits, whether a new file with a merged schema must be started, or
//     whether the change is an error ([*SchemaError]).
//   - [NewWriter] streams rows into a Parquet file over an io.Writer: V1 data
//     pages, PLAIN or dictionary encodings, timestamps as INT64
//     TIMESTAMP(MICROS, UTC), lists in the standard 3-level layout, row groups
//     flushed to the io.Writer when they reach WriterOptions.RowGroupBytes.
//   - [NewDeadLetterWriter] writes messages that failed to decode, with the
//     error, as Parquet rows.
//   - [CreateTableDDL] and [AddPartitionDDL] produce the Hive statements for a
//     table over the landed files.
//
// The Parquet library is github.com/parquet-go/parquet-go: rows are
// shredded (Dremel levels) straight into parquet-go's column writers, with
// no intermediate Arrow batches. The end-to-end benchmark in
// formats/libbench (the same JSON events parsed with fastjson, 10 columns,
// snappy, one core) measured parquet-go ahead of arrow-go's pqarrow in both
// records per CPU-second and bytes per record (numbers: the README's
// table). parquet-go is also already a dependency and gives direct control
// of levels, encodings and row-group flushing.
//
// Speed is measured by BenchmarkJSONToParquet (10-field activity event plus
// the four metadata columns, snappy, decode included, GOMAXPROCS=1); its
// figures live in the README's table only. Flat objects of plain ASCII take a one-pass strict scanner
// (json_fast.go); everything else goes through fastjson and its validator.
package formats
