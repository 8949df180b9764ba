package broker

// ApiVersions, key 18: versions 0-4.
//
// An unknown version gets a v0 response with UNSUPPORTED_VERSION and the
// supported ranges (KIP-511), written by conn.writeUnsupported.

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleAPIVersions(_ context.Context, _ *conn, req *request) kmsg.Response {
	return apiVersionsResponse(req.version)
}

func apiVersionsResponse(version int16) *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(version)
	keys := make([]*api, 0, len(apis))
	for i := range apis {
		keys = append(keys, &apis[i])
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].key < keys[j].key })
	for _, a := range keys {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = int16(a.key), a.min, a.max
		resp.ApiKeys = append(resp.ApiKeys, k)
	}
	return resp
}
