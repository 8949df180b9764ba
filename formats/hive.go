package formats

import (
	"fmt"
	"strings"
)

// Table describes a Hive external table over landed Parquet files.
type Table struct {
	// Database and Name of the table; Database defaults to "default".
	Database, Name string
	// Schema is the file schema: data columns plus metadata columns (see
	// WithMetaColumns).
	Schema *Schema
	// PartitionColumns are the Hive partition columns from the folder
	// layout ("dt", "hr"), all of type STRING, in folder order.
	PartitionColumns []string
	// Location is the table's root folder URL (hdfs://..., file:/...).
	Location string
}

// PartitionValue is one partition column's value, as in the folder name
// "dt=2024-05-01".
type PartitionValue struct {
	Name, Value string
}

// ParsePartitionPath reads Hive-style folder names: "dt=2024-05-01/hr=03"
// gives [{dt 2024-05-01} {hr 03}].
func ParsePartitionPath(path string) ([]PartitionValue, error) {
	var out []PartitionValue
	for _, part := range strings.Split(strings.Trim(path, "/"), "/") {
		name, value, ok := strings.Cut(part, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("formats: partition folder %q in %q is not name=value", part, path)
		}
		out = append(out, PartitionValue{Name: name, Value: value})
	}
	return out, nil
}

// CreateTableDDL returns
//
//	CREATE EXTERNAL TABLE IF NOT EXISTS `db`.`t` (...) PARTITIONED BY (...)
//	STORED AS PARQUET LOCATION '...'
//
// with the schema's types mapped to Hive's.
func CreateTableDDL(t Table) (string, error) {
	return "", fmt.Errorf("formats: CreateTableDDL not implemented yet")
}

// AddPartitionDDL returns
//
//	ALTER TABLE `db`.`t` ADD IF NOT EXISTS PARTITION (`dt`='2024-05-01', `hr`='03') LOCATION '...'
func AddPartitionDDL(database, table string, partition []PartitionValue, location string) (string, error) {
	return "", fmt.Errorf("formats: AddPartitionDDL not implemented yet")
}
