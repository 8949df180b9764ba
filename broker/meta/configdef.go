package meta

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// ConfigType is a config's value type; the values are Kafka's
// DescribeConfigs config_type codes.
type ConfigType int8

// Config types (Kafka's DescribeConfigsResponse ConfigType codes).
const (
	ConfigBoolean  ConfigType = 1
	ConfigString   ConfigType = 2
	ConfigInt      ConfigType = 3
	ConfigShort    ConfigType = 4
	ConfigLong     ConfigType = 5
	ConfigDouble   ConfigType = 6
	ConfigList     ConfigType = 7
	ConfigClass    ConfigType = 8
	ConfigPassword ConfigType = 9
)

func (t ConfigType) String() string {
	switch t {
	case ConfigBoolean:
		return "boolean"
	case ConfigString:
		return "string"
	case ConfigInt:
		return "int"
	case ConfigShort:
		return "short"
	case ConfigLong:
		return "long"
	case ConfigDouble:
		return "double"
	case ConfigList:
		return "list"
	case ConfigClass:
		return "class"
	case ConfigPassword:
		return "password"
	}
	return fmt.Sprintf("ConfigType(%d)", int8(t))
}

// ConfigSource says where a config value came from; the values are Kafka's
// DescribeConfigs config_source codes.
type ConfigSource int8

// Config sources (Kafka's DescribeConfigsResponse ConfigSource codes).
const (
	SourceUnknown              ConfigSource = 0
	SourceDynamicTopic         ConfigSource = 1 // DYNAMIC_TOPIC_CONFIG: the topic's override
	SourceDynamicBroker        ConfigSource = 2 // DYNAMIC_BROKER_CONFIG: AlterBrokerConfigs for this node
	SourceDynamicDefaultBroker ConfigSource = 3 // DYNAMIC_DEFAULT_BROKER_CONFIG: AlterBrokerConfigs for all nodes
	SourceStaticBroker         ConfigSource = 4 // STATIC_BROKER_CONFIG: the server's config file or flags
	SourceDefault              ConfigSource = 5 // DEFAULT_CONFIG: Kafka's default
)

func (s ConfigSource) String() string {
	switch s {
	case SourceDynamicTopic:
		return "DYNAMIC_TOPIC_CONFIG"
	case SourceDynamicBroker:
		return "DYNAMIC_BROKER_CONFIG"
	case SourceDynamicDefaultBroker:
		return "DYNAMIC_DEFAULT_BROKER_CONFIG"
	case SourceStaticBroker:
		return "STATIC_BROKER_CONFIG"
	case SourceDefault:
		return "DEFAULT_CONFIG"
	}
	return "UNKNOWN"
}

// Synonym is a broker config key that supplies a topic config's value when
// the topic has no override. The broker value times Multiplier is the topic
// value (log.retention.hours has Multiplier 3600000 for retention.ms); 0
// means 1.
type Synonym struct {
	Name       string
	Multiplier int64
}

// ConfigDef describes one config key.
type ConfigDef struct {
	Name string
	Type ConfigType
	// Default is Kafka's default in text form; "" with NoDefault means the
	// key has none (Kafka's null).
	Default   string
	NoDefault bool
	Doc       string
	Sensitive bool
	ReadOnly  bool
	// Synonyms are the broker keys that supply a topic config's value, most
	// preferred first. Empty for broker configs.
	Synonyms []Synonym
	// check validates a value already parsed as Type.
	check func(v any) error
	// valid lists the allowed values of a string or list key, for messages
	// and documentation; nil if any value of the type is allowed.
	valid []string
}

// Validate parses value as the key's type and checks its range or allowed
// values. The error wraps ErrInvalidConfig and names the key and value.
func (d *ConfigDef) Validate(value string) error {
	_, err := d.Parse(value)
	return err
}

// Parse returns value as the key's Go type: int64 for int, short and long;
// float64 for double; bool for boolean; []string for list; string otherwise.
// The error wraps ErrInvalidConfig and names the key and value.
func (d *ConfigDef) Parse(value string) (any, error) {
	v, err := parseConfigValue(d.Type, value)
	if err == nil && d.check != nil {
		err = d.check(v)
	}
	if err != nil {
		return nil, invalid(ErrInvalidConfig, "invalid value %q for configuration %s: %v", value, d.Name, err)
	}
	return v, nil
}

// ValidValues lists the allowed values of an enumerated string or list key,
// nil otherwise.
func (d *ConfigDef) ValidValues() []string { return slices.Clone(d.valid) }

func parseConfigValue(t ConfigType, s string) (any, error) {
	s = strings.TrimSpace(s)
	switch t {
	case ConfigBoolean:
		switch strings.ToLower(s) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("expected true or false")
	case ConfigShort:
		n, err := strconv.ParseInt(s, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("expected a 16-bit integer")
		}
		return n, nil
	case ConfigInt:
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("expected a 32-bit integer")
		}
		return n, nil
	case ConfigLong:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("expected a 64-bit integer")
		}
		return n, nil
	case ConfigDouble:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("expected a number")
		}
		return f, nil
	case ConfigList:
		if s == "" {
			return []string{}, nil
		}
		parts := strings.Split(s, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
			if parts[i] == "" {
				return nil, fmt.Errorf("list has an empty element")
			}
		}
		return parts, nil
	default:
		return s, nil
	}
}

// formatConfigValue is the canonical text form of a parsed value.
func formatConfigValue(v any) string {
	switch v := v.(type) {
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case []string:
		return strings.Join(v, ",")
	case string:
		return v
	}
	return fmt.Sprint(v)
}

// atLeast checks a number is >= min.
func atLeast(min int64) func(any) error {
	return between(min, math.MaxInt64)
}

// between checks a number is within [min, max].
func between(min, max int64) func(any) error {
	return func(v any) error {
		n := v.(int64)
		if n < min || n > max {
			if max == math.MaxInt64 {
				return fmt.Errorf("must be at least %d", min)
			}
			return fmt.Errorf("must be between %d and %d", min, max)
		}
		return nil
	}
}

// ratio checks a double is within [0, 1].
func ratio(v any) error {
	f := v.(float64)
	if f < 0 || f > 1 {
		return fmt.Errorf("must be between 0 and 1")
	}
	return nil
}

// oneOf checks a string is one of valid.
func oneOf(valid ...string) func(any) error {
	return func(v any) error {
		if !slices.Contains(valid, v.(string)) {
			return fmt.Errorf("must be one of %s", strings.Join(valid, ", "))
		}
		return nil
	}
}

// listOf checks every element of a list is in valid. As in Kafka 4, the
// list may be empty and may repeat an element.
func listOf(valid ...string) func(any) error {
	return func(v any) error {
		for _, e := range v.([]string) {
			if !slices.Contains(valid, e) {
				return fmt.Errorf("%q is not one of %s", e, strings.Join(valid, ", "))
			}
		}
		return nil
	}
}
