// Package libbench holds the end-to-end benchmark that chose the Parquet
// library for package formats: JSON message bytes in, a snappy Parquet file
// out, for a 10-field activity event, with (a) parquet-go/parquet-go rows
// built straight from the parsed JSON and (b) arrow-go/v18 record batches
// written with pqarrow. It is a separate module so that arrow-go stays out
// of sluice's go.mod. Run:
//
//	cd formats/libbench && go test -bench . -benchmem -cpu 1
package libbench
