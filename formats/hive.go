package formats

import (
	"fmt"
	"strconv"
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

// PartitionValues splits a published folder into Hive partition columns:
// name=value components keep their name, others are named part<i> (a
// layout need not be Hive-style). ParsePartitionPath is the strict reader.
func PartitionValues(dir string) []PartitionValue {
	var out []PartitionValue
	for i, c := range strings.Split(dir, "/") {
		if name, value, ok := strings.Cut(c, "="); ok && name != "" {
			out = append(out, PartitionValue{Name: name, Value: value})
		} else {
			out = append(out, PartitionValue{Name: "part" + strconv.Itoa(i), Value: c})
		}
	}
	return out
}

// AddColumnsDDL returns (with a trailing semicolon and newline)
//
//	ALTER TABLE `db`.`t` ADD COLUMNS (`c` T, ...);
//
// for the columns of cols whose quoted name the DDL in existing does not
// mention yet, or "" if there are none (schema evolution appends it to a
// table's DDL file).
func AddColumnsDDL(existing, database, table string, cols []Field) (string, error) {
	var defs []string
	for _, f := range cols {
		if strings.Contains(existing, quoteIdent(f.Name)) {
			continue
		}
		typ, err := HiveType(f.Type)
		if err != nil {
			return "", fmt.Errorf("column %s: %w", f.Name, err)
		}
		defs = append(defs, quoteIdent(f.Name)+" "+typ)
	}
	if len(defs) == 0 {
		return "", nil
	}
	return fmt.Sprintf("ALTER TABLE %s ADD COLUMNS (%s);\n", tableName(database, table), strings.Join(defs, ", ")), nil
}

// CreateTableDDL returns (without a trailing semicolon)
//
//	CREATE EXTERNAL TABLE IF NOT EXISTS `db`.`t` (
//	  `user_id` BIGINT,
//	  ...
//	)
//	PARTITIONED BY (`dt` STRING, `hr` STRING)
//	STORED AS PARQUET
//	LOCATION 'hdfs://...'
//
// with the schema's types mapped to Hive's (int32 INT, int64 BIGINT,
// timestamp TIMESTAMP, decimal(p,s) DECIMAL(p,s), list<T> ARRAY<T>,
// map<string,T> MAP<STRING,T>, struct STRUCT<`name`:T,...>). Every
// identifier is backquoted, so reserved words and odd characters are safe.
// Names that differ only in case collide in Hive and are an error.
func CreateTableDDL(t Table) (string, error) {
	if t.Name == "" {
		return "", fmt.Errorf("formats: hive table needs a name")
	}
	if t.Schema == nil || len(t.Schema.Fields) == 0 {
		return "", fmt.Errorf("formats: hive table %s needs at least one column", t.Name)
	}
	if t.Location == "" {
		return "", fmt.Errorf("formats: hive table %s needs a location", t.Name)
	}
	seen := map[string]string{}
	claim := func(name, what string) error {
		if name == "" {
			return fmt.Errorf("formats: hive table %s: empty %s name", t.Name, what)
		}
		k := strings.ToLower(name)
		if prev, ok := seen[k]; ok {
			return fmt.Errorf("formats: hive table %s: %s %q collides with %q (Hive names are case-insensitive)", t.Name, what, name, prev)
		}
		seen[k] = name
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE EXTERNAL TABLE IF NOT EXISTS %s (\n", tableName(t.Database, t.Name))
	for i, f := range t.Schema.Fields {
		if err := claim(f.Name, "column"); err != nil {
			return "", err
		}
		ht, err := HiveType(f.Type)
		if err != nil {
			return "", fmt.Errorf("formats: hive table %s: column %s: %w", t.Name, f.Name, err)
		}
		sep := ","
		if i == len(t.Schema.Fields)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "  %s %s%s\n", quoteIdent(f.Name), ht, sep)
	}
	b.WriteString(")\n")
	if len(t.PartitionColumns) > 0 {
		b.WriteString("PARTITIONED BY (")
		for i, p := range t.PartitionColumns {
			if err := claim(p, "partition column"); err != nil {
				return "", err
			}
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(quoteIdent(p) + " STRING")
		}
		b.WriteString(")\n")
	}
	b.WriteString("STORED AS PARQUET\n")
	b.WriteString("LOCATION " + quoteString(t.Location))
	return b.String(), nil
}

// AddPartitionDDL returns (without a trailing semicolon)
//
//	ALTER TABLE `db`.`t` ADD IF NOT EXISTS PARTITION (`dt`='2024-05-01', `hr`='03') LOCATION '...'
func AddPartitionDDL(database, table string, partition []PartitionValue, location string) (string, error) {
	if table == "" || len(partition) == 0 || location == "" {
		return "", fmt.Errorf("formats: ADD PARTITION needs a table, partition values and a location")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ALTER TABLE %s ADD IF NOT EXISTS PARTITION (", tableName(database, table))
	for i, p := range partition {
		if p.Name == "" {
			return "", fmt.Errorf("formats: ADD PARTITION: empty partition column name")
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteIdent(p.Name) + "=" + quoteString(p.Value))
	}
	b.WriteString(") LOCATION " + quoteString(location))
	return b.String(), nil
}

// HiveType renders t as a Hive column type.
func HiveType(t *Type) (string, error) {
	switch t.Kind {
	case KindBoolean:
		return "BOOLEAN", nil
	case KindInt32:
		return "INT", nil
	case KindInt64:
		return "BIGINT", nil
	case KindFloat:
		return "FLOAT", nil
	case KindDouble:
		return "DOUBLE", nil
	case KindString:
		return "STRING", nil
	case KindBinary:
		return "BINARY", nil
	case KindDate:
		return "DATE", nil
	case KindTimestamp:
		return "TIMESTAMP", nil
	case KindDecimal:
		return fmt.Sprintf("DECIMAL(%d,%d)", t.Precision, t.Scale), nil
	case KindList:
		e, err := HiveType(t.Elem)
		if err != nil {
			return "", err
		}
		return "ARRAY<" + e + ">", nil
	case KindMap:
		e, err := HiveType(t.Elem)
		if err != nil {
			return "", err
		}
		return "MAP<STRING," + e + ">", nil
	case KindStruct:
		parts := make([]string, len(t.Fields))
		for i, f := range t.Fields {
			e, err := HiveType(f.Type)
			if err != nil {
				return "", err
			}
			parts[i] = quoteIdent(f.Name) + ":" + e
		}
		return "STRUCT<" + strings.Join(parts, ",") + ">", nil
	}
	return "", fmt.Errorf("no Hive type for %s", t)
}

func tableName(db, table string) string {
	if db == "" {
		db = "default"
	}
	return quoteIdent(db) + "." + quoteIdent(table)
}

// quoteIdent backquotes a Hive identifier (a backquote inside is doubled).
func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// quoteString renders a Hive string literal in single quotes.
func quoteString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`, "\r", `\r`)
	return "'" + r.Replace(s) + "'"
}
