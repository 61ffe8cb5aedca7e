package pdpclient

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// bearerCredentials sends the API key as gRPC metadata on every call.
type bearerCredentials struct {
	value          string
	requireSecured bool
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (b bearerCredentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": b.value}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (b bearerCredentials) RequireTransportSecurity() bool { return b.requireSecured }

// dialOptionList turns the configuration into gRPC dial options.
func (c *config) dialOptionList() ([]grpc.DialOption, error) {
	creds := c.creds
	switch {
	case c.insecure:
		creds = insecure.NewCredentials()
	case creds == nil:
		creds = credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
	}
	sc, err := serviceConfig(c.retry)
	if err != nil {
		return nil, err
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		// The retry policy below is authoritative: a service config from
		// the resolver (DNS TXT records) is ignored.
		grpc.WithDisableServiceConfig(),
		grpc.WithDefaultServiceConfig(sc),
	}
	if c.hasAPIKey {
		opts = append(opts, grpc.WithPerRPCCredentials(bearerCredentials{
			value:          "Bearer " + c.apiKey,
			requireSecured: !c.insecure,
		}))
	}
	return append(opts, c.dialOptions...), nil
}

// The JSON shape of the gRPC service config (gRPC A6 retry design).
type (
	jsonServiceConfig struct {
		MethodConfig    []jsonMethodConfig   `json:"methodConfig"`
		RetryThrottling *jsonRetryThrottling `json:"retryThrottling,omitempty"`
	}
	jsonMethodConfig struct {
		Name        []jsonMethodName `json:"name"`
		RetryPolicy *jsonRetryPolicy `json:"retryPolicy,omitempty"`
	}
	jsonMethodName struct {
		Service string `json:"service"`
		Method  string `json:"method"`
	}
	jsonRetryPolicy struct {
		MaxAttempts          int      `json:"maxAttempts"`
		InitialBackoff       string   `json:"initialBackoff"`
		MaxBackoff           string   `json:"maxBackoff"`
		BackoffMultiplier    float64  `json:"backoffMultiplier"`
		RetryableStatusCodes []string `json:"retryableStatusCodes"`
	}
	jsonRetryThrottling struct {
		MaxTokens  int     `json:"maxTokens"`
		TokenRatio float64 `json:"tokenRatio"`
	}
)

// serviceConfig is the default service config of the connection: Check and
// BatchCheck, both idempotent, are retried on UNAVAILABLE only. Retry
// throttling stops retrying when most calls fail, so an outage does not
// multiply the load on a struggling server.
func serviceConfig(p RetryPolicy) (string, error) {
	service := pdpv1.DecisionService_ServiceDesc.ServiceName
	mc := jsonMethodConfig{Name: []jsonMethodName{
		{Service: service, Method: "Check"},
		{Service: service, Method: "BatchCheck"},
	}}
	sc := jsonServiceConfig{}
	if p.MaxAttempts > 1 {
		mc.RetryPolicy = &jsonRetryPolicy{
			MaxAttempts:          p.MaxAttempts,
			InitialBackoff:       durationJSON(p.InitialBackoff),
			MaxBackoff:           durationJSON(p.MaxBackoff),
			BackoffMultiplier:    p.BackoffMultiplier,
			RetryableStatusCodes: []string{"UNAVAILABLE"},
		}
		sc.RetryThrottling = &jsonRetryThrottling{MaxTokens: 10, TokenRatio: 0.1}
	}
	sc.MethodConfig = []jsonMethodConfig{mc}
	b, err := json.Marshal(sc)
	return string(b), err
}

// durationJSON writes d as the protobuf JSON form of a Duration ("0.02s").
func durationJSON(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}
