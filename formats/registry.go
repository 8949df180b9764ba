package formats

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

const defaultRegistryTimeout = 30 * time.Second

// registryClient fetches schemas from a Confluent Schema Registry by id
// (GET /schemas/ids/{id}).
type registryClient struct {
	base string
	http *http.Client
}

// schema returns the Avro schema text of id. A 404 (or registry error
// 40403) wraps ErrUnknownSchemaID; anything else that goes wrong wraps
// ErrRegistry.
func (c *registryClient) schema(ctx context.Context, id uint32) (string, error) {
	url := fmt.Sprintf("%s/schemas/ids/%d", c.base, id)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrRegistry, err)
	}
	req.Header.Set("Accept", "application/vnd.schemaregistry.v1+json, application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("%w: GET %s: %v", ErrRegistry, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return "", fmt.Errorf("%w: GET %s: reading the answer: %v", ErrRegistry, url, err)
	}
	var answer struct {
		Schema     string `json:"schema"`
		SchemaType string `json:"schemaType"`
		ErrorCode  int    `json:"error_code"`
		Message    string `json:"message"`
	}
	_ = json.Unmarshal(body, &answer)
	switch {
	case resp.StatusCode == http.StatusNotFound:
		msg := answer.Message
		if msg == "" {
			msg = "not found"
		}
		return "", fmt.Errorf("%w %d: registry %s says %s", ErrUnknownSchemaID, id, c.base, msg)
	case resp.StatusCode != http.StatusOK:
		return "", fmt.Errorf("%w: GET %s: %s: %.200s", ErrRegistry, url, resp.Status, body)
	case answer.Schema == "":
		return "", fmt.Errorf("%w: GET %s: answer has no schema: %.200s", ErrRegistry, url, body)
	case answer.SchemaType != "" && answer.SchemaType != "AVRO":
		return "", fmt.Errorf("%w %d: registry %s holds a %s schema, not Avro", ErrUnknownSchemaID, id, c.base, answer.SchemaType)
	}
	return answer.Schema, nil
}
