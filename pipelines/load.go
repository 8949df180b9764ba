package pipelines

import (
	"fmt"
	"os"
)

// Load reads, parses, defaults and validates the pipeline file at path.
// Problems are returned as Errors.
func Load(path string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pipelines: %w", err)
	}
	return LoadBytes(path, b)
}

// LoadBytes is Load for a file already in memory; name is used in error
// positions.
func LoadBytes(name string, b []byte) (*Spec, error) {
	return nil, fmt.Errorf("pipelines: %s: not implemented yet", name)
}
